"""Random-access row sources for data larger than memory: `.npy` shards, image folders, tfds ArrayRecord.

A `RowSource` knows how many examples it holds and their shape, and reads any rows by index as float32
(uint8 scaled to [0, 1]) without loading the rest: `.npy` shards are read with positioned reads of the rows asked
for (never memory-mapped: mapped pages count in the process's RSS), images are decoded in worker threads, and tfds
records come from `tfds.data_source` (ArrayRecord, random access). Every read is checked like the in-memory
path's arrays (shape, dtype, finite, range); a bad example raises `StreamDataError` naming its row and file.
"""

from __future__ import annotations

import abc
import math
import os
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from aejax.data.batching import PaddedBatch, pad_rows

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


class StreamDataError(ValueError):
    """A streamed example (or shard) has the wrong shape, dtype, a non-finite value or a value out of range."""


def _as_float(name: str, rows: np.ndarray) -> np.ndarray:
    if rows.dtype == np.uint8:
        return rows.astype(np.float32) / np.float32(255.0)
    if not np.issubdtype(rows.dtype, np.floating):
        raise StreamDataError(f"{name} has dtype {rows.dtype}; expected float (float32) or uint8 examples")
    return rows.astype(np.float32, copy=False)


def check_rows(name: str, rows: np.ndarray, indices: np.ndarray, value_range) -> np.ndarray:
    """`rows` (float32, one per index) after the in-memory path's checks: finite, inside `value_range`."""
    flat = rows.reshape(rows.shape[0], -1)
    if not rows.size:
        return rows
    # two passes: a NaN makes its row's min NaN, an Inf its max or min infinite
    row_min, row_max = flat.min(axis=1), flat.max(axis=1)
    finite = np.isfinite(row_min) & np.isfinite(row_max)
    if not finite.all():
        raise StreamDataError(
            f"{name} example {int(indices[np.argmin(finite)])} contains non-finite values (NaN or Inf)"
        )
    if value_range is not None:
        low, high = value_range
        bad = (row_min < low) | (row_max > high)
        if bad.any():
            i = int(np.argmax(bad))
            raise StreamDataError(
                f"{name} example {int(indices[i])} has values in [{flat[i].min():.4g}, {flat[i].max():.4g}], "
                f"outside the declared range [{low:g}, {high:g}]; rescale the data or declare value_range=None"
            )
    return rows


class RowSource(abc.ABC):
    """Examples read by index; `read(indices)` returns float32 rows in the order of `indices`."""

    name: str = "rows"
    value_range: tuple[float, float] | None = (0.0, 1.0)

    @property
    @abc.abstractmethod
    def num_rows(self) -> int: ...

    @property
    @abc.abstractmethod
    def example_shape(self) -> tuple[int, ...]: ...

    @abc.abstractmethod
    def _read_sorted(self, indices: np.ndarray) -> np.ndarray:
        """The rows of sorted, unique, in-range `indices` as float32."""

    @abc.abstractmethod
    def fingerprint(self) -> str:
        """What identifies this data (files, sizes, row selection): a resumed run checks it is unchanged."""

    def __len__(self) -> int:
        return self.num_rows

    @property
    def shape(self) -> tuple[int, ...]:
        """(rows, *example_shape), as an array's."""
        return (self.num_rows, *self.example_shape)

    @property
    def nbytes(self) -> int:
        """The float32 size of every example: what the in-memory path would hold."""
        return self.num_rows * math.prod(self.example_shape) * 4

    def read(self, indices) -> np.ndarray:
        """Rows `indices` (any order, repeats allowed), checked; reads each distinct row once, in file order."""
        indices = np.asarray(indices, np.int64).reshape(-1)
        if indices.size and (indices.min() < 0 or indices.max() >= self.num_rows):
            raise IndexError(f"{self.name}: row indices must be in [0, {self.num_rows}), got {indices.max()}")
        unique, inverse = np.unique(indices, return_inverse=True)
        rows = self._read_sorted(unique) if unique.size else np.zeros((0, *self.example_shape), np.float32)
        return check_rows(self.name, rows, unique, self.value_range)[inverse]

    def padded_batches(self, batch_size: int) -> Iterator[PaddedBatch]:
        """Consecutive batches of exactly `batch_size` rows, the last one zero-padded (as `padded_batches`)."""
        size = min(batch_size, self.num_rows)
        for start in range(0, self.num_rows, size):
            chunk = self.read(np.arange(start, min(start + size, self.num_rows)))
            rows, weight = pad_rows(chunk, size)
            yield PaddedBatch(rows, weight, start, chunk.shape[0])

    def head(self, n: int) -> np.ndarray:
        """The first `n` rows (fewer when the source is shorter) in memory."""
        return self.read(np.arange(min(n, self.num_rows)))

    def subset(self, indices: np.ndarray) -> RowSource:
        return Subset(self, indices)

    def reshaped(self, shape: tuple[int, ...]) -> RowSource:
        return Reshaped(self, shape)


