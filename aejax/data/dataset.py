"""The in-memory Dataset: train/val/test arrays (batch first) with optional labels, validated on entry."""

from __future__ import annotations

import dataclasses
import math

import numpy as np

SPLITS = ("train", "val", "test")


def check_array(name: str, x, value_range: tuple[float, float] | None) -> np.ndarray:
    """Return `x` as float32 after checking dtype, rank, emptiness, finiteness and range."""
    array = np.asarray(x)
    if not np.issubdtype(array.dtype, np.floating):
        hint = " (for 8-bit images: x.astype('float32') / 255)" if array.dtype == np.uint8 else ""
        raise ValueError(
            f"{name} has dtype {array.dtype}; expected a floating-point array (float32) batch first{hint}"
        )
    if array.ndim < 2:
        raise ValueError(
            f"{name} must be batch first with shape (batch, features...), got shape {array.shape}"
        )
    if array.shape[0] == 0:
        raise ValueError(f"{name} is empty (shape {array.shape}); pass None to leave a split out")
    if any(d == 0 for d in array.shape[1:]):
        raise ValueError(f"{name} has a zero-sized feature axis: shape {array.shape}")
    finite = np.isfinite(array.reshape(array.shape[0], -1))
    if not finite.all():
        bad_rows = np.flatnonzero(~finite.all(axis=1))
        raise ValueError(
            f"{name} contains {int((~finite).sum())} non-finite values (NaN or Inf) in {bad_rows.size} "
            f"examples, first at index {int(bad_rows[0])}"
        )
    if value_range is not None:
        low, high = value_range
        lo, hi = float(array.min()), float(array.max())
        if lo < low or hi > high:
            raise ValueError(
                f"{name} has values in [{lo:.4g}, {hi:.4g}], outside the declared range [{low:g}, {high:g}]; "
                "rescale the data or declare value_range=None"
            )
    limit = float(np.finfo(np.float32).max)
    if array.dtype.itemsize > 4 and float(np.abs(array).max()) > limit:
        raise ValueError(f"{name} has values beyond the float32 range (|x| > {limit:.3g})")
    return array.astype(np.float32, copy=False)


