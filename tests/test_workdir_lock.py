"""One writer per workdir: a second run refuses at once, naming the holder; kill -9 leaves no stale lock."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import pytest
from conftest import REPO

import aejax
from aejax.workdir_lock import LOCK_FILE, WorkdirInUseError, workdir_lock

HOLDER = textwrap.dedent(
    """
    import sys, time
    from aejax.workdir_lock import workdir_lock
    with workdir_lock(sys.argv[1]):
        print("locked", flush=True)
        time.sleep(120)
    """
)


def _hold_in_another_process(workdir):
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(workdir)], stdout=subprocess.PIPE, text=True, cwd=REPO
    )
    assert holder.stdout.readline().strip() == "locked"
    return holder


def test_a_second_writer_is_refused_naming_the_holder_and_kill_9_frees_the_workdir(tmp_path, tiny_config):
    workdir = tmp_path / "run"
    holder = _hold_in_another_process(workdir)
    try:
        before = sorted(p.name for p in workdir.iterdir())
        fit = aejax.fit  # imported (JAX and all) before the clock starts: the refusal is what is timed
        started = time.perf_counter()
        with pytest.raises(
            WorkdirInUseError, match=rf"in use by pid {holder.pid} on host {socket.gethostname()}"
        ):
            fit(tiny_config, workdir=workdir)
        assert time.perf_counter() - started < 2.0
        assert sorted(p.name for p in workdir.iterdir()) == before == [LOCK_FILE]  # nothing written
        with pytest.raises(WorkdirInUseError):
            aejax.sweep(tiny_config, {"seed": [0, 1]}, workdir=workdir)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    trained = aejax.fit(tiny_config, workdir=workdir)  # the kernel released the dead holder's lock
    assert (workdir / "results.json").is_file() and trained.step > 0
    assert json.loads((workdir / LOCK_FILE).read_text())["pid"] == os.getpid()


def test_the_lock_is_reentrant_in_one_process_and_released_after(tmp_path):
    with workdir_lock(tmp_path / "w"), workdir_lock(tmp_path / "w"):
        pass
    holder = _hold_in_another_process(tmp_path / "w")  # released: another process can take it
    holder.kill()
    holder.wait()


def test_a_workdir_that_is_a_file_is_a_named_error(tmp_path, tiny_config):
    path = tmp_path / "not_a_dir"
    path.write_text("x")
    with pytest.raises(ValueError, match="is a file; a workdir is a directory"):
        aejax.fit(tiny_config, workdir=path)
    assert path.read_text() == "x"


@pytest.mark.slow
def test_two_cli_runs_on_one_workdir(tmp_path):
    """The issue's experiment: the second `aejax train` exits non-zero at once naming the holder; the first
    finishes with each step logged once and no temporary checkpoint directory left."""
    command = [
        sys.executable,
        "-m",
        "aejax.cli",
        "train",
        "--config",
        "ae_digits",
        "--workdir",
        str(tmp_path / "rc"),
    ]
    first = subprocess.Popen(
        [*command, "--config.train.epochs=8"], stderr=subprocess.PIPE, text=True, cwd=tmp_path
    )
    lock = tmp_path / "rc" / LOCK_FILE
    deadline = time.time() + 60
    while not (lock.is_file() and lock.read_text()) and time.time() < deadline:
        time.sleep(0.1)
    started = time.perf_counter()
    second = subprocess.run(
        [*command, "--config.train.epochs=8"], capture_output=True, text=True, cwd=tmp_path
    )
    assert second.returncode != 0 and f"in use by pid {first.pid}" in second.stderr
    assert time.perf_counter() - started < 20  # Python and the CLI's imports; the lock refuses at once
    assert first.wait(timeout=300) == 0, first.stderr.read()[-2000:]
    records = [json.loads(line) for line in (tmp_path / "rc" / "metrics.jsonl").read_text().splitlines()]
    train_steps = [r["step"] for r in records if r["split"] == "train"]
    assert len(train_steps) == len(set(train_steps))
    assert not list((tmp_path / "rc" / "checkpoints").glob("*tmp*"))


def test_the_cli_refuses_a_held_workdir_before_importing_jax(tmp_path):
    """The refusal comes before JAX (seconds of imports) and the data: the lock is the CLI's first work."""
    workdir = tmp_path / "run"
    holder = _hold_in_another_process(workdir)
    probe = textwrap.dedent(
        """
        import sys
        from aejax.cli import main
        code = main(["train", "--config", "ae_digits", "--workdir", sys.argv[1]])
        print(code, "jax" in sys.modules)
        """
    )
    try:
        result = subprocess.run(
            [sys.executable, "-c", probe, str(workdir)], capture_output=True, text=True, cwd=REPO, timeout=60
        )
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert result.stdout.split() == ["2", "False"], result.stderr[-2000:]
    assert f"in use by pid {holder.pid}" in result.stderr