class Subset(RowSource):
    """The rows `indices` of `base`, in that order (a split carved from a pool)."""

    def __init__(self, base: RowSource, indices: np.ndarray):
        self.base, self.indices = base, np.asarray(indices, np.int64)
        self.name, self.value_range = base.name, base.value_range

    @property
    def num_rows(self):
        return int(self.indices.shape[0])

    @property
    def example_shape(self):
        return self.base.example_shape

    def _read_sorted(self, indices):
        return self.base.read(self.indices[indices])

    def fingerprint(self):
        return f"{self.base.fingerprint()}[{self.num_rows}:{zlib.crc32(self.indices.tobytes()):08x}]"


class Reshaped(RowSource):
    """`base` with each example reshaped (e.g. flattened for MLP models)."""

    def __init__(self, base: RowSource, shape: tuple[int, ...]):
        if math.prod(shape) != math.prod(base.example_shape):
            raise ValueError(f"cannot reshape examples of shape {base.example_shape} to {shape}")
        self.base, self._shape = base, tuple(shape)
        self.name, self.value_range = base.name, base.value_range

    @property
    def num_rows(self):
        return self.base.num_rows

    @property
    def example_shape(self):
        return self._shape

    def _read_sorted(self, indices):
        return self.base.read(indices).reshape(len(indices), *self._shape)

    def fingerprint(self):
        return f"{self.base.fingerprint()}{list(self._shape)}"


class ArraySource(RowSource):
    """An in-memory array as a source (tests, small splits)."""

    def __init__(self, array: np.ndarray, name: str = "arrays", value_range=(0.0, 1.0)):
        self.array, self.name, self.value_range = _as_float(name, np.asarray(array)), name, value_range

    @property
    def num_rows(self):
        return int(self.array.shape[0])

    @property
    def example_shape(self):
        return tuple(self.array.shape[1:])

    def _read_sorted(self, indices):
        return self.array[indices]

    def fingerprint(self):
        return f"arrays{list(self.array.shape)}:{zlib.crc32(np.ascontiguousarray(self.array).tobytes()):08x}"


def _npy_header(path: Path) -> tuple[tuple[int, ...], np.dtype, int]:
    """(shape, dtype, byte offset of the data) of a C-ordered .npy file, read from its header alone."""
    with open(path, "rb") as f:
        try:
            version = np.lib.format.read_magic(f)
            read_header = (
                np.lib.format.read_array_header_1_0
                if version == (1, 0)
                else np.lib.format.read_array_header_2_0
            )
            shape, fortran, dtype = read_header(f)
        except ValueError as err:
            raise StreamDataError(f"{str(path)!r} is not a .npy file: {err}") from err
        offset = f.tell()
    if fortran or len(shape) < 2 or dtype.hasobject:
        raise StreamDataError(
            f"{str(path)!r} holds {'a Fortran-ordered ' if fortran else ''}array of shape {shape}, dtype {dtype}; "
            "expected C-ordered (rows, features...) of float or uint8"
        )
    return tuple(shape), dtype, offset


