"""Modularity and explicitness (Ridgeway & Mozer 2018, "Learning Deep Disentangled Embeddings With the
F-Statistic Loss")."""

from __future__ import annotations

import numpy as np

from aejax.disentanglement._inputs import (
    as_finite_matrix,
    check_codes_factors,
    check_train_classes,
    encode_factors,
    split_rows,
    standardize,
)
from aejax.disentanglement.explicitness import explicitness
from aejax.disentanglement.mutual_info import discretize_codes, mutual_info_matrix


def modularity(
    codes, factors, *, num_bins: int = 20, train_fraction: float = 2 / 3, seed: int = 0
) -> dict[str, float]:
    """{"modularity", "explicitness"} of `codes` (N, K) against `factors` (N, F), each in [0, 1].

    modularity = `modularity_from_mutual_info` of the (K, F) discrete mutual information matrix, codes cut into
    `num_bins`=20 equal-width bins as in `mig` (all N rows; disentanglement_lib uses its 10,000 training points).
    explicitness = mean over factors of the one-vs-rest test ROC AUC of a logistic regression from all codes
    (standardized with the training rows' mean and std, as disentanglement_lib does) to the factor's class;
    rows shuffled with `seed` and split `train_fraction`=2/3 train / 1/3 test (disentanglement_lib's
    `modularity_explicitness.gin`: 10,000 train and 5,000 test points). Chance explicitness is 0.5.
    Modularity ignores how much a code says: codes of pure noise still score well above 0.
    """
    codes_NxK, factors_NxF = check_codes_factors(codes, factors)
    classes_NxF = encode_factors(factors_NxF)
    mi_KxF = mutual_info_matrix(discretize_codes(codes_NxK, num_bins), classes_NxF)
    train, test = split_rows(len(codes_NxK), train_fraction, seed)
    check_train_classes(classes_NxF, train)
    train_NxK, test_NxK = standardize(codes_NxK[train], codes_NxK[test])
    explicitness_F = [
        explicitness(train_NxK, labels_N[train], test_NxK, labels_N[test], seed) for labels_N in classes_NxF.T
    ]
    return {"modularity": modularity_from_mutual_info(mi_KxF), "explicitness": float(np.mean(explicitness_F))}


def modularity_from_mutual_info(mi_KxF) -> float:
    """Mean over codes of 1 - delta_i, where delta_i = sum_{j != j*} m_ij^2 / ((F - 1) m_ij*^2) is the squared
    deviation of code i's mutual informations m_i. from the template that keeps only its largest one m_ij*.
    A code with no information about any factor scores 0 (as in disentanglement_lib); with F == 1 every
    informative code scores 1."""
    mi_KxF = as_finite_matrix(mi_KxF, "mutual information matrix", "(num_codes, num_factors)")
    if np.any(mi_KxF < 0):
        raise ValueError("mutual informations must be non-negative, found negative entries")
    squared_KxF = mi_KxF**2
    largest_K = squared_KxF.max(axis=1)
    informative_K = largest_K > 0
    if mi_KxF.shape[1] == 1:
        return float(np.mean(informative_K))
    deviation_K = (squared_KxF.sum(axis=1) - largest_K) / (
        (mi_KxF.shape[1] - 1) * np.where(informative_K, largest_K, 1.0)
    )
    return float(np.mean(np.where(informative_K, 1.0 - deviation_K, 0.0)))
