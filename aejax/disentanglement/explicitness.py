"""Explicitness (Ridgeway & Mozer 2018): how well a linear classifier on all codes ranks each factor value."""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score


def explicitness(train_NxK, train_classes_N, test_NxK, test_classes_N, seed: int) -> float:
    """Mean one-vs-rest test ROC AUC of a multinomial logistic regression (sklearn defaults: lbfgs, C=1; up to
    1,000 iterations) predicting a factor's class from standardized codes; classes with no positive or no
    negative test row are left out of the mean."""
    model = LogisticRegression(max_iter=1000, random_state=seed).fit(train_NxK, train_classes_N)
    probabilities_NxC = model.predict_proba(test_NxK)
    aucs = []
    for column, label in enumerate(model.classes_):
        positives_N = test_classes_N == label
        if 0 < positives_N.sum() < len(positives_N):
            aucs.append(roc_auc_score(positives_N, probabilities_NxC[:, column]))
    return float(np.mean(aucs)) if aucs else 0.5
