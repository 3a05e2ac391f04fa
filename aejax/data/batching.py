"""Fixed-size batches over an array: the last one zero-padded, with a 0/1 weight per row.

Every batch then has the same shape, so a jitted function compiles once for any number of rows, and no
example is dropped: sums weighted by `weight` (or outputs cut to `count` rows) cover exactly the real rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import numpy as np


class PaddedBatch(NamedTuple):
    rows: np.ndarray  # exactly the batch size: the real rows, then zero rows
    weight: np.ndarray  # (batch size,) float32: 1 for a real row, 0 for padding
    start: int  # index of the first row in the whole array
    count: int  # how many rows are real


def pad_rows(x: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """`x` with zero rows appended up to `size` rows, and the (size,) float32 weight (1 real, 0 padding)."""
    n = x.shape[0]
    if n > size:
        raise ValueError(f"pad_rows pads up to {size} rows, got {n}")
    weight = np.ones(size, np.float32)
    if n < size:
        weight[n:] = 0.0
        x = np.concatenate([x, np.zeros((size - n, *x.shape[1:]), x.dtype)])
    return x, weight


def padded_batches(x: np.ndarray, batch_size: int) -> Iterator[PaddedBatch]:
    """Consecutive batches of exactly `batch_size` rows of `x`, the last one padded (see PaddedBatch)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    for start in range(0, x.shape[0], batch_size):
        chunk = x[start : start + batch_size]
        rows, weight = pad_rows(chunk, batch_size)
        yield PaddedBatch(rows, weight, start, chunk.shape[0])