def _check_labels(name: str, y, n: int) -> np.ndarray:
    labels = np.asarray(y)
    if labels.ndim != 1 or labels.shape[0] != n:
        raise ValueError(f"{name} must have shape ({n},) to match its inputs, got {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"{name} must hold integer class labels, got dtype {labels.dtype}")
    return labels.astype(np.int32, copy=False)


@dataclasses.dataclass(frozen=True, eq=False)
class Dataset:
    """In-memory splits; `x_*` are float32 batch first, `y_*` optional int32 labels.

    `image_shape` says how to draw one example (e.g. (28, 28)) when the arrays are flattened.
    """

    x_train: np.ndarray
    x_val: np.ndarray | None = None
    x_test: np.ndarray | None = None
    y_train: np.ndarray | None = None
    y_val: np.ndarray | None = None
    y_test: np.ndarray | None = None
    name: str = "arrays"
    value_range: tuple[float, float] | None = (0.0, 1.0)
    image_shape: tuple[int, ...] | None = None

    def __post_init__(self):
        if self.x_train is None:
            raise ValueError("x_train is required")
        shape = None
        for split in SPLITS:
            x = getattr(self, f"x_{split}")
            y = getattr(self, f"y_{split}")
            if x is None:
                if y is not None:
                    raise ValueError(f"y_{split} given without x_{split}")
                continue
            x = check_array(f"x_{split}", x, self.value_range)
            if shape is None:
                shape = x.shape[1:]
            elif x.shape[1:] != shape:
                raise ValueError(
                    f"x_{split} has per-example shape {x.shape[1:]} but x_train has {shape}; all splits must match"
                )
            object.__setattr__(self, f"x_{split}", x)
            if y is not None:
                object.__setattr__(self, f"y_{split}", _check_labels(f"y_{split}", y, x.shape[0]))
        if self.image_shape is not None and math.prod(self.image_shape) != math.prod(shape):
            raise ValueError(f"image_shape {self.image_shape} does not hold one example of shape {shape}")

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    @property
    def display_shape(self) -> tuple[int, ...]:
        """Shape to draw one example: image_shape, else the natural shape."""
        return tuple(self.image_shape) if self.image_shape is not None else self.input_shape

    def split(self, name: str) -> tuple[np.ndarray | None, np.ndarray | None]:
        if name not in SPLITS:
            raise ValueError(f"unknown split {name!r}; valid: {', '.join(SPLITS)}")
        return getattr(self, f"x_{name}"), getattr(self, f"y_{name}")

    def flattened(self) -> Dataset:
        """The same data with each example flattened to a vector (for MLP models)."""
        if len(self.input_shape) == 1:
            return self
        flat = {
            f"x_{s}": None
            if getattr(self, f"x_{s}") is None
            else getattr(self, f"x_{s}").reshape(getattr(self, f"x_{s}").shape[0], -1)
            for s in SPLITS
        }
        return dataclasses.replace(self, **flat, image_shape=self.display_shape)

    def as_sequences(self) -> Dataset:
        """Images (N, H, W[, C]) as H-step sequences of W*C features (rows as time steps)."""
        if len(self.input_shape) == 2:
            return self
        if len(self.input_shape) != 3:
            raise ValueError(
                f"data.as_sequences reads images (H, W) or (H, W, C) row by row, got example shape {self.input_shape}"
            )
        h = self.input_shape[0]
        rows = {
            f"x_{s}": None
            if getattr(self, f"x_{s}") is None
            else getattr(self, f"x_{s}").reshape(getattr(self, f"x_{s}").shape[0], h, -1)
            for s in SPLITS
        }
        return dataclasses.replace(self, **rows, image_shape=self.display_shape)

    def summary(self) -> str:
        sizes = ", ".join(
            f"{s}={getattr(self, f'x_{s}').shape[0]}" for s in SPLITS if getattr(self, f"x_{s}") is not None
        )
        return f"{self.name}: {sizes}, example shape {self.input_shape}"


def from_arrays(
    x_train,
    x_val=None,
    x_test=None,
    *,
    y_train=None,
    y_val=None,
    y_test=None,
    value_range: tuple[float, float] | None = (0.0, 1.0),
    image_shape: tuple[int, ...] | None = None,
    name: str = "arrays",
) -> Dataset:
    """A Dataset from in-memory arrays; each is checked (dtype, shape, finite, range) with a clear error."""
    return Dataset(
        x_train=x_train,
        x_val=x_val,
        x_test=x_test,
        y_train=y_train,
        y_val=y_val,
        y_test=y_test,
        name=name,
        value_range=None if value_range is None else tuple(value_range),
        image_shape=None if image_shape is None else tuple(image_shape),
    )


def split_pool(
    x: np.ndarray,
    y: np.ndarray | None,
    val_fraction: float,
    test_fraction: float,
    seed: int,
) -> dict[str, np.ndarray | None]:
    """Shuffle one pool with `seed` and cut it into train/val/test by fractions (val/test may be 0)."""
    if not 0 <= val_fraction < 1 or not 0 <= test_fraction < 1 or val_fraction + test_fraction >= 1:
        raise ValueError(
            f"data.val_fraction={val_fraction} and data.test_fraction={test_fraction} must be in [0, 1) "
            "and sum to less than 1"
        )
    n = x.shape[0]
    order = np.random.default_rng(seed).permutation(n)
    n_val, n_test = round(n * val_fraction), round(n * test_fraction)
    if n - n_val - n_test < 1:
        raise ValueError(
            f"val_fraction={val_fraction} and test_fraction={test_fraction} leave no training examples out of {n}"
        )
    parts = {"val": order[:n_val], "test": order[n_val : n_val + n_test], "train": order[n_val + n_test :]}
    out = {}
    for split, idx in parts.items():
        out[f"x_{split}"] = x[idx] if idx.size else None
        out[f"y_{split}"] = y[idx] if (y is not None and idx.size) else None
    return out
