"""Kill-and-resume: a run SIGKILLed at arbitrary moments and restarted with the same command ends with
parameters and optimizer state bit-identical to an uninterrupted run."""

import os
import random
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

import aejax

CONFIG = """
from aejax.config import load_default

def get_config():
    config = load_default()
    config.model.latent_dim = 6
    config.model.hidden = (32,)
    config.model.dropout = 0.1  # exercises the step-folded RNG across restarts
    config.train.epochs = 4
    config.train.batch_size = 32
    config.train.schedule = "warmup_cosine"
    config.train.warmup_steps = 20
    config.train.grad_clip_norm = 1.0
    config.train.early_stopping_patience = 50
    config.train.progress = False
    config.train.log_every_steps = 4
    config.checkpoint.every_steps = 5
    config.checkpoint.max_to_keep = 2
    config.eval.plots = False
    config.eval.compare_pca = False
    return config
"""


def _command(config_file, workdir):
    return [
        sys.executable,
        "-m",
        "aejax.cli",
        "train",
        "--config",
        str(config_file),
        "--workdir",
        str(workdir),
    ]


def _complete_steps(workdir):
    directory = workdir / "checkpoints"
    return [int(p.name) for p in directory.iterdir() if p.name.isdigit()] if directory.is_dir() else []


def _leaves(trained):
    state = jax.device_get(trained.state)
    return jax.tree_util.tree_leaves((state.params, state.opt_state, state.rng, state.step))


@pytest.mark.slow
def test_sigkill_at_random_moments_then_resume_is_bit_identical(tmp_path):
    config_file = tmp_path / "resume_config.py"
    config_file.write_text(CONFIG)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}

    reference = tmp_path / "reference"
    subprocess.run(_command(config_file, reference), check=True, env=env, capture_output=True, timeout=300)

    interrupted = tmp_path / "interrupted"
    rng = random.Random(1234)
    kills = 0
    for _ in range(3):
        before = max(_complete_steps(interrupted), default=0)
        proc = subprocess.Popen(
            _command(config_file, interrupted), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.time() + 120
        while max(_complete_steps(interrupted), default=0) <= before and proc.poll() is None:
            assert time.time() < deadline, "no new checkpoint appeared"
            time.sleep(0.02)
        time.sleep(rng.uniform(0.0, 0.4))  # then kill at an arbitrary moment (often mid-save)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
    assert kills >= 1, "the run finished before any kill; make it longer"
    finished = subprocess.run(
        _command(config_file, interrupted), env=env, capture_output=True, text=True, timeout=300
    )
    assert finished.returncode == 0, finished.stderr[-2000:]

    a, b = aejax.load(reference), aejax.load(interrupted)
    assert a.step == b.step == 4 * (1437 // 32)
    assert b.results["resumed_from"] is not None and b.results["resumed_from"] > 0
    for x, y in zip(_leaves(a), _leaves(b), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    # The metrics log of the resumed run holds each step once, in order.
    train_steps = [
        r["step"]
        for r in aejax.training.MetricsLog(interrupted / "metrics.jsonl").read()
        if r["split"] == "train"
    ]
    assert train_steps == sorted(set(train_steps))
    leftovers = [p.name for p in (interrupted / "checkpoints").iterdir() if "tmp" in p.name]
    assert not leftovers
