"""Kill -9 in the middle of an epoch of a streamed run, then the same command: the final parameters and
optimizer state equal an uninterrupted streamed run's bit for bit (the stream restarts at the step's batch)."""

import json
import os
import signal
import subprocess
import time

import numpy as np
import pytest
from stream_case import write_shards
from test_resume import _command, _complete_steps, _leaves  # the kill-resume tests' own helpers

import aejax
from aejax.config import get_config

CONFIG = """
from stream_case import stream_config

def get_config():
    config = stream_config({shards!r}, "stream", epochs=4)
    config.model.dropout = 0.1  # exercises the step-folded RNG across restarts
    config.train.log_every_steps = 4
    config.checkpoint.every_steps = 5
    config.checkpoint.max_to_keep = 2
    return config
"""
STEPS_PER_EPOCH = 560 // 32  # 700 rows, 10% val and 10% test carved out


def _pipeline_meta(workdir, step):
    return json.loads((workdir / "checkpoints" / str(step) / "meta" / "metadata").read_text())["pipeline"]


@pytest.mark.slow
def test_sigkill_mid_epoch_of_a_streamed_run_then_resume_is_bit_identical(tmp_path):
    shards = write_shards(tmp_path / "shards")
    config_file = tmp_path / "stream_resume_config.py"
    config_file.write_text(CONFIG.format(shards=str(shards)))
    tests = os.path.dirname(os.path.abspath(__file__))
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "PYTHONPATH": tests + os.pathsep + os.environ.get("PYTHONPATH", ""),
    }

    interrupted = tmp_path / "interrupted"
    proc = subprocess.Popen(
        _command(config_file, interrupted), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.time() + 120
        while not any(s % STEPS_PER_EPOCH for s in _complete_steps(interrupted)) and proc.poll() is None:
            assert time.time() < deadline, "no checkpoint appeared"
            time.sleep(0.005)
        assert proc.poll() is None, "the run finished before the kill; make it longer"
        proc.send_signal(signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    killed_at = max(_complete_steps(interrupted))
    assert 0 < killed_at < 4 * STEPS_PER_EPOCH
    meta = _pipeline_meta(interrupted, killed_at)
    assert (meta["epoch"], meta["position"]) == divmod(killed_at, STEPS_PER_EPOCH)
    assert meta["kind"] == "stream" and meta["batch_size"] == 32 and meta["source"].startswith("npy:")

    finished = subprocess.run(
        _command(config_file, interrupted), env=env, capture_output=True, text=True, timeout=300
    )
    assert finished.returncode == 0, finished.stderr[-2000:]
    a, b = (
        aejax.fit(get_config(config_file)),
        aejax.load(interrupted),
    )  # the uninterrupted run, in this process
    assert a.step == b.step == 4 * STEPS_PER_EPOCH
    resumed_from = json.loads((interrupted / "results.json").read_text())["resumed_from"]
    assert resumed_from % STEPS_PER_EPOCH != 0  # mid-epoch
    for x, y in zip(_leaves(a), _leaves(b), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
