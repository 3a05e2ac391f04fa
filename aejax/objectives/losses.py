"""Reconstruction losses: pure per-example functions `loss(output, target) -> (batch,)`.

Units: `mse` and `l1` are means over the features of one example; `bernoulli` is the negative
log-likelihood in nats summed over the features of one example (targets in [0, 1]); `observed_sse` is
the squared error summed over the observed (non-zero) entries of a rating vector.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import jax
import jax.numpy as jnp

from aejax._registry import lookup
from aejax.models.autoencoder import AutoencoderOutput


def _per_example_mean(values: jax.Array) -> jax.Array:
    return jnp.mean(values.reshape(values.shape[0], -1), axis=1)


def _per_example_sum(values: jax.Array) -> jax.Array:
    return jnp.sum(values.reshape(values.shape[0], -1), axis=1)


def _time_mask(output, target: jax.Array) -> jax.Array | None:
    """The (batch, time) padding mask of a sequence model's record, when it has one for (batch, T, F) data."""
    mask = getattr(output, "mask", None)
    if mask is None or target.ndim != 3 or mask.shape != target.shape[:2]:
        return None
    return mask


def _masked_mean(values: jax.Array, mask: jax.Array | None) -> jax.Array:
    """Per-example mean over features, counting only real time steps when `mask` is given (an all-padding
    example scores 0)."""
    if mask is None:
        return _per_example_mean(values)
    weights = mask.astype(values.dtype)[..., None]
    total = jnp.sum(values * weights, axis=(1, 2))
    count = jnp.sum(weights, axis=(1, 2)) * values.shape[-1]
    return jnp.where(count > 0, total / jnp.maximum(count, 1), 0.0)


def mean_squared_error(output: AutoencoderOutput, target: jax.Array) -> jax.Array:
    """Mean over features of (reconstruction - target)^2 (over real time steps only, for padded sequences)."""
    return _masked_mean(jnp.square(output.reconstruction - target), _time_mask(output, target))


def squared_error_per_example(output, target: jax.Array) -> jax.Array:
    """The per-feature MSE every eval reports, whatever the training loss (padding excluded)."""
    return mean_squared_error(output, target)


def mean_absolute_error(output: AutoencoderOutput, target: jax.Array) -> jax.Array:
    """Mean over features of |reconstruction - target| (over real time steps only, for padded sequences)."""
    return _masked_mean(jnp.abs(output.reconstruction - target), _time_mask(output, target))


def hidden_patch_mse(output, target: jax.Array) -> jax.Array:
    """Masked-patch training (attention family): the MSE over the patches hidden from the encoder only
    (output.token_mask); an example with nothing hidden (evaluation) is scored on every patch."""
    token_mask = getattr(output, "token_mask", None)
    if token_mask is None:
        raise ValueError(
            "loss.reconstruction='hidden_mse' needs a model with masked tokens (model.family='attention')"
        )
    squared = jnp.square(output.reconstruction - target)
    if target.ndim == 3:  # sequences: one token per time step
        per_token = jnp.mean(squared, axis=-1)
    else:  # images: tokens are non-overlapping p x p patches in row-major order
        b, h, w = target.shape[:3]
        p = math.isqrt(h * w // token_mask.shape[1])
        per_token = squared.reshape(b, h // p, p, w // p, p, -1).mean(axis=(2, 4, 5)).reshape(b, -1)
    hidden = token_mask.astype(per_token.dtype)
    count = jnp.sum(hidden, axis=1)
    return jnp.where(
        count > 0, jnp.sum(per_token * hidden, axis=1) / jnp.maximum(count, 1), per_token.mean(axis=1)
    )


def bernoulli_nll_from_logits(logits: jax.Array, target: jax.Array) -> jax.Array:
    """Elementwise -[t log sigmoid(l) + (1-t) log(1-sigmoid(l))], stable for any logit."""
    return jnp.maximum(logits, 0) - logits * target + jnp.log1p(jnp.exp(-jnp.abs(logits)))


def bernoulli_cross_entropy(output: AutoencoderOutput, target: jax.Array) -> jax.Array:
    """Bernoulli negative log-likelihood in nats, summed over features (needs decoder logits)."""
    return _per_example_sum(bernoulli_nll_from_logits(output.logits, target))


def observed_squared_error(output: AutoencoderOutput, target: jax.Array) -> jax.Array:
    """Squared error summed over the observed entries of one example (target != 0), as in AutoRec.

    For rating vectors where 0 marks an unobserved entry; unobserved entries cost nothing.
    """
    error = jnp.where(target != 0, jnp.square(output.reconstruction - target), 0.0)
    return _per_example_sum(error)


def gaussian_negative_log_likelihood(output, target: jax.Array) -> jax.Array:
    """-log N(target; reconstruction, exp(log_scale)^2) in nats, summed over features (VAE records only)."""
    log_scale = getattr(output, "log_scale", None)
    if log_scale is None:
        raise ValueError(
            "loss.reconstruction='gaussian' needs a model with a Gaussian likelihood (model.family='vae')"
        )
    flat = lambda a: a.reshape(a.shape[0], -1)
    scale = flat(jnp.broadcast_to(log_scale, output.reconstruction.shape))
    z = (flat(target) - flat(output.reconstruction)) * jnp.exp(-scale)
    return jnp.sum(0.5 * jnp.log(2 * jnp.pi) + scale + 0.5 * jnp.square(z), axis=1)


ReconstructionLoss = Callable[[AutoencoderOutput, jax.Array], jax.Array]

RECONSTRUCTION_LOSSES: dict[str, ReconstructionLoss] = {
    "mse": mean_squared_error,
    "l1": mean_absolute_error,
    "bernoulli": bernoulli_cross_entropy,
    "observed_sse": observed_squared_error,
    "gaussian": gaussian_negative_log_likelihood,
    "gaussian_learned": gaussian_negative_log_likelihood,
    "hidden_mse": hidden_patch_mse,
}


def get_reconstruction_loss(name: str) -> ReconstructionLoss:
    return lookup(RECONSTRUCTION_LOSSES, name, "reconstruction loss")
