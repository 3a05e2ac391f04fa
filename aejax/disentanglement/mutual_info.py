"""Discrete entropy and mutual information (nats) of integer labels, and equal-width histogram binning of codes."""

from __future__ import annotations

import numpy as np


def discretize_codes(codes_NxK: np.ndarray, num_bins: int) -> np.ndarray:
    """Each code dimension cut into `num_bins` equal-width bins between its min and max: integer bins 0..num_bins-1
    (the max lands in the last bin; a constant dimension lands in bin 0). disentanglement_lib's histogram
    discretizer bins the same way."""
    if int(num_bins) != num_bins or num_bins < 2:
        raise ValueError(f"num_bins must be an integer >= 2, got {num_bins!r}")
    low_K = codes_NxK.min(axis=0)
    span_K = codes_NxK.max(axis=0) - low_K
    scaled_NxK = (codes_NxK - low_K) / np.where(span_K > 0, span_K, 1.0)
    return np.minimum(np.floor(scaled_NxK * num_bins).astype(np.int64), int(num_bins) - 1)


def discrete_entropy(labels_N: np.ndarray) -> float:
    """H(X) = -sum_x p(x) log p(x), in nats, of non-negative integer labels."""
    counts = np.bincount(np.asarray(labels_N))
    p = counts[counts > 0] / len(labels_N)
    return float(-np.sum(p * np.log(p)))


def discrete_mutual_info(a_N: np.ndarray, b_N: np.ndarray) -> float:
    """I(A; B) = sum_ab p(a, b) log(p(a, b) / (p(a) p(b))), in nats, of two non-negative integer label vectors."""
    a_N, b_N = np.asarray(a_N), np.asarray(b_N)
    num_b = int(b_N.max()) + 1
    joint = np.bincount(a_N * num_b + b_N, minlength=(int(a_N.max()) + 1) * num_b).reshape(-1, num_b)
    joint = joint / len(a_N)
    independent = joint.sum(axis=1, keepdims=True) * joint.sum(axis=0, keepdims=True)
    seen = joint > 0
    return max(0.0, float(np.sum(joint[seen] * np.log(joint[seen] / independent[seen]))))


def mutual_info_matrix(binned_codes_NxK: np.ndarray, classes_NxF: np.ndarray) -> np.ndarray:
    """(K, F) matrix of I(code_k; factor_j) in nats."""
    return np.array(
        [[discrete_mutual_info(code, factor) for factor in classes_NxF.T] for code in binned_codes_NxK.T]
    )
