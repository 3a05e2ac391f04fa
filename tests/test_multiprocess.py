"""Two local processes (loopback only) train together through jax.distributed and match one process."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest
from parallel_case import run_case

import aejax
from aejax.config import apply_overrides, get_config
from aejax.training import MetricsLog

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_pair(args_for, log_dir: Path, succeed: bool = True, **env_extra: str) -> list[str]:
    """Start tests/multiprocess_worker.py as processes 0 and 1 (one CPU device each) with `args_for(i)`; their
    logs (files in `log_dir`: a pipe that nobody reads could block one worker while the other waits on it).
    Fails with both logs unless both exit 0 (with `succeed=False`: unless both fail); never leaves a process
    behind."""
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=1", **env_extra}
    paths = [log_dir / f"worker_{i}.log" for i in range(2)]
    workers = []
    try:
        for i, path in enumerate(paths):
            with open(path, "wb") as log:
                workers.append(
                    subprocess.Popen(
                        [sys.executable, str(ROOT / "tests" / "multiprocess_worker.py"), *args_for(i)],
                        cwd=ROOT,
                        env=env,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    )
                )
        for worker in workers:
            worker.wait(timeout=240)
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
    logs = [path.read_text(errors="replace") for path in paths]
    assert all((w.returncode == 0) == succeed for w in workers), "\n".join(log[-3000:] for log in logs)
    return logs


def test_two_processes_match_one(tmp_path):
    port, out = str(_free_port()), tmp_path / "params.npz"
    _run_pair(lambda i: ["step", str(i), port, str(out)], tmp_path)
    params, losses = run_case("single")
    saved = np.load(out)
    np.testing.assert_allclose(saved["losses"], losses, rtol=1e-5)
    for i, leaf in enumerate(jax.tree.leaves(params)):
        np.testing.assert_allclose(saved[f"arr_{i}"], np.asarray(leaf), rtol=1e-5, atol=1e-7)


# a small, fast version of experiments/ae_digits.py (the embedded default data)
SETTINGS = {
    "model.hidden": "(64,)",
    "train.early_stopping_patience": "0",
    "train.log_every_steps": "10",
    "train.progress": "False",
    "eval.plots": "False",
    "eval.jacobian_examples": "0",
}


@pytest.mark.slow  # ~50 s: two trainings of two processes each; test_two_processes_match_one stays fast
def test_two_processes_fit_and_resume_like_one(tmp_path):
    """`aejax train` as two processes sharing a workdir: one epoch, then resumed for up to four with early
    stopping set to stop after the second (no later epoch improves by 1e9). In the resumed run process 1's own
    validation values improve by 1e10 per epoch (tests/multiprocess_worker.py): both stop together only
    because every process tracks process 0's values.
    Process 0 alone writes the run's files, the checkpoints restore across processes, and parameters, logged
    losses and test metrics match the same two runs in one process."""
    workdir, reference = tmp_path / "two", tmp_path / "one"
    stopping = {"train.early_stopping_patience": "1", "train.early_stopping_min_delta": "1e9"}
    for settings, skew in (
        ({**SETTINGS, "train.epochs": "1"}, ""),
        ({**SETTINGS, "train.epochs": "4", **stopping}, "1"),
    ):
        port = str(_free_port())
        logs = _run_pair(
            lambda i, s=settings, p=port: [
                "train",
                "train",
                "--config",
                "ae_digits",
                "--workdir",
                str(workdir),
                *[f"--config.{k}={v}" for k, v in s.items()],
                "--coordinator-address",
                f"127.0.0.1:{p}",
                "--num-processes",
                "2",
                "--process-id",
                str(i),
            ],
            tmp_path,
            AEJAX_TEST_SKEW_VALIDATION=skew,
        )
        assert "test MSE per feature" in logs[0] and "test MSE per feature" not in logs[1]  # process 0 prints
        config = get_config("ae_digits")
        apply_overrides(config, [f"{k}={v}" for k, v in settings.items()])
        one = aejax.fit(config, workdir=reference)
    two = aejax.load(workdir)
    assert one.results["stopped_early"] and one.results["steps"] == 2 * one.results["steps_per_epoch"]
    assert two.step == one.step == one.results["steps_per_epoch"]  # both keep epoch 0's best weights
    for a, b in zip(jax.tree.leaves(two.params), jax.tree.leaves(one.params), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)
    records = {r["step"]: r for r in MetricsLog(workdir / "metrics.jsonl").read() if r["split"] == "train"}
    expected = {r["step"]: r for r in MetricsLog(reference / "metrics.jsonl").read() if r["split"] == "train"}
    assert len(MetricsLog(workdir / "metrics.jsonl").read()) == len(
        MetricsLog(reference / "metrics.jsonl").read()
    )
    assert sorted(records) == sorted(expected)  # each record once: one writer
    for step, record in records.items():
        np.testing.assert_allclose(record["loss"], expected[step]["loss"], rtol=1e-5)
    results = json.loads((workdir / "results.json").read_text())
    assert results["stopped_early"] and results["resumed_from"] == one.results["resumed_from"] > 0
    np.testing.assert_allclose(results["test"]["mse"], one.results["test"]["mse"], rtol=1e-4)


@pytest.mark.parametrize(
    ("what", "override", "skew", "message"),
    [
        ("config", "--config.data.split_seed={i}", "", "were given different configs"),
        ("data", "--config.seed=0", "1", "hold different training data"),
    ],
)
def test_two_processes_that_differ_refuse_to_train(tmp_path, what, override, skew, message):
    """Each process builds the global batches from its own config and copy of the data. Processes given
    different configs (another split seed on process 1), or the same config but different data (process 1's
    training split reversed, tests/multiprocess_worker.py), stop with a named error before the first step."""
    port = str(_free_port())
    logs = _run_pair(
        lambda i: [
            "train",
            "train",
            "--config",
            "ae_digits",
            "--workdir",
            str(tmp_path / "run"),
            *[f"--config.{k}={v}" for k, v in SETTINGS.items()],
            override.format(i=i),
            "--coordinator-address",
            f"127.0.0.1:{port}",
            "--num-processes",
            "2",
            "--process-id",
            str(i),
        ],
        tmp_path,
        succeed=False,
        AEJAX_TEST_SKEW_DATA=skew,
    )
    assert all(message in log for log in logs), what
    assert (
        not (tmp_path / "run" / "metrics.jsonl").exists() and not (tmp_path / "run" / "checkpoints").exists()
    )
