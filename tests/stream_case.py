"""The small streamed case the streaming tests share: 700 random 4x4 examples as three .npy shards."""

from pathlib import Path

import numpy as np

from aejax.config import load_default


def write_shards(directory: Path, rows: int = 700, seed: int = 0) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    x = np.random.default_rng(seed).random((rows, 4, 4), np.float32)
    for i, part in enumerate(np.array_split(x, 3)):
        np.save(directory / f"part-{i:03d}.npy", part)
    return directory


def stream_config(shards, pipeline: str, epochs: int = 2):
    config = load_default()
    config.data.source = "npy_dir"
    config.data.path = str(shards)
    config.data.pipeline = pipeline
    config.model.latent_dim = 4
    config.model.hidden = (16,)
    config.train.epochs = epochs
    config.train.batch_size = 32
    config.train.progress = False
    config.eval.plots = False
    config.eval.compare_pca = False
    config.eval.jacobian_examples = 0
    return config
