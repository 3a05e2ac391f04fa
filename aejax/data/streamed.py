"""Streamed splits: the Dataset of data larger than memory, its sources, and `data.pipeline` (auto | memory |
stream).

`npy_dir` (a directory of `.npy` shards), `images` (a folder of PNG/JPEG) and `tfds:<name>` open as row
sources; a pool is carved into train/val/test by the very permutation `split_pool` uses, so the streamed
splits hold the same rows, in the same order, as the in-memory ones.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from aejax.data.dataset import SPLITS, Dataset
from aejax.data.row_sources import ImageFolder, NpyShards, RowSource, TfdsRecords

PIPELINES = ("auto", "memory", "stream")
STREAM_SOURCES = ("npy_dir", "images")  # and tfds:<name>
# data.pipeline='auto' streams a training pool above this many float32 bytes. Holding a pool in memory (the NumPy
# split and its device copy) cost 1.4-1.6x its size in host RSS beyond a streamed run's (CPU, three runs of
# benchmarks/stream_data.py: 1037 against 605 MiB peak for a 313 MB pool of 784-float rows), so at 512 MiB the
# in-memory path peaks near 1.4 GiB, under the 2 GB a streamed run of any size stays within; below it, it is the
# faster path (streamed steps/s measured at 0.78-0.88x of it on a shared 2-core CPU).
AUTO_STREAM_BYTES = 512 << 20


@dataclasses.dataclass(frozen=True, eq=False)
class StreamedDataset:
    """Splits as row sources (read on demand); the counterpart of `Dataset` for data larger than memory."""

    x_train: RowSource
    x_val: RowSource | None = None
    x_test: RowSource | None = None
    name: str = "stream"
    image_shape: tuple[int, ...] | None = None
    y_train = y_val = y_test = None  # streamed splits carry no labels

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.example_shape)

    @property
    def display_shape(self) -> tuple[int, ...]:
        return tuple(self.image_shape) if self.image_shape is not None else self.input_shape

    def split(self, name: str) -> tuple[RowSource | None, None]:
        if name not in SPLITS:
            raise ValueError(f"unknown split {name!r}; valid: {', '.join(SPLITS)}")
        return getattr(self, f"x_{name}"), None

    def flattened(self) -> StreamedDataset:
        if len(self.input_shape) == 1:
            return self
        flat = {
            f"x_{s}": None if x is None else x.reshaped((math.prod(x.example_shape),))
            for s, x in self._splits()
        }
        return dataclasses.replace(self, **flat, image_shape=self.display_shape)

    def _splits(self):
        return [(s, getattr(self, f"x_{s}")) for s in SPLITS]

    def head(self, n: int) -> Dataset:
        """An in-memory Dataset of each split's first `n` rows (pictures, quick looks)."""
        parts = {f"x_{s}": None if x is None else x.head(n) for s, x in self._splits()}
        return Dataset(**parts, name=self.name, value_range=None, image_shape=self.image_shape)

    def in_memory(self) -> Dataset:
        """Every split read into memory: what data.pipeline='memory' trains on."""
        parts = {f"x_{s}": None if x is None else x.head(x.num_rows) for s, x in self._splits()}
        return Dataset(
            **parts, name=self.name, value_range=self.x_train.value_range, image_shape=self.image_shape
        )

    def summary(self) -> str:
        sizes = ", ".join(f"{s}={x.num_rows}" for s, x in self._splits() if x is not None)
        return f"{self.name} (streamed): {sizes}, example shape {self.input_shape}"


def _carve(pool: RowSource, spec, val_fraction: float, test_fraction: float) -> dict[str, RowSource | None]:
    """Train/val/test of `pool` as `split_pool` draws them (same seed, same permutation, same rows)."""
    if spec.max_examples and spec.max_examples < pool.num_rows:
        pool = pool.subset(np.arange(spec.max_examples))
    n = pool.num_rows
    if not 0 <= val_fraction < 1 or not 0 <= test_fraction < 1 or val_fraction + test_fraction >= 1:
        raise ValueError(
            f"data.val_fraction={val_fraction} and data.test_fraction={test_fraction} must be in [0, 1) "
            "and sum to less than 1"
        )
    order = np.random.default_rng(spec.split_seed).permutation(n)
    n_val, n_test = round(n * val_fraction), round(n * test_fraction)
    if n - n_val - n_test < 1:
        raise ValueError(f"val_fraction and test_fraction leave no training examples out of {n}")
    parts = {"val": order[:n_val], "test": order[n_val : n_val + n_test], "train": order[n_val + n_test :]}
    return {f"x_{s}": pool.subset(idx) if idx.size else None for s, idx in parts.items()}


def _tfds_splits(spec) -> dict[str, RowSource | None]:
    import tensorflow_datasets as tfds

    name = spec.source.split(":", 1)[1]
    if not name:
        raise ValueError("data.source 'tfds:' needs a dataset name, e.g. 'tfds:mnist'")
    data_dir = spec.path or None
    try:
        declared = set(tfds.builder(name, data_dir=data_dir).info.splits.keys()) or {"train", "test"}
    except Exception as err:  # tfds raises many types; the message is what matters
        raise FileNotFoundError(f"unknown or unreadable tfds dataset {name!r}: {err}") from err
    has_val, has_test = "validation" in declared, "test" in declared
    parts = _carve(
        TfdsRecords(name, "train", data_dir),
        spec,
        0.0 if has_val else spec.val_fraction,
        0.0 if has_test else spec.test_fraction,
    )
    if has_val:
        parts["x_val"] = TfdsRecords(name, "validation", data_dir)
    if has_test:
        parts["x_test"] = TfdsRecords(name, "test", data_dir)
    return parts


def is_streamable(source: str) -> bool:
    return source in STREAM_SOURCES or source.startswith("tfds:")


def open_streamed(spec) -> StreamedDataset:
    """The `data` section's source as streamed splits (flattened when `spec.flatten`)."""
    if spec.source.startswith("tfds:"):
        parts, name = _tfds_splits(spec), spec.source
    elif spec.source in STREAM_SOURCES:
        if not spec.path:
            raise ValueError(f"data.source={spec.source!r} needs data.path: the directory to read")
        pool = NpyShards(spec.path) if spec.source == "npy_dir" else ImageFolder(spec.path)
        parts, name = _carve(pool, spec, spec.val_fraction, spec.test_fraction), pool.name
    else:
        raise ValueError(
            f"data.pipeline='stream' reads {', '.join(STREAM_SOURCES)} or tfds:<name>, not {spec.source!r} "
            "(set data.pipeline='memory' or 'auto')"
        )
    if spec.as_sequences:
        raise ValueError("data.as_sequences reads in-memory images: set data.pipeline='memory'")
    dataset = StreamedDataset(**parts, name=name)
    return dataset.flattened() if spec.flatten else dataset


def resolve_pipeline(pipeline: str, source: str, nbytes: int | None = None) -> str:
    """'memory' or 'stream' for `data.pipeline` (auto: stream a streamable source above AUTO_STREAM_BYTES)."""
    if pipeline not in PIPELINES:
        raise ValueError(f"unknown data.pipeline {pipeline!r}; valid: {', '.join(PIPELINES)}")
    if pipeline == "stream" and not is_streamable(source):
        raise ValueError(
            f"data.pipeline='stream' reads {', '.join(STREAM_SOURCES)} or tfds:<name>, not {source!r}"
        )
    if pipeline != "auto":
        return pipeline
    return (
        "stream" if is_streamable(source) and nbytes is not None and nbytes > AUTO_STREAM_BYTES else "memory"
    )
