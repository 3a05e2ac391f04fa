"""Preemption: SIGTERM or SIGINT stops a run after the step in flight, with a checkpoint and metrics saved,
exit status 75 and a line saying how to resume; the same command then ends bit-identical to an uninterrupted
run, in one process and in two (where only one process is signalled and both agree on the step)."""

import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import jax
import numpy as np
import pytest
from test_multiprocess import SETTINGS, _free_port, _run_pair

import aejax
from aejax.preemption import PREEMPTED_EXIT_STATUS, PreemptionWatch
from aejax.training import MetricsLog

TESTS = Path(__file__).resolve().parent
CONFIG = """
from aejax.config import load_default

def get_config():
    config = load_default()
    config.model.latent_dim = 6
    config.model.hidden = (32,)
    config.model.dropout = 0.1  # exercises the step-folded RNG across restarts
    config.train.epochs = 5
    config.train.batch_size = 32
    config.train.schedule = "warmup_cosine"
    config.train.warmup_steps = 20
    config.train.grad_clip_norm = 1.0
    config.train.progress = False
    config.train.log_every_steps = 4
    config.checkpoint.max_to_keep = 2
    config.checkpoint.every_epochs = 1  # complete checkpoints before the signals, to resume from
    config.eval.plots = False
    config.eval.compare_pca = False
    return config
"""
STEPS_PER_EPOCH = 44  # the embedded digits' 1,437 training rows... split 80/10/10: 1,405 rows / 32
ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}


