"""Separated Attribute Predictability (Kumar et al. 2018, "Variational Inference of Disentangled Latent Concepts
from Unlabeled Observations", section 3)."""

from __future__ import annotations

import numpy as np
from sklearn.svm import LinearSVC

from aejax.disentanglement._inputs import (
    check_codes_factors,
    check_train_classes,
    encode_factors,
    split_rows,
    standardize,
)


def sap(
    codes, factors, *, continuous_factors: bool = False, train_fraction: float = 2 / 3, seed: int = 0
) -> float:
    """SAP score of `codes` (N, K) against `factors` (N, F): mean over factors of the gap between the two best
    single-code-dimension predictors of that factor, in [0, 1].

    Estimator (disentanglement_lib's `sap_score`, `sap_score.gin`): the rows are shuffled with `seed` and split
    `train_fraction`=2/3 train / 1/3 test (disentanglement_lib draws 10,000 train and 5,000 test points).
    Discrete factors (the default, continuous_factors=False): score(k, j) = test accuracy of a one-vs-rest
    LinearSVC(C=0.01, class_weight="balanced") fitted on code dimension k alone; unlike disentanglement_lib,
    each code dimension is first standardized with the training rows' mean and std, so the score does not
    depend on the code's units (C=0.01 regularizes strongly). Continuous factors: score(k, j) = R^2 of a
    linear fit of factor j on code k (squared Pearson correlation on the training rows; 0 for a constant code).
    A one-dimensional linear classifier separates few classes well, so even a perfect code scores below 1
    on factors with many classes; the gap to the second-best dimension is what SAP compares.
    """
    codes_NxK, factors_NxF = check_codes_factors(codes, factors, min_codes=2)
    classes_NxF = encode_factors(factors_NxF)
    train, test = split_rows(len(codes_NxK), train_fraction, seed)
    check_train_classes(classes_NxF, train)
    if continuous_factors:
        score_KxF = r_squared_matrix(codes_NxK[train], factors_NxF[train])
    else:
        score_KxF = accuracy_matrix(codes_NxK, classes_NxF, train, test, seed)
    return top_two_gap(score_KxF)


def accuracy_matrix(codes_NxK, classes_NxF, train, test, seed: int) -> np.ndarray:
    """(K, F) test accuracies of a LinearSVC predicting factor j's class from code dimension k alone."""
    train_NxK, test_NxK = standardize(codes_NxK[train], codes_NxK[test])
    score_KxF = np.zeros((codes_NxK.shape[1], classes_NxF.shape[1]))
    for k in range(codes_NxK.shape[1]):
        for j in range(classes_NxF.shape[1]):
            classifier = LinearSVC(C=0.01, class_weight="balanced", random_state=seed)
            classifier.fit(train_NxK[:, k : k + 1], classes_NxF[train, j])
            score_KxF[k, j] = np.mean(classifier.predict(test_NxK[:, k : k + 1]) == classes_NxF[test, j])
    return score_KxF


def r_squared_matrix(codes_NxK: np.ndarray, factors_NxF: np.ndarray) -> np.ndarray:
    """(K, F) squared Pearson correlations; 0 where a code dimension is constant."""
    varying_K = np.ptp(codes_NxK, axis=0) > 0
    centered_codes = np.where(varying_K, codes_NxK - codes_NxK.mean(axis=0), 0.0)
    centered_factors = factors_NxF - factors_NxF.mean(axis=0)
    covariance_KxF = centered_codes.T @ centered_factors
    code_ss_K = np.where(varying_K, np.sum(centered_codes**2, axis=0), 1.0)
    return covariance_KxF**2 / np.outer(code_ss_K, np.sum(centered_factors**2, axis=0))


def top_two_gap(score_KxF: np.ndarray) -> float:
    """mean over columns of (largest - second largest entry)."""
    top_two_2xF = np.sort(np.asarray(score_KxF, dtype=np.float64), axis=0)[-2:]
    return float(np.mean(top_two_2xF[1] - top_two_2xF[0]))
