"""Fault injection (issue 23, part 4): disk-full / read-only writes and damaged run files give named errors,
the newest complete checkpoint still restores, and nothing half-written is left as if complete.

Faults are injected by patching the write path at chosen points (no root needed): Python's open / fsync /
replace / write, and inside Orbax its array write, its JSON write and its final rename. One test makes the real
C++ write path (tensorstore) fail through a file-size limit in a subprocess; one uses a chmod read-only
directory and is skipped as root, where permissions do not block writes.
"""

import errno
import json
import os
import re
import subprocess
import sys
import textwrap

import jax
import numpy as np
import optax
import pytest
from orbax.checkpoint._src.handlers import json_checkpoint_handler
from orbax.checkpoint._src.path import async_path
from orbax.checkpoint._src.serialization import serialization

import aejax
import aejax.fitting
from aejax import config as config_lib
from aejax.families import build_model
from aejax.models import ModelSpec
from aejax.training import Checkpointer, MetricsLog, create_train_state
from aejax.training import metrics_log as metrics_log_module
from aejax.training.checkpoint import CheckpointWriteError
from aejax.training.metrics_log import write_atomic
from aejax.training.run_files import RunFileError, WorkdirWriteError, check_workdir_writable

ENOSPC = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
EROFS = OSError(errno.EROFS, os.strerror(errno.EROFS))


def _raise(error):
    def fail(*args, **kwargs):
        raise error

    return fail


def _tmp_files(directory):
    return sorted(p.name for p in directory.rglob("*") if "tmp" in p.name)


# ------------------------------------------------------------------------------------------ damaged run files
def _workdir_with_config(tmp_path, text):
    (tmp_path / "config.json").write_text(text)
    (tmp_path / "run.json").write_text(
        json.dumps({"input_shape": [16], "display_shape": [16], "total_steps": 1})
    )
    return tmp_path


