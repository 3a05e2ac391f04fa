"""The variational autoencoder: a Gaussian encoder head q(z|x) = N(mean, diag(exp(log_variance))), a standard
normal prior, and a decoder likelihood p(x|z) (Bernoulli logits, or Gaussian with a fixed or learned scale).

Units are nats per example throughout: log-likelihoods are summed over the features of an example.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import linen as nn
from flax import struct

from aejax.models.autoencoder import check_input_shape
from aejax.models.layers import get_activation

LIKELIHOODS = ("bernoulli", "gaussian", "gaussian_learned")
LOG_2PI = math.log(2.0 * math.pi)


@struct.dataclass
class VAEOutput:
    reconstruction: jax.Array  # the decoder's mean in data space
    code: jax.Array  # the latent sample z used for the reconstruction (the mean when not sampling)
    logits: jax.Array  # decoder output before the output activation
    mean: jax.Array  # (batch, latent_dim) of q(z|x)
    log_variance: jax.Array  # (batch, latent_dim) of q(z|x)
    log_scale: jax.Array | None = None  # per-feature log sigma of a learned Gaussian likelihood


def diagonal_gaussian_log_density(z: jax.Array, mean: jax.Array, log_variance: jax.Array) -> jax.Array:
    """log N(z; mean, diag(exp(log_variance))) summed over the last axis."""
    return -0.5 * jnp.sum(LOG_2PI + log_variance + jnp.square(z - mean) * jnp.exp(-log_variance), axis=-1)


def standard_normal_log_density(z: jax.Array) -> jax.Array:
    return -0.5 * jnp.sum(LOG_2PI + jnp.square(z), axis=-1)


def kl_to_standard_normal(mean: jax.Array, log_variance: jax.Array) -> jax.Array:
    """KL(N(mean, diag(exp(log_variance))) || N(0, I)) per latent unit (closed form), in nats."""
    return 0.5 * (jnp.square(mean) + jnp.exp(log_variance) - 1.0 - log_variance)


def bernoulli_log_likelihood(logits: jax.Array, x: jax.Array) -> jax.Array:
    """log p(x | logits), summed over the features of each example (x in [0, 1])."""
    flat_l = logits.reshape(logits.shape[0], -1)
    flat_x = x.reshape(x.shape[0], -1)
    nll = jnp.maximum(flat_l, 0) - flat_l * flat_x + jnp.log1p(jnp.exp(-jnp.abs(flat_l)))
    return -jnp.sum(nll, axis=1)


def gaussian_log_likelihood(mean: jax.Array, log_scale: jax.Array, x: jax.Array) -> jax.Array:
    """log N(x; mean, diag(exp(2 log_scale))), summed over the features of each example."""
    flat_m = mean.reshape(mean.shape[0], -1)
    flat_x = x.reshape(x.shape[0], -1)
    flat_s = jnp.broadcast_to(log_scale, mean.shape).reshape(mean.shape[0], -1)
    z = (flat_x - flat_m) * jnp.exp(-flat_s)
    return -jnp.sum(0.5 * LOG_2PI + flat_s + 0.5 * jnp.square(z), axis=1)


class VariationalAutoencoder(nn.Module):
    """encoder (2 * latent_dim outputs: mean, log-variance) -> z -> decoder -> p(x|z).

    `encode` returns the posterior mean (a deterministic code for downstream use); `__call__` samples z by
    reparameterisation with the 'latent' rng when `sample` (default: when training).
    """

    encoder: nn.Module
    decoder: nn.Module
    input_shape: tuple[int, ...]
    latent_dim: int
    output_activation: str = "sigmoid"
    likelihood: str = "bernoulli"
    gaussian_scale: float = 1.0  # fixed sigma of the 'gaussian' likelihood

    def setup(self):
        if self.likelihood == "gaussian_learned":  # one log sigma per feature, learned with the rest
            self.learned_log_scale = self.param("log_scale", nn.initializers.zeros, tuple(self.input_shape))

    def posterior(self, x: jax.Array, *, train: bool = False) -> tuple[jax.Array, jax.Array]:
        check_input_shape(x, self.input_shape)
        h = self.encoder(x, train=train)
        if h.shape[-1] != 2 * self.latent_dim:
            raise ValueError(
                f"a VAE encoder must output 2 * latent_dim = {2 * self.latent_dim} features, got {h.shape}"
            )
        mean, log_variance = jnp.split(h, 2, axis=-1)
        return mean, log_variance

    def encode(self, x: jax.Array, *, train: bool = False) -> jax.Array:
        return self.posterior(x, train=train)[0]

    def decode_logits(self, z: jax.Array, *, train: bool = False) -> jax.Array:
        check_input_shape(z, (self.latent_dim,), who="decoder")
        return self.decoder(z, train=train)

    def decode(self, z: jax.Array, *, train: bool = False) -> jax.Array:
        return get_activation(self.output_activation)(self.decode_logits(z, train=train))

    def _log_scale(self) -> jax.Array:
        if self.likelihood == "gaussian_learned":
            return self.learned_log_scale
        return jnp.full((), math.log(self.gaussian_scale))

    def log_likelihood_of(self, logits: jax.Array, x: jax.Array) -> jax.Array:
        """log p(x|z) per example from the decoder logits, in nats."""
        if self.likelihood == "bernoulli":
            return bernoulli_log_likelihood(logits, x)
        mean = get_activation(self.output_activation)(logits)
        return gaussian_log_likelihood(mean, self._log_scale(), x)

    def __call__(self, x: jax.Array, *, train: bool = False, sample: bool | None = None) -> VAEOutput:
        mean, log_variance = self.posterior(x, train=train)
        z = mean
        if train if sample is None else sample:
            eps = jax.random.normal(self.make_rng("latent"), mean.shape, mean.dtype)
            z = mean + jnp.exp(0.5 * log_variance) * eps
        logits = self.decode_logits(z, train=train)
        return VAEOutput(
            reconstruction=get_activation(self.output_activation)(logits),
            code=z,
            logits=logits,
            mean=mean,
            log_variance=log_variance,
            log_scale=self._log_scale() if self.likelihood != "bernoulli" else None,
        )

    def prior_sample(self, rng: jax.Array, num: int) -> jax.Array:
        """(num, latent_dim) draws from the prior N(0, I)."""
        return jax.random.normal(rng, (num, self.latent_dim))

    def log_weights(self, x: jax.Array, num_samples: int, *, train: bool = False) -> jax.Array:
        """(batch, num_samples) importance log-weights log p(x|z) + log p(z) - log q(z|x), z ~ q(z|x)."""
        mean, log_variance = self.posterior(x, train=train)
        eps = jax.random.normal(self.make_rng("latent"), (num_samples, *mean.shape), mean.dtype)
        z = mean + jnp.exp(0.5 * log_variance) * eps  # (k, batch, latent)
        logits = self.decode_logits(z.reshape(-1, self.latent_dim), train=train)
        repeated = jnp.broadcast_to(x, (num_samples, *x.shape)).reshape(-1, *x.shape[1:])
        log_px = self.log_likelihood_of(logits, repeated).reshape(num_samples, -1)
        log_w = log_px + standard_normal_log_density(z) - diagonal_gaussian_log_density(z, mean, log_variance)
        return log_w.T