def _train(config_file: Path, workdir: Path, driver: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """`aejax train` (through tests/preemption_driver.py when `driver` holds its STEP SIGNAL SECOND)."""
    entry = [str(TESTS / "preemption_driver.py"), *driver] if driver else ["-m", "aejax.cli"]
    command = [sys.executable, *entry, "train", "--config", str(config_file), "--workdir", str(workdir)]
    return subprocess.run(command, env=ENV, capture_output=True, text=True, timeout=300, cwd=TESTS.parent)


def _leaves(workdir: Path) -> list[np.ndarray]:
    state = jax.device_get(aejax.load(workdir).state)
    return jax.tree.leaves((state.params, state.opt_state, state.rng, state.step))


def _assert_same_run(workdir: Path, reference: Path) -> None:
    """Bit-identical state; the log has each (split, step) once and the reference's validation records."""
    for a, b in zip(_leaves(workdir), _leaves(reference), strict=True):
        np.testing.assert_array_equal(a, b)
    records = [(r["split"], r["step"]) for r in MetricsLog(workdir / "metrics.jsonl").read()]
    assert len(records) == len(set(records))
    val = [r for r in MetricsLog(workdir / "metrics.jsonl").read() if r["split"] == "val"]
    assert val == [r for r in MetricsLog(reference / "metrics.jsonl").read() if r["split"] == "val"]
    assert not list((workdir / "checkpoints").glob("*tmp*"))


def _stopped_step(result: subprocess.CompletedProcess, signal_name: str) -> int:
    assert result.returncode == PREEMPTED_EXIT_STATUS, result.stderr[-3000:]
    found = re.search(
        rf"stopped by {signal_name} at step (\d+) of \d+; checkpoint saved in (\S+);", result.stderr
    )
    assert found and "run the same command again to resume" in result.stderr, result.stderr[-3000:]
    return int(found.group(1))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The config file and an uninterrupted reference run of it."""
    root = tmp_path_factory.mktemp("preemption")
    config_file = root / "config.py"
    config_file.write_text(CONFIG)
    reference = root / "reference"
    assert _train(config_file, reference).returncode == 0
    return config_file, reference


@pytest.mark.slow
def test_signals_at_seeded_mid_epoch_steps_then_same_command_is_bit_identical(runs, tmp_path):
    config_file, reference = runs
    total = json.loads((reference / "results.json").read_text())["total_steps"]
    rng = random.Random(23)
    steps = sorted(rng.choice([s for s in range(5, total - 5) if s % STEPS_PER_EPOCH]) for _ in range(2))
    workdir = tmp_path / "run"
    for at, name in zip(steps, ("TERM", "INT"), strict=True):
        stopped = _stopped_step(_train(config_file, workdir, (str(at), name, "0")), f"SIG{name}")
        assert at <= stopped < at + 4 and stopped % STEPS_PER_EPOCH  # after the step in flight, mid-epoch
        assert max(int(p.name) for p in (workdir / "checkpoints").iterdir() if p.name.isdigit()) == stopped
        assert max(r["step"] for r in MetricsLog(workdir / "metrics.jsonl").read()) == stopped
    finished = _train(config_file, workdir)
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert json.loads((workdir / "results.json").read_text())["resumed_from"] == stopped
    _assert_same_run(workdir, reference)


@pytest.mark.slow
def test_kill_term_at_a_seeded_random_moment_then_same_command_is_bit_identical(runs, tmp_path):
    """`kill -TERM` from outside at a random moment (seeded) after training started."""
    config_file, reference = runs
    workdir, rng = tmp_path / "run", random.Random(7)
    command = [
        sys.executable,
        "-m",
        "aejax.cli",
        "train",
        "--config",
        str(config_file),
        "--workdir",
        str(workdir),
    ]
    proc = subprocess.Popen(command, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        while not (workdir / "metrics.jsonl").exists() and proc.poll() is None:
            time.sleep(0.02)
        time.sleep(rng.uniform(0.0, 1.0))
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=120)
    finally:
        proc.kill()
    if proc.returncode == 0:
        pytest.fail("the run finished before the signal: make the config longer")
    _stopped_step(subprocess.CompletedProcess(command, proc.returncode, "", stderr), "SIGTERM")
    assert _train(config_file, workdir).returncode == 0
    _assert_same_run(workdir, reference)


@pytest.mark.slow
def test_a_second_signal_during_the_save_exits_at_once_and_the_run_still_resumes(runs, tmp_path):
    config_file, reference = runs
    workdir = tmp_path / "run"
    second = _train(config_file, workdir, ("60", "TERM", "1"))
    assert second.returncode == -signal.SIGTERM, second.stderr[-3000:]  # ended by the signal itself
    finished = _train(config_file, workdir)
    assert finished.returncode == 0, finished.stderr[-3000:]
    _assert_same_run(workdir, reference)


@pytest.mark.slow  # ~45 s: three runs of two processes
def test_two_processes_stop_at_one_step_when_one_is_signalled_and_resume_bit_identically(tmp_path):
    settings = [f"--config.{k}={v}" for k, v in {**SETTINGS, "train.epochs": "3"}.items()]

    def pair(workdir: Path, succeed: bool = True, **env: str) -> list[str]:
        port = str(_free_port())
        args = ["--coordinator-address", f"127.0.0.1:{port}", "--num-processes", "2", "--process-id"]
        return _run_pair(
            lambda i: [
                "train",
                "train",
                "--config",
                "ae_digits",
                "--workdir",
                str(workdir),
                *settings,
                *args,
                str(i),
            ],
            tmp_path,
            succeed=succeed,
            **env,
        )

    reference, workdir = tmp_path / "reference", tmp_path / "run"
    pair(reference)
    logs = pair(workdir, succeed=False, AEJAX_TEST_SIGNAL_AT_STEP="13")
    stops = [re.search(r"stopped by (.+?) at step (\d+) of", log) for log in logs]
    assert all(stops), "\n".join(log[-2000:] for log in logs)
    assert stops[1].group(1) == "SIGTERM" and stops[0].group(1) == "a signal to another process"
    assert stops[0].group(2) == stops[1].group(2)  # both processes stop at one step
    pair(workdir)
    _assert_same_run(workdir, reference)


def test_the_watch_installs_handlers_only_in_the_main_thread():
    seen = []
    thread = threading.Thread(target=lambda: seen.append(PreemptionWatch(enabled=True).enabled))
    thread.start()
    thread.join()
    assert seen == [False]
    assert not PreemptionWatch(enabled=False).enabled
    watch = PreemptionWatch(enabled=threading.current_thread() is threading.main_thread())
    before = signal.getsignal(signal.SIGTERM)
    with watch.installed():
        if watch.enabled:
            assert signal.getsignal(signal.SIGTERM) == watch._handle
    assert signal.getsignal(signal.SIGTERM) == before


@pytest.mark.slow
def test_a_signal_during_the_last_step_still_stops_with_status_75_and_the_rerun_only_evaluates(
    runs, tmp_path
):
    config_file, reference = runs
    total = json.loads((reference / "results.json").read_text())["total_steps"]
    workdir = tmp_path / "run"
    assert _stopped_step(_train(config_file, workdir, (str(total), "TERM", "0")), "SIGTERM") == total
    assert not (workdir / "results.json").exists()
    finished = _train(config_file, workdir)
    assert finished.returncode == 0, finished.stderr[-3000:]
    _assert_same_run(workdir, reference)


WATCH_PROBE = """
import os, signal, sys
from aejax.preemption import PreemptionWatch
if sys.argv[1] == "ignored":
    signal.signal(signal.SIGINT, signal.SIG_IGN)
watch = PreemptionWatch()
with watch.installed():
    if sys.argv[1] == "ignored":
        print(signal.getsignal(signal.SIGINT) == signal.SIG_IGN)
        os.kill(os.getpid(), signal.SIGINT)
        print(watch.received)
    else:
        watch.agreed = True  # another process was signalled; this one's own first signal follows
        os.kill(os.getpid(), signal.SIGTERM)
        print(watch.signalled, watch.received)
"""


@pytest.mark.parametrize(
    ("case", "printed"),
    [("ignored", "True\nNone"), ("agreed", "SIGTERM SIGTERM")],
    ids=["sigint-ignored", "agreed"],
)
def test_the_watch_leaves_an_ignored_signal_ignored_and_a_first_own_signal_is_not_a_second(case, printed):
    """A background job started with SIGINT ignored keeps ignoring it; a process that stopped because another
    was signalled treats its own first signal as a first one (it does not kill itself mid-save)."""
    result = subprocess.run(
        [sys.executable, "-c", WATCH_PROBE, case], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0 and result.stdout.strip() == printed, result.stderr[-2000:]
