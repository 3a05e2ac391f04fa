"""Regularizers of a VAE's code that favour disentangled (factorised) representations, as pure functions of
a `Forward` (variational models: the output carries `mean`, `log_variance` and the sampled `code`).

beta-TCVAE (Chen et al. 2018) splits the batch mean of KL(q(z|x) || p(z)) into three terms, each a regularizer
of its own with its own weight (alpha, beta, gamma in the paper; beta-TCVAE is 1, beta, 1):

    index-code mutual information  E[log q(z|x) - log q(z)]            `tc_mutual_information`
    total correlation              E[log q(z) - sum_j log q(z_j)]      `total_correlation`
    dimension-wise KL              E[sum_j log q(z_j) - log p(z_j)]    `dimensionwise_kl`

The aggregate posterior q(z) and its marginals q(z_j) are estimated on the batch by minibatch-weighted sampling
(the paper's MWS, its eq. 5): log q(z_i) ~ logsumexp_m log q(z_i | x_m) - log(N M) for a batch of M codes of a
dataset of N examples (`dataset_size`; 0 counts the batch as the dataset, N = M). N shifts every term by a
constant and never changes a gradient. The three terms sum to the MWS estimate of the KL (tested).

DIP-VAE (Kumar et al. 2018) matches the covariance of the codes to the identity (`dip_covariance`), and the
annealed capacity objective (Burgess et al. 2018) holds the KL near a target that grows during training
(`kl_capacity`).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from aejax.models.vae import LOG_2PI, kl_to_standard_normal
from aejax.objectives.forward import Forward


def _posterior(forward: Forward, who: str) -> tuple[jax.Array, jax.Array, jax.Array]:
    """(z, mean, log_variance), each (batch, latent): the sampled code and the posterior's parameters."""
    output = forward.output
    if not hasattr(output, "log_variance"):
        raise ValueError(f"{who} needs a variational model (model.family='vae' or 'factorvae')")
    flat = lambda a: a.reshape(a.shape[0], -1)
    return flat(output.code), flat(output.mean), flat(output.log_variance)


def _pairwise_log_density(z: jax.Array, mean: jax.Array, log_variance: jax.Array) -> jax.Array:
    """(M, M, K): log N(z_ik; mean_jk, exp(log_variance_jk)) for every code i, posterior j and unit k."""
    diff = z[:, None, :] - mean[None, :, :]
    return -0.5 * (LOG_2PI + log_variance[None] + jnp.square(diff) * jnp.exp(-log_variance[None]))


def _log_normalizer(batch: int, dataset_size: int) -> float:
    if dataset_size < 0:
        raise ValueError(f"dataset_size must be >= 0 (0: the batch is the dataset), got {dataset_size}")
    return math.log((dataset_size or batch) * batch)


def _densities(forward: Forward, dataset_size: int, who: str) -> dict[str, jax.Array]:
    """Per example: log q(z|x), the MWS estimates of log q(z) and sum_j log q(z_j), and log p(z)."""
    z, mean, log_variance = _posterior(forward, who)
    pairwise = _pairwise_log_density(z, mean, log_variance)
    offset = _log_normalizer(z.shape[0], dataset_size)
    return {
        "conditional": jnp.sum(jnp.diagonal(pairwise, axis1=0, axis2=1), axis=0),
        "joint": jax.nn.logsumexp(jnp.sum(pairwise, axis=2), axis=1) - offset,
        "marginals": jnp.sum(jax.nn.logsumexp(pairwise, axis=1) - offset, axis=1),
        "prior": -0.5 * jnp.sum(LOG_2PI + jnp.square(z), axis=1),
    }


def tc_mutual_information(forward: Forward, *, dataset_size: int = 0) -> jax.Array:
    """beta-TCVAE's index-code mutual information I(x; z), in nats, batch mean (MWS estimate)."""
    d = _densities(forward, dataset_size, "tc_mutual_information")
    return jnp.mean(d["conditional"] - d["joint"])


def total_correlation(forward: Forward, *, dataset_size: int = 0) -> jax.Array:
    """Total correlation KL(q(z) || prod_j q(z_j)) of the codes, in nats, batch mean (MWS estimate)."""
    d = _densities(forward, dataset_size, "total_correlation")
    return jnp.mean(d["joint"] - d["marginals"])


