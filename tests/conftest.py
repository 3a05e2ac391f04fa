"""Test setup: 8 fake CPU devices (set before JAX is imported) and small shared fixtures."""

import os

os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"
).strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TFDS_DATA_DIR", os.path.join(os.path.dirname(__file__), ".tfds-never-downloaded"))

from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_MNIST = REPO.parent / "shared" / "data" / "mnist"


@pytest.fixture
def tiny_config():
    """A config that trains a small MLP AE on digits in about a second."""
    from aejax.config import load_default

    config = load_default()
    config.model.latent_dim = 4
    config.model.hidden = (32,)
    config.train.epochs = 2
    config.train.batch_size = 32
    config.train.progress = False
    config.train.log_every_steps = 5
    config.eval.plots = False
    return config


@pytest.fixture
def blobs():
    """(x_train, x_val, x_test) of 16-d vectors in [0, 1] on a low-dimensional subspace."""
    rng = np.random.default_rng(0)
    basis = rng.normal(size=(3, 16))

    def draw(n):
        x = rng.normal(size=(n, 3)) @ basis
        return (1 / (1 + np.exp(-x))).astype(np.float32)

    return draw(256), draw(64), draw(64)
