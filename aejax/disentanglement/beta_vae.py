"""The beta-VAE disentanglement score (Higgins et al. 2017, "beta-VAE: Learning Basic Visual Concepts with a
Constrained Variational Framework")."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from sklearn.linear_model import LogisticRegression

from aejax.disentanglement._inputs import standardize
from aejax.disentanglement.intervention import (
    GroundTruth,
    check_sampling_args,
    fixed_factor_mask,
    point_groups,
    represent,
    sample_factor_batches,
)


def beta_vae_score(
    representation_fn: Callable[[np.ndarray], np.ndarray],
    ground_truth: GroundTruth,
    rng: np.random.Generator,
    *,
    batch_size: int = 64,
    num_train: int = 10000,
    num_eval: int = 5000,
) -> dict[str, float]:
    """{"train_accuracy", "eval_accuracy"} of a linear classifier that tells which factor a batch of pairs shares.

    Each point: a factor k drawn uniformly, `batch_size` pairs of factor draws that agree on factor k only, and
    the feature mean_b |z1_b - z2_b| of their codes; `num_train` points fit the classifier and `num_eval` fresh
    points score it. Settings follow disentanglement_lib's `beta_vae_sklearn.gin` (batch_size 64, 10,000 train,
    5,000 eval points) and its scikit-learn LogisticRegression (defaults: lbfgs, C=1; here up to 1,000
    iterations, on features standardized with the training points' mean and std, the paper's linear
    classifier). Chance is about 1 / num_factors. Deterministic given `rng`; representation_fn sees up to 4,096
    observations per call (2 * batch_size * (num_train + num_eval) in all).
    """
    check_sampling_args(
        ground_truth, rng, min_factors=2, batch_size=batch_size, num_train=num_train, num_eval=num_eval
    )
    train_x, train_y = difference_features(representation_fn, ground_truth, rng, batch_size, num_train)
    eval_x, eval_y = difference_features(representation_fn, ground_truth, rng, batch_size, num_eval)
    if np.unique(train_y).size < 2:
        raise ValueError(f"num_train={num_train} points drew a single fixed factor; use more training points")
    train_x, eval_x = standardize(train_x, eval_x)
    model = LogisticRegression(max_iter=1000, random_state=int(rng.integers(2**31)))
    model.fit(train_x, train_y)
    return {
        "train_accuracy": float(np.mean(model.predict(train_x) == train_y)),
        "eval_accuracy": float(np.mean(model.predict(eval_x) == eval_y)),
    }


def difference_features(representation_fn, ground_truth: GroundTruth, rng, batch_size: int, num_points: int):
    """(features (num_points, K), fixed factor (num_points,)): per point, mean |z1 - z2| over a batch of pairs
    that share the value of one uniformly drawn factor."""
    num_factors = int(ground_truth.num_factors)
    features, labels = [], []
    for group in point_groups(num_points, 2 * batch_size):
        fixed_G = rng.integers(num_factors, size=group)
        first_GxBxF = sample_factor_batches(ground_truth, group, batch_size, rng)
        second_GxBxF = sample_factor_batches(ground_truth, group, batch_size, rng)
        second_GxBxF = np.where(fixed_factor_mask(fixed_G, num_factors), first_GxBxF, second_GxBxF)
        both = np.concatenate([first_GxBxF, second_GxBxF]).reshape(2 * group * batch_size, num_factors)
        codes_2xGxBxK = represent(representation_fn, ground_truth, both, rng).reshape(
            2, group, batch_size, -1
        )
        features.append(np.mean(np.abs(codes_2xGxBxK[0] - codes_2xGxBxK[1]), axis=1))
        labels.append(fixed_G)
    return np.concatenate(features), np.concatenate(labels)
