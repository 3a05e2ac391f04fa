"""The adversarial autoencoder (Makhzani et al. 2015): a deterministic autoencoder whose code distribution is
pushed towards a prior p(z) by a discriminator on codes, and the priors it can match.

Priors (`AdversarialSpec.prior`):
- 'gaussian': N(0, I) over all latent_dim code units.
- 'mixture': K equally weighted Gaussians in code units 0 and 1, component k centred at
  r (cos 2 pi k / K, sin 2 pi k / K) with standard deviation s in both units; any further units are N(0, 1)
  (so the prior is that 2-D mixture times a standard normal on the remaining units).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import linen as nn

from aejax.models.autoencoder import Autoencoder
from aejax.models.layers import get_activation
from aejax.models.mlp import MLPStack

PRIORS = ("gaussian", "mixture")


@dataclasses.dataclass(frozen=True)
class AdversarialSpec:
    """Plain-value settings of the adversarial game (the `adversarial` section of a config).

    The discriminator and the generator (the encoder's regularization phase) each have their own Adam
    optimizer with first-moment decay `beta1`; a learning rate of 0 freezes that phase. The `train` settings
    (schedule, clipping, weight decay) apply to the reconstruction phase only.
    """

    prior: str = "gaussian"
    mixture_components: int = 10
    mixture_radius: float = 4.0
    mixture_std: float = 0.5
    discriminator_hidden: tuple[int, ...] = (256, 256)
    discriminator_activation: str = "leaky_relu"
    discriminator_learning_rate: float = 5e-4
    generator_learning_rate: float = 5e-4
    generator_weight: float = 1.0
    beta1: float = 0.5
    mmd_bandwidth: float = 0.0  # evaluation kernel width; 0: the median heuristic on prior samples
    eval_examples: int = 2000  # evaluation: codes (and as many prior samples) for MMD and accuracy

    def __post_init__(self):
        if self.prior not in PRIORS:
            raise ValueError(f"unknown adversarial.prior {self.prior!r}; valid: {', '.join(PRIORS)}")
        if self.mixture_components < 1:
            raise ValueError(f"adversarial.mixture_components must be >= 1, got {self.mixture_components}")
        if self.mixture_radius < 0 or self.mixture_std <= 0:
            raise ValueError(
                "adversarial.mixture_radius must be >= 0 and adversarial.mixture_std > 0, got "
                f"{self.mixture_radius} and {self.mixture_std}"
            )
        if any(w < 1 for w in self.discriminator_hidden):
            raise ValueError(
                f"adversarial.discriminator_hidden widths must be >= 1, got {self.discriminator_hidden}"
            )
        get_activation(self.discriminator_activation)
        for name in (
            "discriminator_learning_rate",
            "generator_learning_rate",
            "generator_weight",
            "mmd_bandwidth",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"adversarial.{name} must be >= 0, got {getattr(self, name)}")
        if not 0 <= self.beta1 < 1:
            raise ValueError(f"adversarial.beta1 must be in [0, 1), got {self.beta1}")
        if self.eval_examples < 2:
            raise ValueError(f"adversarial.eval_examples must be >= 2, got {self.eval_examples}")

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> AdversarialSpec:
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
        return cls(**values)

    def optimizers(self) -> tuple[optax.GradientTransformation, optax.GradientTransformation]:
        """(discriminator, generator) optimizers; the generator's acts on the encoder's parameters only."""
        return (
            optax.adam(self.discriminator_learning_rate, b1=self.beta1),
            optax.adam(self.generator_learning_rate, b1=self.beta1),
        )


def mixture_means(spec: AdversarialSpec, latent_dim: int) -> np.ndarray:
    """(K, latent_dim) component means: on a circle of radius r in units 0 and 1, zero elsewhere."""
    angles = 2.0 * np.pi * np.arange(spec.mixture_components) / spec.mixture_components
    means = np.zeros((spec.mixture_components, latent_dim), np.float32)
    means[:, 0] = spec.mixture_radius * np.cos(angles)
    means[:, 1] = spec.mixture_radius * np.sin(angles)
    return means


def mixture_scales(spec: AdversarialSpec, latent_dim: int) -> np.ndarray:
    """(latent_dim,) per-unit standard deviation of every component: s in units 0 and 1, 1 elsewhere."""
    scales = np.ones(latent_dim, np.float32)
    scales[:2] = spec.mixture_std
    return scales


def sample_prior(spec: AdversarialSpec, rng: jax.Array, num: int, latent_dim: int) -> jax.Array:
    """(num, latent_dim) draws from the prior `spec.prior`."""
    if spec.prior == "gaussian":
        return jax.random.normal(rng, (num, latent_dim))
    component_key, noise_key = jax.random.split(rng)
    component = jax.random.randint(component_key, (num,), 0, spec.mixture_components)
    noise = jax.random.normal(noise_key, (num, latent_dim))
    means = jnp.asarray(mixture_means(spec, latent_dim))
    return means[component] + jnp.asarray(mixture_scales(spec, latent_dim)) * noise


class Discriminator(nn.Module):
    """(batch, latent_dim) codes -> (batch,) logits of 'drawn from the prior'."""

    hidden: tuple[int, ...] = (256, 256)
    activation: str = "leaky_relu"

    @nn.compact
    def __call__(self, z_BxK: jax.Array, *, train: bool = False) -> jax.Array:
        h = MLPStack(widths=tuple(self.hidden), activation=self.activation, name="hidden")(z_BxK, train=train)
        return nn.Dense(1, name="logit")(h)[:, 0]


class AdversarialAutoencoder(Autoencoder):
    """An Autoencoder plus a prior and a discriminator on codes (see `aejax.training.adversarial`).

    The model's parameters (`init`, `apply`) are the encoder's and decoder's; the discriminator's are made by
    `init(..., method='discriminate')` and live in `TrainState.extras`, so every Autoencoder tool (encode,
    decode, evaluation, PCA comparison) works on an AAE unchanged.
    """

    adversarial: AdversarialSpec = AdversarialSpec()

    def setup(self):
        self.discriminator = Discriminator(
            hidden=tuple(self.adversarial.discriminator_hidden),
            activation=self.adversarial.discriminator_activation,
        )

    def discriminate(self, z: jax.Array, *, train: bool = False) -> jax.Array:
        """(batch,) logits that codes `z` were drawn from the prior."""
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"discriminator expects (batch, {self.latent_dim}), got {tuple(z.shape)}")
        return self.discriminator(z, train=train)

    def prior_sample(self, rng: jax.Array, num: int) -> jax.Array:
        """(num, latent_dim) draws from the prior."""
        return sample_prior(self.adversarial, rng, num, self.latent_dim)
