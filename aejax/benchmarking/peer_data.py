"""The jobs of the end-to-end benchmark and their data, for the hand-written peers (numpy and scikit-learn only).

The peer scripts (`peer_jax.py`, `peer_torch.py`) import this file as a sibling module, never aejax: they stand
for what a user writes by hand. The driver (`end_to_end.py`) reads the same `JOBS` to build the aejax command
and to check that aejax's config describes the same work.

The splits are aejax's (`split_pool` in aejax/data/dataset.py): one pool shuffled by
`numpy.random.default_rng(0).permutation`, then val = the first round(0.1 n), test = the next round(0.1 n),
train = the rest (digits 1437/180/180; the 10k MNIST test files 8000/1000/1000).
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import sys
import time
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

RESULT_PREFIX = "E2E-RESULT "  # the line a peer prints its JSON on
DEFAULT_MNIST = "../shared/data/mnist"


class Job(NamedTuple):
    """One training job: data, MLP autoencoder, optimizer and length."""

    source: str  # digits | mnist
    config: str  # the aejax experiment that trains it
    hidden: tuple[int, ...]  # encoder widths; the decoder mirrors them, then a sigmoid output layer
    latent: int
    activation: str  # gelu (tanh approximation, flax's default) | relu
    epochs: int
    batch_size: int
    learning_rate: float
    warmup_steps: int
    grad_clip_norm: float
    min_learning_rate_ratio: float = 0.0


JOBS = {
    "digits": Job("digits", "ae_digits", (256, 128), 12, "gelu", 100, 64, 2e-3, 100, 1.0),
    "mnist": Job("mnist", "ae_mnist", (512, 256), 32, "relu", 30, 128, 2e-3, 100, 1.0),
}


def steps_per_epoch(job: Job, n_train: int) -> int:
    """Full batches only: the last partial batch of each epoch is dropped (as aejax does)."""
    return n_train // job.batch_size


def learning_rate(job: Job, step: int, total_steps: int) -> float:
    """optax.warmup_cosine_decay_schedule(0, peak, warmup, decay_steps=total, end=peak * min_ratio) at `step`
    (the number of updates made before this one), written out for the PyTorch peer."""
    peak, warmup = job.learning_rate, job.warmup_steps
    if step < warmup:
        return peak * step / warmup
    decay = max(total_steps, warmup + 1) - warmup
    fraction = min(step - warmup, decay) / decay
    end = peak * job.min_learning_rate_ratio
    return end + (peak - end) * 0.5 * (1 + math.cos(math.pi * fraction))


def split_pool(x: np.ndarray, seed: int = 0, val_fraction: float = 0.1, test_fraction: float = 0.1):
    """(train, val, test) of one pool, as aejax cuts it."""
    n = x.shape[0]
    order = np.random.default_rng(seed).permutation(n)
    n_val, n_test = round(n * val_fraction), round(n * test_fraction)
    return x[order[n_val + n_test :]], x[order[:n_val]], x[order[n_val : n_val + n_test]]


def _read_idx_images(path: Path) -> np.ndarray:
    """The images of a gzipped IDX file (MNIST's t10k-images-idx3-ubyte.gz) as (n, rows * cols) uint8."""
    raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(dims[0], -1)


def load_job_data(job: Job, mnist_path: str = DEFAULT_MNIST):
    """(x_train, x_val, x_test) as float32 (n, features) in [0, 1]."""
    if job.source == "digits":
        from sklearn.datasets import load_digits

        x = (load_digits().images / 16.0).astype(np.float32).reshape(-1, 64)
    elif job.source == "mnist":
        directory = Path(mnist_path).expanduser()
        found = [directory / name for name in ("t10k-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte")]
        path = next((p for p in found if p.is_file()), None)
        if path is None:
            raise FileNotFoundError(f"no t10k-images-idx3-ubyte[.gz] in {str(directory)!r}")
        x = _read_idx_images(path).astype(np.float32) / 255.0
    else:
        raise ValueError(f"unknown job source {job.source!r}; valid: digits, mnist")
    return split_pool(x)


def peer_arguments(description: str) -> argparse.ArgumentParser:
    """The flags every peer script takes."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--job", choices=sorted(JOBS), default="digits")
    parser.add_argument("--epochs", type=int, default=0, help="0: the job's own")
    parser.add_argument("--mnist-path", default=DEFAULT_MNIST)
    parser.add_argument("--seed", type=int, default=0)
    return parser


def job_from_args(args: argparse.Namespace) -> Job:
    job = JOBS[args.job]
    return job._replace(epochs=args.epochs) if args.epochs > 0 else job


def phase_record(started: float, loaded: float, ready: float, trained: float, *splits: Any) -> dict[str, Any]:
    """What every peer reports of its phases (perf_counter marks; the test phase runs up to now) and the sizes
    of its splits."""
    return {
        "data_seconds": loaded - started,
        "setup_seconds": ready - loaded,
        "train_seconds": trained - ready,
        "test_seconds": time.perf_counter() - trained,
        "sizes": [int(split.shape[0]) for split in splits],
    }


def emit(result: dict[str, Any]) -> None:
    """Print the peer's result as one JSON line the driver finds by its prefix."""
    print(RESULT_PREFIX + json.dumps(result, sort_keys=True), flush=True)
    sys.stdout.flush()


def parse_result(stdout: str) -> dict[str, Any] | None:
    """The last result line a peer (or the aejax.fit runner) printed, or None."""
    lines = [line for line in stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    return json.loads(lines[-1][len(RESULT_PREFIX) :]) if lines else None