class NpyShards(RowSource):
    """A directory of `.npy` files (sorted by name) read as one pool of rows, by positioned reads."""

    def __init__(self, directory: str | Path, value_range=(0.0, 1.0)):
        directory = Path(directory).expanduser()
        files = sorted(directory.glob("*.npy")) if directory.is_dir() else []
        if not files:
            raise FileNotFoundError(f"no .npy shards in {str(directory)!r}; expected files like part-000.npy")
        headers = [_npy_header(p) for p in files]
        shape, dtype = headers[0][0][1:], headers[0][1]
        for path, (s, d, _) in zip(files, headers, strict=True):
            if s[1:] != shape or d != dtype:
                raise StreamDataError(
                    f"shard {path.name} holds examples of shape {s[1:]} dtype {d}; {files[0].name} has "
                    f"{shape} {dtype}: every shard must match"
                )
        self.name, self.value_range, self.files = f"npy:{directory.name}", value_range, files
        self._shape, self._dtype = tuple(shape), dtype
        self._offsets = [h[2] for h in headers]
        self._starts = np.cumsum([0] + [h[0][0] for h in headers])
        self._row_bytes = math.prod(shape) * dtype.itemsize
        self._fds: dict[int, int] = {}

    @property
    def num_rows(self):
        return int(self._starts[-1])

    @property
    def example_shape(self):
        return self._shape

    def _fd(self, shard: int) -> int:
        if shard not in self._fds:
            self._fds[shard] = os.open(self.files[shard], os.O_RDONLY)
        return self._fds[shard]

    def _read_sorted(self, indices):
        out = np.empty((len(indices), self._row_bytes), np.uint8)
        shards = np.searchsorted(self._starts, indices, side="right") - 1
        # runs of consecutive rows in one shard are one read
        breaks = np.flatnonzero((np.diff(indices) != 1) | (np.diff(shards) != 0)) + 1
        for lo, hi in zip(np.r_[0, breaks], np.r_[breaks, len(indices)], strict=True):
            shard = int(shards[lo])
            local = int(indices[lo] - self._starts[shard])
            size = (hi - lo) * self._row_bytes
            # straight into the batch's buffer (no intermediate bytes object)
            got = os.preadv(self._fd(shard), [out[lo:hi]], self._offsets[shard] + local * self._row_bytes)
            if got != size:
                raise StreamDataError(f"shard {self.files[shard].name} is shorter than its header says")
        rows = out.view(self._dtype).reshape(len(indices), *self._shape)
        return _as_float(self.name, rows)

    def fingerprint(self):
        files = ",".join(f"{p.name}:{p.stat().st_size}" for p in self.files)
        return f"npy:{zlib.crc32(files.encode()):08x}:{self.num_rows}x{list(self._shape)}:{self._dtype}"

    def __del__(self):
        for fd in getattr(self, "_fds", {}).values():
            os.close(fd)


def _decode_image(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as image:
        array = np.asarray(image)
    return array[..., None] if array.ndim == 2 else array


class ImageFolder(RowSource):
    """PNG/JPEG files under a directory (recursively, sorted by path), decoded in `workers` threads."""

    def __init__(self, directory: str | Path, workers: int = 4, value_range=(0.0, 1.0)):
        directory = Path(directory).expanduser()
        files = sorted(p for p in directory.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise FileNotFoundError(f"no PNG/JPEG images under {str(directory)!r}")
        self.name, self.value_range, self.files = f"images:{directory.name}", value_range, files
        self._shape = _decode_image(files[0]).shape
        self._pool = ThreadPoolExecutor(max(1, workers), thread_name_prefix="aejax-decode")

    @property
    def num_rows(self):
        return len(self.files)

    @property
    def example_shape(self):
        return tuple(self._shape)

    def _read_sorted(self, indices):
        images = list(self._pool.map(_decode_image, [self.files[i] for i in indices]))
        for i, image in zip(indices, images, strict=True):
            if image.shape != self._shape:
                raise StreamDataError(
                    f"image {self.files[i].name} (example {int(i)}) has shape {image.shape}; "
                    f"{self.files[0].name} has {self._shape}: every image must match"
                )
        return _as_float(self.name, np.stack(images))

    def fingerprint(self):
        names = ",".join(str(p.relative_to(self.files[0].parents[0])) for p in self.files[:1000])
        return f"images:{len(self.files)}:{zlib.crc32(names.encode()):08x}:{list(self._shape)}"


class TfdsRecords(RowSource):
    """One split of a tfds dataset through `tfds.data_source` (ArrayRecord, random access, no TensorFlow); the
    example is the record's 'image' (else its first feature of rank >= 2)."""

    def __init__(self, name: str, split: str, data_dir: str | None = None, value_range=(0.0, 1.0)):
        import tensorflow_datasets as tfds

        try:
            self._records = tfds.data_source(name, split=split, data_dir=data_dir)
        except Exception as err:  # tfds raises many types; the message is what matters
            raise FileNotFoundError(f"could not open tfds {name!r} split {split!r}: {err}") from err
        first = self._records[0]
        key = "image" if "image" in first else next((k for k, v in first.items() if np.ndim(v) >= 2), None)
        if key is None:
            raise StreamDataError(f"tfds {name!r} records have no image-like feature: {sorted(first)}")
        self.name, self.value_range, self.key = f"tfds:{name}/{split}", value_range, key
        self._shape = np.shape(first[key])
        self._dtype = np.asarray(first[key]).dtype

    @property
    def num_rows(self):
        return len(self._records)

    @property
    def example_shape(self):
        return tuple(self._shape)

    def _read_sorted(self, indices):
        getter = getattr(self._records, "__getitems__", None)
        records = getter(indices.tolist()) if getter else [self._records[int(i)] for i in indices]
        return _as_float(self.name, np.stack([np.asarray(r[self.key], self._dtype) for r in records]))

    def fingerprint(self):
        return f"{self.name}:{self.num_rows}:{list(self._shape)}"