def dimensionwise_kl(forward: Forward, *, dataset_size: int = 0) -> jax.Array:
    """sum_j KL(q(z_j) || p(z_j)) of the aggregate posterior's marginals, in nats, batch mean (MWS estimate)."""
    d = _densities(forward, dataset_size, "dimensionwise_kl")
    return jnp.mean(d["marginals"] - d["prior"])


def code_covariance(forward: Forward, kind: str) -> jax.Array:
    """(K, K) covariance DIP-VAE matches to I: of the posterior means over the batch ('i'), or of q(z) itself,
    Cov[mean] + E[diag(exp(log_variance))] ('ii')."""
    _, mean, log_variance = _posterior(forward, "dip_covariance")
    centred = mean - jnp.mean(mean, axis=0, keepdims=True)
    covariance = centred.T @ centred / mean.shape[0]
    if kind == "ii":
        covariance = covariance + jnp.diag(jnp.mean(jnp.exp(log_variance), axis=0))
    return covariance


def dip_covariance(forward: Forward, *, kind: str = "i", diagonal_weight: float | None = None) -> jax.Array:
    """DIP-VAE's penalty: sum_{i != j} C_ij^2 + diagonal_weight * sum_i (C_ii - 1)^2, C from `code_covariance`.

    The regularizer's weight is lambda_od of the paper; `diagonal_weight` is lambda_d / lambda_od, None giving
    the paper's choice: 10 for DIP-VAE-I (kind 'i'), 1 for DIP-VAE-II (kind 'ii')."""
    if kind not in ("i", "ii"):
        raise ValueError(f"dip_covariance: kind must be 'i' or 'ii', got {kind!r}")
    if diagonal_weight is not None and diagonal_weight < 0:
        raise ValueError(f"dip_covariance: diagonal_weight must be >= 0, got {diagonal_weight}")
    ratio = (10.0 if kind == "i" else 1.0) if diagonal_weight is None else float(diagonal_weight)
    covariance = code_covariance(forward, kind)
    diagonal = jnp.diagonal(covariance)
    off_diagonal = jnp.sum(jnp.square(covariance)) - jnp.sum(jnp.square(diagonal))
    return off_diagonal + ratio * jnp.sum(jnp.square(diagonal - 1.0))


def capacity_at(step, max_capacity: float, capacity_steps: int) -> jax.Array:
    """The KL target C in nats: 0 at step 0, rising linearly to max_capacity at capacity_steps, then flat
    (max_capacity outside training, where there is no step)."""
    if step is None:
        return jnp.asarray(max_capacity, jnp.float32)
    fraction = jnp.minimum(1.0, jnp.asarray(step, jnp.float32) / capacity_steps)
    return max_capacity * fraction


def kl_capacity(forward: Forward, *, max_capacity: float = 25.0, capacity_steps: int = 100_000) -> jax.Array:
    """|KL(q(z|x) || N(0, I)) - C| with the batch-mean KL in nats and C from `capacity_at` (Burgess et al.
    2018; they use weight gamma = 1000, C up to 25 nats over 100,000 steps on dSprites)."""
    if max_capacity < 0 or capacity_steps < 1:
        raise ValueError(
            f"kl_capacity needs max_capacity >= 0 and capacity_steps >= 1, got {max_capacity}, {capacity_steps}"
        )
    _, mean, log_variance = _posterior(forward, "kl_capacity")
    kl = jnp.mean(jnp.sum(kl_to_standard_normal(mean, log_variance), axis=1))
    return jnp.abs(kl - capacity_at(forward.step, max_capacity, capacity_steps))


# Every term here is a function of the whole batch (aggregate posterior, covariance, batch-mean KL): automatic
# microbatching stays off for objectives that hold one (see aejax.objectives.regularizers.per_example).
for _fn in (tc_mutual_information, total_correlation, dimensionwise_kl, dip_covariance, kl_capacity):
    _fn.per_example = False

DISENTANGLING = {
    "tc_mutual_information": tc_mutual_information,
    "total_correlation": total_correlation,
    "dimensionwise_kl": dimensionwise_kl,
    "dip_covariance": dip_covariance,
    "kl_capacity": kl_capacity,
}