@pytest.mark.parametrize(
    "damage, found",
    [
        (lambda text: text[: len(text) // 2], r"line \d+ column \d+"),  # cut short
        (lambda text: text.replace('"model"', '"model" 7', 1), r"line \d+ column \d+: Expecting ':'"),
        (lambda text: "[1, 2]", "holds a JSON list"),
        (lambda text: "", r"line 1 column 1: Expecting value"),
    ],
    ids=["cut-short", "bad-token", "not-an-object", "empty"],
)
def test_a_damaged_config_json_is_a_named_error(tiny_config, tmp_path, damage, found):
    workdir = _workdir_with_config(tmp_path, damage(config_lib.to_json(tiny_config)))
    path = workdir / "config.json"
    with pytest.raises(
        RunFileError, match=f"{re.escape(str(path))}' {found}.*expected one JSON object.*new workdir"
    ):
        config_lib.read_config_file(path)
    with pytest.raises(
        RunFileError, match=f"{re.escape(str(path))}'.*expected one JSON object of config keys"
    ):
        aejax.load(workdir)


@pytest.mark.parametrize("name", ["run.json", "results.json"])
def test_a_damaged_run_or_results_json_is_a_named_error_on_load(small_run, tmp_path, name):
    config, data = small_run
    aejax.fit(config, data=data, workdir=tmp_path)
    path = tmp_path / name
    path.write_text(path.read_text()[:-9])
    with pytest.raises(RunFileError, match=f"{re.escape(str(path))}' line \\d+ column \\d+.*new workdir"):
        aejax.load(tmp_path)


def test_binary_garbage_in_config_json_is_a_named_error(tmp_path):
    path = tmp_path / "config.json"
    path.write_bytes(b'{"seed": 0, \xff\xfe}')
    with pytest.raises(RunFileError, match=f"{re.escape(str(path))}' is not text.*restore it from a copy"):
        config_lib.read_config_file(path)


def _log_with(tmp_path, content: bytes):
    path = tmp_path / "metrics.jsonl"
    path.write_bytes(content)
    return MetricsLog(path)


GOOD = b'{"split": "train", "step": 1}\n{"split": "train", "step": 2}\n'


def test_a_partial_last_metrics_line_is_skipped_and_dropped_by_the_next_append(tmp_path):
    log = _log_with(tmp_path, GOOD + b'{"split": "tra')  # a kill mid-append
    assert [r["step"] for r in log.read()] == [1, 2]
    log.append({"split": "train", "step": 3})
    assert log.path.read_bytes() == GOOD + b'{"split": "train", "step": 3}\n'


@pytest.mark.parametrize(
    "line, found",
    [
        (b'{"split": "tra', r"line 2 column \d+ is damaged \(Unterminated string"),
        (b'{"split": "train", "step": 2}{"split"', r"line 2 column \d+ is damaged \(Extra data"),
        (b"\x00\x00\x00", r"line 2 column 1 is damaged"),
        (b"[1, 2]", "line 2 holds a JSON list"),
    ],
    ids=["cut-short", "two-joined", "zeros", "not-an-object"],
)
def test_a_damaged_metrics_line_before_the_last_is_a_named_error(tmp_path, line, found):
    log = _log_with(
        tmp_path, b'{"split": "train", "step": 1}\n' + line + b'\n{"split": "train", "step": 3}\n'
    )
    message = f"{re.escape(str(log.path))}' {found}.*only the last line may be cut short.*delete line 2"
    with pytest.raises(RunFileError, match=message):
        log.read()
    with pytest.raises(RunFileError, match="line 2"):
        log.truncate_after(3)  # a resume reads the log too


# ---------------------------------------------------------------------------------------- whole-file writes
@pytest.mark.parametrize(
    "where, error, said",
    [
        ("open", EROFS, "the file system is read-only"),
        ("fsync", ENOSPC, "the disk is full"),
        ("replace", EROFS, "the file system is read-only"),
    ],
)
def test_write_atomic_fault_keeps_the_old_file_and_leaves_no_tmp(tmp_path, monkeypatch, where, error, said):
    path = tmp_path / "results.json"
    path.write_text("old\n")
    if where == "open":
        monkeypatch.setattr(metrics_log_module, "open", _raise(error), raising=False)
    else:
        monkeypatch.setattr(os, where, _raise(error))
    with pytest.raises(
        WorkdirWriteError, match=f"could not write '{path}': {said}.*run the same command"
    ) as info:
        write_atomic(path, "new\n")
    monkeypatch.undo()
    assert info.value.errno == error.errno
    assert path.read_text() == "old\n" and sorted(p.name for p in tmp_path.iterdir()) == ["results.json"]


def test_write_atomic_passes_other_errors_through_and_still_cleans_up(tmp_path, monkeypatch):
    path = tmp_path / "results.json"
    monkeypatch.setattr(os, "fsync", _raise(OSError(errno.EIO, "I/O error")))
    with pytest.raises(OSError, match="I/O error") as info:
        write_atomic(path, "new\n")
    monkeypatch.undo()
    assert not isinstance(info.value, WorkdirWriteError) and list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------------------- metrics appends
def test_metrics_append_failing_mid_line_leaves_whole_lines(tmp_path, monkeypatch):
    log = _log_with(tmp_path, GOOD)
    real_write = os.write

    def half_then_full(fd, data):
        real_write(fd, bytes(data[: len(data) // 2]))
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with monkeypatch.context() as patched:
        patched.setattr(os, "write", half_then_full)
        with pytest.raises(
            WorkdirWriteError, match=f"could not write '{log.path}': the disk is full"
        ) as info:
            log.append({"split": "train", "step": 3})
    assert info.value.errno == errno.ENOSPC
    assert log.path.read_bytes() == GOOD  # truncated back: no half line to read as damage later
    log.append({"split": "train", "step": 3})
    assert [r["step"] for r in log.read()] == [1, 2, 3]


def test_metrics_append_on_a_read_only_disk_is_a_named_error(tmp_path, monkeypatch):
    log = _log_with(tmp_path, GOOD)
    monkeypatch.setattr(os, "open", _raise(EROFS))
    with pytest.raises(WorkdirWriteError, match="the file system is read-only") as info:
        log.append({"split": "train", "step": 3})
    monkeypatch.undo()
    assert info.value.errno == errno.EROFS and log.path.read_bytes() == GOOD


# ----------------------------------------------------------------------------------------------- checkpoints
def _state(step=None, seed=0):
    model = build_model(ModelSpec(latent_dim=2, hidden=(8,)), (6,))
    state = create_train_state(model, optax.adam(1e-3), (6,), seed)
    return state if step is None else state.replace(step=np.int32(step))


def _fail_step(step, error):
    """A stand-in for an Orbax write function that raises `error` when it writes into `step`'s directory."""

    def patch(original):
        marker = f"{step}.orbax-checkpoint-tmp"

        async def failing(*args, **kwargs):
            if marker in str(args) + str(kwargs):
                raise error
            return await original(*args, **kwargs)

        return failing

    return patch


# (module, attribute): Orbax's array write (tensorstore, in the background), the meta JSON, the final rename.
INJECTION_POINTS = {
    "array-data": (serialization, "async_serialize_from_host", ENOSPC),
    "meta-json": (json_checkpoint_handler.JsonCheckpointHandler, "_save_fn", ENOSPC),
    "final-rename": (async_path, "rename", EROFS),
}
SAID = {
    errno.ENOSPC: r"the disk is full \(No space left on device\)",
    errno.EROFS: "the file system is read-only",
}


@pytest.mark.parametrize("point", INJECTION_POINTS)
def test_a_failed_checkpoint_save_is_named_and_the_newest_complete_step_restores(
    tmp_path, monkeypatch, point
):
    owner, name, error = INJECTION_POINTS[point]
    checkpointer = Checkpointer(tmp_path, max_to_keep=3)
    checkpointer.save(_state(1), {"at": 1})
    checkpointer.wait()
    monkeypatch.setattr(owner, name, _fail_step(2, error)(getattr(owner, name)))
    checkpointer.save(_state(2), {"at": 2})  # asynchronous: the failure surfaces at the next wait
    message = (
        rf"checkpoint step 2 could not be written to '{re.escape(str(tmp_path))}' and its partial files are "
    )
    message += rf"removed; the newest complete checkpoint, step 1, is kept .*Cause: {SAID[error.errno]}"
    with pytest.raises(CheckpointWriteError, match=message) as info:
        checkpointer.wait()
    assert info.value.errno == error.errno and isinstance(info.value, WorkdirWriteError)
    assert checkpointer.latest_step() == 1 and sorted(p.name for p in tmp_path.iterdir()) == ["1"]
    monkeypatch.undo()
    checkpointer.save(_state(3), {"at": 3})  # the disk has room again: saving goes on
    checkpointer.close()
    with Checkpointer(tmp_path) as reopened:
        assert reopened.all_steps() == [1, 3]
        restored, meta = reopened.restore(_state(seed=1), step=1)
    assert int(restored.step) == 1 and meta == {"at": 1}
    for a, b in zip(jax.tree.leaves(restored.params), jax.tree.leaves(_state().params), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_a_failed_save_surfaces_at_the_next_save_naming_the_failed_step(tmp_path, monkeypatch):
    checkpointer = Checkpointer(tmp_path)
    checkpointer.save(_state(1), {})
    checkpointer.wait()
    monkeypatch.setattr(async_path, "rename", _fail_step(2, ENOSPC)(async_path.rename))
    checkpointer.save(_state(2), {})
    with pytest.raises(
        CheckpointWriteError,
        match=r"step 2 could not be written.*newest complete checkpoint, step 1, is kept",
    ):
        checkpointer.save(_state(3), {})
    checkpointer.close()  # the error was reported once; closing is clean
    assert sorted(p.name for p in tmp_path.iterdir()) == ["1"]


def test_the_first_save_failing_says_there_is_no_complete_checkpoint(tmp_path, monkeypatch):
    monkeypatch.setattr(async_path, "rename", _fail_step(5, EROFS)(async_path.rename))
    checkpointer = Checkpointer(tmp_path)
    checkpointer.save(_state(5), {})
    with pytest.raises(
        CheckpointWriteError, match=r"step 5 .*no complete checkpoint yet, so a rerun starts from step 0"
    ):
        checkpointer.close()
    assert list(tmp_path.iterdir()) == []


REAL_WRITE_FAULT = """
import resource, signal, sys
import numpy as np, optax
from aejax.families import build_model
from aejax.models import ModelSpec
from aejax.training import Checkpointer, create_train_state
from aejax.training.checkpoint import CheckpointWriteError

def state(step):
    model = build_model(ModelSpec(latent_dim=2, hidden=(64,)), (32,))
    return create_train_state(model, optax.adam(1e-3), (32,), 0).replace(step=np.int32(step))

checkpointer = Checkpointer(sys.argv[1])
checkpointer.save(state(1), {})
checkpointer.wait()
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit then fails with EFBIG
resource.setrlimit(resource.RLIMIT_FSIZE, (1000, resource.RLIM_INFINITY))
try:
    checkpointer.save(state(2), {})
    checkpointer.wait()
except CheckpointWriteError as err:
    print("ERRNO", err.errno, "LATEST", checkpointer.latest_step(), "MESSAGE", err)
"""


@pytest.mark.slow  # ~15 s: a subprocess imports JAX and Orbax
@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_FSIZE behaviour checked on Linux")
def test_a_real_tensorstore_write_failure_is_named(tmp_path):
    """The real C++ write path: a file-size limit makes tensorstore's own writes fail (EFBIG), no root needed."""
    script = tmp_path / "fault.py"
    script.write_text(textwrap.dedent(REAL_WRITE_FAULT))
    directory = tmp_path / "checkpoints"
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    done = subprocess.run(
        [sys.executable, str(script), str(directory)], capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"ERRNO {errno.EFBIG} LATEST 1 MESSAGE [Errno {errno.EFBIG}] checkpoint step 2" in done.stdout
    assert "the file grew past the size limit" in done.stdout
    assert sorted(p.name for p in directory.iterdir()) == ["1"]
    with Checkpointer(directory) as reopened:
        model = build_model(ModelSpec(latent_dim=2, hidden=(64,)), (32,))
        restored, _ = reopened.restore(create_train_state(model, optax.adam(1e-3), (32,), 1))
    assert int(restored.step) == 1


@pytest.mark.skipif(os.geteuid() == 0, reason="as root, a read-only mode does not stop writes")
def test_a_read_only_checkpoint_directory_is_named(tmp_path):
    checkpointer = Checkpointer(tmp_path)
    checkpointer.save(_state(1), {})
    checkpointer.wait()
    tmp_path.chmod(0o555)
    try:
        with pytest.raises(CheckpointWriteError, match=r"step 2 could not be written.*permission denied"):
            checkpointer.save(_state(2), {})
            checkpointer.wait()
        assert checkpointer.latest_step() == 1
    finally:
        tmp_path.chmod(0o755)
        checkpointer.close()


# ------------------------------------------------------------------------------------------------ whole runs
@pytest.fixture
def small_run(tiny_config, blobs):
    """16 steps (8 a epoch), a checkpoint every 4, on in-memory blobs."""
    tiny_config.train.epochs = 2
    tiny_config.checkpoint.every_steps = 4
    tiny_config.checkpoint.max_to_keep = 5
    tiny_config.eval.compare_pca = False
    return tiny_config, aejax.data.from_arrays(*blobs)


def test_fit_with_a_full_disk_at_a_checkpoint_names_it_and_resumes_from_the_last(
    small_run, tmp_path, monkeypatch
):
    config, data = small_run
    original = serialization.async_serialize_from_host
    monkeypatch.setattr(serialization, "async_serialize_from_host", _fail_step(8, ENOSPC)(original))
    with pytest.raises(
        CheckpointWriteError,
        match=r"checkpoint step 8 could not be written.*complete checkpoint, step 4, is kept.*the disk is full",
    ):
        aejax.fit(config, data=data, workdir=tmp_path)
    monkeypatch.undo()
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["4"]
    assert not (tmp_path / "results.json").exists()
    assert [r["step"] for r in MetricsLog(tmp_path / "metrics.jsonl").read()][-1] >= 8  # whole lines only
    assert aejax.load(tmp_path).step == 4
    resumed = aejax.fit(config, data=data, workdir=tmp_path)  # with room again, the same call finishes
    assert resumed.step == 16 and aejax.load(tmp_path).step == 16


@pytest.mark.parametrize("name", ["config.json", "results.json"])
def test_fit_with_a_full_disk_at_a_run_file_names_it(small_run, tmp_path, monkeypatch, name):
    config, data = small_run
    real_fsync = os.fsync

    def fsync(fd):
        if os.readlink(f"/proc/self/fd/{fd}").endswith(f".{name}.tmp"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    with pytest.raises(WorkdirWriteError, match=f"could not write '{tmp_path / name}': the disk is full"):
        aejax.fit(config, data=data, workdir=tmp_path)
    monkeypatch.undo()
    assert not (tmp_path / name).exists() and _tmp_files(tmp_path) == []
    steps = (tmp_path / "checkpoints").iterdir() if name == "results.json" else ()
    assert sorted(int(p.name) for p in steps) == ([4, 8, 12, 16] if name == "results.json" else [])


def test_fit_with_a_full_disk_at_a_metrics_line_leaves_whole_lines(small_run, tmp_path, monkeypatch):
    config, data = small_run
    real_write = os.write
    metrics = str(tmp_path / "metrics.jsonl")

    def write(fd, data):
        if os.readlink(f"/proc/self/fd/{fd}") == metrics and b'"step": 10' in bytes(data):
            real_write(fd, bytes(data[:7]))
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", write)
    with pytest.raises(WorkdirWriteError, match=r"could not write .*metrics.jsonl': the disk is full"):
        aejax.fit(config, data=data, workdir=tmp_path)
    monkeypatch.undo()
    assert (tmp_path / "metrics.jsonl").read_bytes().endswith(b"}\n")
    assert [r["step"] for r in MetricsLog(tmp_path / "metrics.jsonl").read()] == [
        4,
        5,
        8,
        8,
    ]  # train, val at 8
    assert aejax.load(tmp_path).step == 8


def _read_only(workdir, monkeypatch):
    """Every open / mkdir under `workdir` fails as on a read-only file system."""
    real_open = os.open

    def open_(path, *args, **kwargs):
        if str(path).startswith(str(workdir)):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", open_)


def test_a_read_only_workdir_is_named_by_the_preflight_check(tmp_path, monkeypatch):
    _read_only(tmp_path, monkeypatch)
    with pytest.raises(
        WorkdirWriteError, match=f"could not write '{tmp_path}': the file system is read-only"
    ) as info:
        check_workdir_writable(tmp_path)
    assert info.value.errno == errno.EROFS


def test_fit_refuses_a_read_only_workdir_before_training(small_run, tmp_path, monkeypatch):
    config, data = small_run
    _read_only(tmp_path, monkeypatch)
    with pytest.raises(WorkdirWriteError, match=r"the file system is read-only.*or give another workdir"):
        aejax.fit(config, data=data, workdir=tmp_path)
    monkeypatch.undo()
    assert list(tmp_path.iterdir()) == []


def test_a_full_disk_is_named_by_the_preflight_check(tmp_path, monkeypatch):
    """A zero-byte file can still be created on a full disk: the probe writes and syncs some blocks."""
    real_write = os.write

    def write(fd, data):
        if ".aejax-write-probe-" in os.readlink(f"/proc/self/fd/{fd}"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", write)
    with pytest.raises(WorkdirWriteError, match=f"could not write '{tmp_path}': the disk is full"):
        check_workdir_writable(tmp_path)
    assert list(tmp_path.iterdir()) == []  # the probe is gone
