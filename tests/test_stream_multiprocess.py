"""Two processes on 127.0.0.1 stream one run: each reads only its half of every global batch (counted), and
the parameters match the same run streamed in one process."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
from stream_case import stream_config, write_shards

import aejax
from aejax.training.specs import epoch_permutation

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_pair(shards: Path, out: Path, log_dir: Path) -> None:
    """tests/stream_worker.py as processes 0 and 1 (one CPU device each); never leaves a process behind."""
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=1"}
    port, workers = str(_free_port()), []
    paths = [log_dir / f"stream_worker_{i}.log" for i in range(2)]
    try:
        for i, path in enumerate(paths):
            with open(path, "wb") as log:
                command = [
                    sys.executable,
                    str(ROOT / "tests" / "stream_worker.py"),
                    str(i),
                    port,
                    str(shards),
                    str(out),
                ]
                workers.append(
                    subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
                )
        for worker in workers:
            worker.wait(timeout=240)
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
    logs = "\n".join(path.read_text(errors="replace")[-3000:] for path in paths)
    assert all(w.returncode == 0 for w in workers), logs


def test_two_processes_each_stream_half_of_every_batch_and_match_one(tmp_path):
    shards = write_shards(tmp_path / "shards")
    out = tmp_path / "run"
    _run_pair(shards, out, tmp_path)
    one = aejax.fit(stream_config(shards, "stream"))

    records = [json.loads(Path(f"{out}.{i}.json").read_text()) for i in range(2)]
    assert all(r["process_count"] == 2 for r in records)
    steps_per_epoch, batch = 560 // 32, 32
    assert len(records[0]["batches"]) == len(records[1]["batches"]) == 2 * steps_per_epoch
    for step, (first, second) in enumerate(zip(records[0]["batches"], records[1]["batches"], strict=True)):
        epoch, position = divmod(step, steps_per_epoch)
        order = epoch_permutation(0, epoch, 560)[position * batch : (position + 1) * batch]
        assert len(first) == len(second) == batch // 2  # each reads half of the global batch: its own half
        assert first + second == order.tolist()

    with np.load(f"{out}.npz") as two:
        leaves = [two[f"arr_{i}"] for i in range(len(two.files))]
    for a, b in zip(leaves, jax.tree.leaves(jax.device_get(one.params)), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
