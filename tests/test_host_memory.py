"""`keep_freed_memory`: XLA-CPU temporaries above glibc's mmap threshold stop being page-faulted in on every call
(counted with getrusage in fresh processes; a count, not a timing)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent(
    """
    import resource
    import aejax  # applies keep_freed_memory() before it imports JAX
    import jax
    applied = aejax.keep_freed_memory()
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


def _faults_per_call(setting: str) -> tuple[bool, float]:
    env = {**os.environ, "AEJAX_KEEP_FREED_MEMORY": setting, "XLA_FLAGS": ""}
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, check=True, timeout=300
    ).stdout.split()
    return out[-2] == "True", float(out[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt: Linux only")
def test_freed_temporaries_are_reused_instead_of_faulted_in_again():
    applied, kept = _faults_per_call("1")
    if not applied:
        pytest.skip("this Linux's C library has no mallopt (not glibc)")
    off, default = _faults_per_call("0")
    assert not off
    # ~100 MiB of fresh pages per step is over 20,000 faults. With the settings most processes fault 0 pages per
    # step; some keep faulting in part of the block (2,300-12,400 per step seen, when the main heap fragments)
    assert default > 10_000 and kept < 0.6 * default, (kept, default)


def test_turned_off_changes_nothing(monkeypatch):
    from aejax import host_memory

    monkeypatch.setattr(host_memory, "_applied", False)
    monkeypatch.setenv("AEJAX_KEEP_FREED_MEMORY", "0")
    assert host_memory.keep_freed_memory() is False and host_memory._applied is False
