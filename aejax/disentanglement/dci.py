"""Disentanglement, completeness and informativeness (Eastwood & Williams 2018, "A Framework for the Quantitative
Evaluation of Disentangled Representations")."""

from __future__ import annotations

import numpy as np
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier

from aejax._registry import lookup
from aejax.disentanglement._inputs import (
    as_finite_matrix,
    check_codes_factors,
    check_train_classes,
    encode_factors,
    split_rows,
)

# name -> (seed -> an unfitted scikit-learn classifier with `feature_importances_`)
CLASSIFIERS = {
    # disentanglement_lib's choice (sklearn defaults: 100 stages of depth-3 trees, one tree per class per stage)
    "gbt": lambda seed: GradientBoostingClassifier(random_state=seed),
    # the paper's random forest, cheap at many classes; every split weighs every code (max_features=None), as
    # boosted trees do, so importance does not leak to irrelevant codes through feature subsampling
    "random_forest": lambda seed: RandomForestClassifier(
        n_estimators=50, max_features=None, max_depth=10, random_state=seed
    ),
}


def dci(
    codes, factors, *, classifier: str = "gbt", train_fraction: float = 2 / 3, seed: int = 0
) -> dict[str, float]:
    """{"disentanglement", "completeness", "informativeness"} of `codes` (N, K) against `factors` (N, F).

    One classifier per factor predicts the factor's class (its unique values) from all K codes; its
    impurity-based `feature_importances_` give column j of the (K, F) importance matrix R, and
    `dci_from_importance(R)` gives disentanglement and completeness. Informativeness is the mean over factors
    of the classifier's test accuracy (the paper reports a prediction error; disentanglement_lib reports this
    accuracy as "informativeness_test"). Estimator: rows shuffled with `seed` and split `train_fraction`=2/3
    train / 1/3 test (disentanglement_lib's `dci.gin` draws 10,000 train and 5,000 test points).
    `classifier`: "gbt" (default, disentanglement_lib's sklearn GradientBoostingClassifier with default settings)
    or "random_forest" (the paper's other regressor, here a classifier of 50 trees of depth <= 10 whose splits
    consider every code). Boosting fits one tree per class per stage, so a 40-class factor costs 4,000 trees:
    at N=10,000, K=10 and factors of sizes (3, 6, 40, 32, 32), "gbt" took 3-4 minutes and "random_forest"
    8-14 s on a shared 2-core CPU; use "random_forest" on a CPU budget.
    """
    make_classifier = lookup(CLASSIFIERS, classifier, "DCI classifier")
    codes_NxK, factors_NxF = check_codes_factors(codes, factors)
    classes_NxF = encode_factors(factors_NxF)
    train, test = split_rows(len(codes_NxK), train_fraction, seed)
    check_train_classes(classes_NxF, train)
    importance_KxF = np.zeros((codes_NxK.shape[1], classes_NxF.shape[1]))
    accuracy_F = np.zeros(classes_NxF.shape[1])
    for j, labels_N in enumerate(classes_NxF.T):
        model = make_classifier(seed).fit(codes_NxK[train], labels_N[train])
        importance_KxF[:, j] = np.abs(model.feature_importances_)
        accuracy_F[j] = np.mean(model.predict(codes_NxK[test]) == labels_N[test])
    return {**dci_from_importance(importance_KxF), "informativeness": float(np.mean(accuracy_F))}


def dci_from_importance(importance_KxF) -> dict[str, float]:
    """{"disentanglement", "completeness"} of a non-negative (num_codes K, num_factors F) importance matrix R.

    disentanglement = sum_i rho_i (1 - H_F(P_i.)), where P_i. is row i normalized to sum 1, H_F the entropy in
    base F, and rho_i = sum_j R_ij / sum R (codes that matter weigh more); completeness = mean_j (1 - H_K(P_.j))
    over the columns normalized to sum 1 (disentanglement_lib weighs factors by their column sums, which are
    equal for tree importances). An all-zero row or column scores 0; a single factor (or code) scores 1.
    """
    importance_KxF = as_finite_matrix(importance_KxF, "importance matrix", "(num_codes, num_factors)")
    if np.any(importance_KxF < 0):
        raise ValueError("importance matrix entries must be non-negative, found negative ones")
    total = importance_KxF.sum()
    if total == 0:
        return {"disentanglement": 0.0, "completeness": 0.0}
    code_weight_K = importance_KxF.sum(axis=1) / total
    disentanglement_K = one_minus_normalized_entropy(importance_KxF)
    completeness_F = one_minus_normalized_entropy(importance_KxF.T)
    return {
        "disentanglement": float(np.sum(code_weight_K * disentanglement_K)),
        "completeness": float(np.mean(completeness_F)),
    }


def one_minus_normalized_entropy(weights_RxC: np.ndarray) -> np.ndarray:
    """Per row: 1 - entropy (base C) of the row normalized to sum 1; 0 for an all-zero row, 1 when C == 1."""
    totals_R = weights_RxC.sum(axis=1)
    nonzero_R = totals_R > 0
    if weights_RxC.shape[1] == 1:
        return nonzero_R.astype(np.float64)
    p_RxC = weights_RxC / np.where(nonzero_R, totals_R, 1.0)[:, None]
    plogp_RxC = np.where(p_RxC > 0, p_RxC * np.log(np.where(p_RxC > 0, p_RxC, 1.0)), 0.0)
    entropy_R = -plogp_RxC.sum(axis=1) / np.log(weights_RxC.shape[1])
    return np.where(nonzero_R, 1.0 - entropy_R, 0.0)
