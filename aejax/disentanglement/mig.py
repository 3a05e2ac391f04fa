"""Mutual Information Gap (Chen et al. 2018, "Isolating Sources of Disentanglement in VAEs")."""

from __future__ import annotations

import numpy as np

from aejax.disentanglement._inputs import check_codes_factors, encode_factors
from aejax.disentanglement.mutual_info import discrete_entropy, discretize_codes, mutual_info_matrix


def mig(codes, factors, *, num_bins: int = 20) -> float:
    """Mutual Information Gap of `codes` (N, K) against ground-truth `factors` (N, F), in [0, 1].

    MIG = mean_j (I(z_a; v_j) - I(z_b; v_j)) / H(v_j), where z_a and z_b are the two code dimensions with the
    highest mutual information with factor v_j. Estimator (disentanglement_lib's defaults, `mig.gin`): each
    code dimension is cut into `num_bins`=20 equal-width histogram bins; each factor is encoded as classes by
    its unique values; entropies and mutual informations are the plug-in discrete estimates over all N rows
    (disentanglement_lib draws 10,000). With equal-width bins a factor with more values than bins cannot reach
    1: its best code carries at most H(binned factor) / H(factor) (about log 20 / log 40 = 0.81 for 40 evenly
    spaced values); the plug-in estimate of an independent pair is biased up by about
    (bins - 1)(classes - 1) / (2N) nats.
    """
    codes_NxK, factors_NxF = check_codes_factors(codes, factors, min_codes=2)
    classes_NxF = encode_factors(factors_NxF)
    mi_KxF = mutual_info_matrix(discretize_codes(codes_NxK, num_bins), classes_NxF)
    entropies_F = np.array([discrete_entropy(column) for column in classes_NxF.T])
    return mig_from_mutual_info(mi_KxF, entropies_F)


def mig_from_mutual_info(mi_KxF: np.ndarray, entropies_F: np.ndarray) -> float:
    """mean_j (largest - second largest of column j of `mi_KxF`) / entropies_F[j]."""
    mi_KxF, entropies_F = np.asarray(mi_KxF, dtype=np.float64), np.asarray(entropies_F, dtype=np.float64)
    if mi_KxF.ndim != 2 or mi_KxF.shape[0] < 2 or entropies_F.shape != mi_KxF.shape[1:]:
        raise ValueError(
            "mig_from_mutual_info expects a (num_codes >= 2, num_factors) matrix and (num_factors,) entropies, "
            f"got {mi_KxF.shape} and {entropies_F.shape}"
        )
    if np.any(entropies_F <= 0):
        raise ValueError(f"factor entropies must be positive, got {entropies_F}")
    top_two_2xF = np.sort(mi_KxF, axis=0)[-2:]
    return float(np.mean((top_two_2xF[1] - top_two_2xF[0]) / entropies_F))
