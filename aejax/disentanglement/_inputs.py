"""Checks and shared preparation of the (codes, factors) arrays every disentanglement metric takes."""

from __future__ import annotations

import math

import numpy as np

MIN_ROWS = 10


def as_finite_matrix(array, name: str, form: str) -> np.ndarray:
    """`array` as a finite float64 matrix; errors name `name` and the expected `form`, e.g. "(num_rows, K)"."""
    try:
        matrix = np.asarray(array, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"{name} must be a numeric array of shape {form}, got {type(array).__name__}"
        ) from err
    if matrix.ndim != 2:
        raise ValueError(f"{name} must have shape {form}, got shape {matrix.shape}")
    bad = int(np.size(matrix) - np.count_nonzero(np.isfinite(matrix)))
    if bad:
        raise ValueError(f"{name} must be finite, found {bad} NaN or infinite entries")
    return matrix


def check_codes_factors(codes, factors, *, min_codes: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """(codes_NxK, factors_NxF) as float64 matrices with one row per example, at least MIN_ROWS rows and
    `min_codes` code dimensions."""
    codes_NxK = as_finite_matrix(codes, "codes", "(num_rows, num_codes)")
    factors_NxF = as_finite_matrix(factors, "factors", "(num_rows, num_factors)")
    if codes_NxK.shape[0] != factors_NxF.shape[0]:
        raise ValueError(
            "codes and factors need one row per example, "
            f"got {codes_NxK.shape[0]} code rows and {factors_NxF.shape[0]} factor rows"
        )
    if codes_NxK.shape[0] < MIN_ROWS:
        raise ValueError(f"codes and factors need at least {MIN_ROWS} rows, got {codes_NxK.shape[0]}")
    if codes_NxK.shape[1] < min_codes:
        raise ValueError(f"this metric needs at least {min_codes} code dimensions, got {codes_NxK.shape[1]}")
    if factors_NxF.shape[1] < 1:
        raise ValueError("factors need at least one column (one per ground-truth factor), got 0")
    return codes_NxK, factors_NxF


def encode_factors(factors_NxF: np.ndarray) -> np.ndarray:
    """Each factor's values as integer classes 0..C-1 in the order of its sorted unique values; every factor
    must vary (a constant factor has no entropy to explain)."""
    classes = np.empty(factors_NxF.shape, dtype=np.int64)
    for j, column in enumerate(factors_NxF.T):
        values, classes[:, j] = np.unique(column, return_inverse=True)
        if len(values) < 2:
            raise ValueError(f"factor {j} takes the single value {values[0]!r}; every factor must vary")
    return classes


def split_rows(num_rows: int, train_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train_rows, test_rows): a seeded shuffle of range(num_rows) cut at ceil(train_fraction * num_rows)."""
    if not 0.0 < train_fraction < 1.0:
        raise ValueError(f"train_fraction must lie strictly between 0 and 1, got {train_fraction}")
    order = np.random.default_rng(seed).permutation(num_rows)
    num_train = math.ceil(train_fraction * num_rows)
    if num_train >= num_rows:
        raise ValueError(f"train_fraction={train_fraction} of {num_rows} rows leaves no test rows")
    return order[:num_train], order[num_train:]


def check_train_classes(classes_NxF: np.ndarray, train_rows: np.ndarray) -> None:
    """Every factor needs two classes among the training rows for a classifier to be fitted."""
    for j, column in enumerate(classes_NxF[train_rows].T):
        if np.unique(column).size < 2:
            raise ValueError(
                f"factor {j} takes a single value on the {len(train_rows)} training rows; give more rows"
            )


def standardize(train_NxD: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    """Every array shifted and scaled by the training rows' per-column mean and std (constant columns: std 1)."""
    mean_D = train_NxD.mean(axis=0)
    std_D = train_NxD.std(axis=0)
    std_D = np.where(std_D > 0, std_D, 1.0)
    return [(array - mean_D) / std_D for array in (train_NxD, *others)]
