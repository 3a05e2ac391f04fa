"""The FactorVAE disentanglement score (Kim & Mnih 2018, "Disentangling by Factorising")."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from aejax.disentanglement.intervention import (
    GroundTruth,
    check_sampling_args,
    fixed_factor_mask,
    point_groups,
    represent,
    sample_factor_batches,
)


def factor_vae_score(
    representation_fn: Callable[[np.ndarray], np.ndarray],
    ground_truth: GroundTruth,
    rng: np.random.Generator,
    *,
    batch_size: int = 64,
    num_train: int = 10000,
    num_eval: int = 5000,
    num_variance_estimate: int = 10000,
    prune_threshold: float = 0.05,
) -> dict[str, float]:
    """{"train_accuracy", "eval_accuracy", "num_active_dims"} of a majority-vote classifier from the code
    dimension that varies least in a batch to the factor the batch holds fixed.

    The global variance of each code dimension comes from `num_variance_estimate` random observations;
    dimensions whose global standard deviation is below `prune_threshold` are collapsed and dropped
    (disentanglement_lib's prune_dims compares sqrt(variance) with its threshold 0.05). Each point: a factor k
    drawn uniformly, `batch_size` factor draws that all take the first draw's value of k, and the vote
    argmin_d Var_batch(z_d) / Var_global(z_d) over the active dimensions. Each dimension is assigned the
    factor it votes for most on the `num_train` points; accuracy is the share of votes that agree with that
    assignment, on the training votes and on `num_eval` fresh points. Settings follow disentanglement_lib's
    `factor_vae_metric.gin` (batch 64, 10,000 train, 5,000 eval, 10,000 variance points, threshold 0.05);
    variances use ddof=1. Chance is about 1 / num_factors; with no active dimension every field is 0.
    Deterministic given `rng`; representation_fn sees up to 4,096 observations per call.
    """
    check_sampling_args(
        ground_truth,
        rng,
        batch_size=batch_size,
        num_train=num_train,
        num_eval=num_eval,
        num_variance_estimate=num_variance_estimate,
    )
    random_factors = sample_factor_batches(ground_truth, 1, num_variance_estimate, rng)[0]
    global_variance_K = np.var(
        represent(representation_fn, ground_truth, random_factors, rng), axis=0, ddof=1
    )
    active_K = np.sqrt(global_variance_K) >= prune_threshold
    if not active_K.any():
        return {"train_accuracy": 0.0, "eval_accuracy": 0.0, "num_active_dims": 0}
    sample = (representation_fn, ground_truth, rng, batch_size, global_variance_K, active_K)
    train_votes_FxA = least_variance_votes(*sample, num_train)
    eval_votes_FxA = least_variance_votes(*sample, num_eval)
    factor_of_dim_A = np.argmax(train_votes_FxA, axis=0)
    return {
        "train_accuracy": majority_vote_accuracy(train_votes_FxA, factor_of_dim_A),
        "eval_accuracy": majority_vote_accuracy(eval_votes_FxA, factor_of_dim_A),
        "num_active_dims": int(active_K.sum()),
    }


def least_variance_votes(
    representation_fn, ground_truth: GroundTruth, rng, batch_size, global_variance_K, active_K, num_points
) -> np.ndarray:
    """(num_factors, num_active) counts of (fixed factor, active dimension of least normalized variance)."""
    num_factors = int(ground_truth.num_factors)
    votes_FxA = np.zeros((num_factors, int(active_K.sum())), dtype=np.int64)
    for group in point_groups(num_points, batch_size):
        fixed_G = rng.integers(num_factors, size=group)
        factors_GxBxF = sample_factor_batches(ground_truth, group, batch_size, rng)
        factors_GxBxF = np.where(fixed_factor_mask(fixed_G, num_factors), factors_GxBxF[:, :1], factors_GxBxF)
        codes = represent(representation_fn, ground_truth, factors_GxBxF.reshape(-1, num_factors), rng)
        codes_GxBxA = codes.reshape(group, batch_size, -1)[..., active_K]
        normalized_GxA = np.var(codes_GxBxA, axis=1, ddof=1) / global_variance_K[active_K]
        np.add.at(votes_FxA, (fixed_G, np.argmin(normalized_GxA, axis=1)), 1)
    return votes_FxA


def majority_vote_accuracy(votes_FxA: np.ndarray, factor_of_dim_A: np.ndarray) -> float:
    """Share of the votes cast for the factor each dimension was assigned."""
    agreeing = votes_FxA[factor_of_dim_A, np.arange(votes_FxA.shape[1])].sum()
    return float(agreeing / max(1, votes_FxA.sum()))
