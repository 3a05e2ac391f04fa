"""`keep_freed_memory`: XLA-CPU temporaries above glibc's mmap threshold stop being page-faulted in on every call
(counted with getrusage in fresh processes; a count, not a timing). It is applied all or nothing, by the CLI
before JAX is imported or by an explicit call, never by `import aejax`."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import textwrap

import pytest
from conftest import REPO

import aejax
from aejax import host_memory

LINUX_ONLY = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt: Linux only")

SCRIPT = textwrap.dedent(
    """
    import resource
    import aejax
    applied = aejax.keep_freed_memory()  # before JAX is imported, so that every XLA thread allocates afterwards
    import jax
    from aejax import bench
    from aejax.training import make_train_step

    # the conv autoencoder's plain step at batch 128: temporaries over glibc's 32 MiB mmap threshold
    model, objective, schedule, state, shape = bench._state_and_objective("conv_28x28_32-64_16")
    step = jax.jit(make_train_step(model, objective, schedule))
    batch = {"x": bench._device_batches(shape, 128, 1)[0]}
    f = lambda x: step(state, x)[1]["loss"]
    x = batch
    for _ in range(6):  # the heap settles in the first steps
        jax.block_until_ready(f(x))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(10):
        jax.block_until_ready(f(x))
    print(applied, (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 10)
    """
)


def _run(script: str, **env: str) -> list[str]:
    """The last line a fresh Python process prints, split."""
    out = subprocess.run(
        [sys.executable, "-c", script],
        env={**os.environ, **env},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.splitlines()[-1].split()


def _faults_per_call(setting: str) -> tuple[bool, float]:
    applied, faults = _run(SCRIPT, AEJAX_KEEP_FREED_MEMORY=setting, AEJAX_SINGLE_ARENA="1", XLA_FLAGS="")
    return applied == "True", float(faults)


@LINUX_ONLY
def test_freed_temporaries_are_reused_instead_of_faulted_in_again():
    applied, kept = _faults_per_call("1")
    if not applied:
        pytest.skip("this Linux's C library has no mallopt (not glibc)")
    off, default = _faults_per_call("0")
    assert not off
    # ~100 MiB of fresh pages per step is over 20,000 faults. With the settings most processes fault 0 pages per
    # step; some keep faulting in part of the block (2,300-12,400 per step seen, when the main heap fragments)
    assert default > 10_000 and kept < 0.6 * default, (kept, default)


# glibc's count of blocks it serves by mmap (mallinfo2, glibc >= 2.33; mallinfo's int fields before), around one
# 64 MiB malloc: 1 with glibc's defaults, 0 once keep_freed_memory serves every block from the heap.
MMAPPED_BLOCKS = textwrap.dedent(
    """
    import ctypes

    libc = ctypes.CDLL(None)
    size_t = ctypes.c_size_t if hasattr(libc, "mallinfo2") else ctypes.c_int
    class Info(ctypes.Structure):
        _fields_ = [(name, size_t) for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                "fsmblks", "uordblks", "fordblks", "keepcost")]
    mallinfo = libc.mallinfo2 if hasattr(libc, "mallinfo2") else libc.mallinfo
    mallinfo.restype = Info
    libc.malloc.restype, libc.malloc.argtypes, libc.free.argtypes = ctypes.c_void_p, [ctypes.c_size_t], [ctypes.c_void_p]

    def mmapped_blocks():
        before = mallinfo().hblks
        block = libc.malloc(64 << 20)
        during = mallinfo().hblks
        libc.free(block)
        return during - before
    """
)


@LINUX_ONLY
def test_import_aejax_leaves_the_allocator_alone():
    script = MMAPPED_BLOCKS + textwrap.dedent(
        """
        import sys
        import aejax
        import aejax.cli
        untouched = mmapped_blocks()
        jax_imported = "jax" in sys.modules
        applied = aejax.keep_freed_memory()
        print(jax_imported, untouched, applied, mmapped_blocks())
        """
    )
    jax_imported, untouched, applied, kept = _run(script, AEJAX_KEEP_FREED_MEMORY="1")
    assert jax_imported == "False"  # so a caller (the CLI) can apply it before JAX starts its threads
    if applied == "False":
        pytest.skip("this Linux's C library has no mallopt (not glibc)")
    assert (untouched, kept) == ("1", "0")


SPY = textwrap.dedent(
    """
    import sys
    from aejax import cli, host_memory

    calls = []
    apply = host_memory.keep_freed_memory
    def spy():
        calls.append("jax" in sys.modules)  # whether JAX was imported before the call
        return apply()
    host_memory.keep_freed_memory = spy
    assert cli.main([*ARGS, "info", "--workdir", "no-such-workdir"]) == 2
    print(calls, host_memory._applied)
    """
)


@LINUX_ONLY
@pytest.mark.parametrize(
    ("args", "env", "calls"),
    [
        ([], {}, "[False]"),  # applied first thing, before JAX is imported
        (["--no-keep-freed-memory"], {}, "[]"),
        ([], {"AEJAX_KEEP_FREED_MEMORY": "0"}, "[False]"),  # called, and turned off
        ([], {"JAX_PLATFORMS": "cuda,cpu"}, "[]"),  # computing on a GPU: glibc's defaults
    ],
    ids=["cpu", "flag", "env", "gpu"],
)
def test_cli_applies_it_before_jax_on_cpu_unless_told_not_to(args, env, calls):
    script = SPY.replace("ARGS", repr(args))
    seen, applied = _run(script, **{"JAX_PLATFORMS": "cpu", "AEJAX_KEEP_FREED_MEMORY": "1", **env})
    assert seen == calls
    if calls == "[False]" and not env:
        assert applied == "True" or host_memory._glibc_mallopt() is None
    else:
        assert applied == "False"


@pytest.mark.parametrize("failing", [param for param, _ in host_memory.SETTINGS])
def test_a_failing_setting_sets_the_applied_ones_back(monkeypatch, failing):
    calls = []

    def mallopt(param: int, value: int) -> int:
        calls.append((param, value))
        return 0 if param == failing else 1

    monkeypatch.setattr(host_memory, "_applied", False)
    monkeypatch.setenv("AEJAX_KEEP_FREED_MEMORY", "1")
    monkeypatch.setattr(host_memory, "_glibc_mallopt", lambda: mallopt)
    assert host_memory.keep_freed_memory() is False and host_memory._applied is False
    params = [param for param, _ in host_memory.SETTINGS]
    applied = host_memory.SETTINGS[: params.index(failing) + 1]
    restored = [(param, host_memory.GLIBC_DEFAULTS[param]) for param, _ in reversed(applied[:-1])]
    assert calls == [*applied, *restored]
    assert restored or failing == host_memory.M_MMAP_MAX


def test_all_settings_applied_once(monkeypatch):
    calls = []
    monkeypatch.setattr(host_memory, "_applied", False)
    monkeypatch.setenv("AEJAX_KEEP_FREED_MEMORY", "1")
    monkeypatch.setattr(host_memory, "_glibc_mallopt", lambda: lambda *setting: calls.append(setting) or 1)
    assert host_memory.keep_freed_memory() is True and host_memory.keep_freed_memory() is True
    assert calls == list(host_memory.SETTINGS)


def test_single_arena_is_applied_last_and_only_when_asked(monkeypatch):
    for asked, expected in (
        ("1", [*host_memory.SETTINGS, host_memory.SINGLE_ARENA]),
        ("0", [*host_memory.SETTINGS]),
    ):
        calls = []
        monkeypatch.setattr(host_memory, "_applied", False)
        monkeypatch.setenv("AEJAX_KEEP_FREED_MEMORY", "1")
        monkeypatch.setenv("AEJAX_SINGLE_ARENA", asked)
        monkeypatch.setattr(
            host_memory, "_glibc_mallopt", lambda seen=calls: lambda *setting: seen.append(setting) or 1
        )
        assert host_memory.keep_freed_memory() is True
        assert calls == expected


def test_turned_off_changes_nothing(monkeypatch):
    monkeypatch.setattr(host_memory, "_applied", False)
    monkeypatch.setenv("AEJAX_KEEP_FREED_MEMORY", "0")
    monkeypatch.setattr(
        host_memory, "_glibc_mallopt", lambda: pytest.fail("mallopt looked up though turned off")
    )
    assert host_memory.keep_freed_memory() is False and host_memory._applied is False


@pytest.mark.parametrize(
    ("platforms", "on_cpu"), [("cpu", True), ("cpu,cuda", True), ("cuda", False), ("tpu,cpu", False)]
)
def test_computes_on_cpu_reads_jax_platforms(monkeypatch, platforms, on_cpu):
    monkeypatch.setenv("JAX_PLATFORMS", platforms)
    assert host_memory.computes_on_cpu() is on_cpu


# --------------------------------------------------------------------------- the lazy front door


def test_public_names_resolve_lazily_and_agree_with_the_type_checking_imports():
    tree = ast.parse((REPO / "aejax" / "__init__.py").read_text())
    block = next(
        node for node in tree.body if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
    )
    imported = {
        alias.name: node.module if node.module != "aejax" else f"aejax.{alias.name}"
        for node in block.body
        for alias in node.names
    }
    assert imported == {**aejax._EXPORTS, **{name: f"aejax.{name}" for name in aejax._SUBMODULES}}
    assert sorted(aejax.__all__) == sorted(imported)
    for name in aejax.__all__:
        assert getattr(aejax, name) is not None
    assert set(aejax.__all__) <= set(dir(aejax))
    with pytest.raises(AttributeError, match="no attribute 'fitt'"):
        aejax.fitt  # noqa: B018


def test_sweep_stays_the_function_when_its_module_is_imported():
    import aejax.sweep as by_import_statement
    from aejax.sweep import sweep

    assert aejax.sweep is sweep and by_import_statement is sweep and callable(aejax.sweep)
    assert sys.modules["aejax.sweep"].sweep is sweep
