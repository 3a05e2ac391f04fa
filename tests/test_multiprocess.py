"""Two local processes (loopback only) train together through jax.distributed and match one process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
from parallel_case import run_case

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_match_one(tmp_path):
    port, out = str(_free_port()), tmp_path / "params.npz"
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=1"}
    workers = [
        subprocess.Popen(
            [sys.executable, str(ROOT / "tests" / "multiprocess_worker.py"), str(i), port, str(out)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for i in range(2)
    ]
    logs = []
    try:
        for worker in workers:
            logs.append(worker.communicate(timeout=240)[0].decode(errors="replace"))
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
    assert all(w.returncode == 0 for w in workers), "\n".join(log[-3000:] for log in logs)
    params, losses = run_case("single")
    saved = np.load(out)
    np.testing.assert_allclose(saved["losses"], losses, rtol=1e-5)
    for i, leaf in enumerate(jax.tree.leaves(params)):
        np.testing.assert_allclose(saved[f"arr_{i}"], np.asarray(leaf), rtol=1e-5, atol=1e-7)
