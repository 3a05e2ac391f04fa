"""Input corruptions for denoising autoencoders: pure functions `corrupt(x, rng, ...) -> x_noisy`.

The train step corrupts each batch with a key of its own step and the objective reconstructs the clean
input. `Corruption` is the hashable (jit-static) choice made in a config (`loss.corruption`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp

from aejax._registry import lookup


def gaussian_noise(x: jax.Array, rng: jax.Array, *, std: float, clip: bool = True) -> jax.Array:
    """x + N(0, std^2) elementwise; with `clip`, the result is clipped back to [0, 1]."""
    noisy = x + std * jax.random.normal(rng, x.shape, x.dtype)
    return jnp.clip(noisy, 0.0, 1.0) if clip else noisy


def masking_noise(x: jax.Array, rng: jax.Array, *, fraction: float) -> jax.Array:
    """Each input is set to zero independently with probability `fraction`."""
    keep = jax.random.bernoulli(rng, 1.0 - fraction, x.shape)
    return jnp.where(keep, x, jnp.zeros((), x.dtype))


def salt_and_pepper(
    x: jax.Array, rng: jax.Array, *, fraction: float, low: float = 0.0, high: float = 1.0
) -> jax.Array:
    """Each input is replaced with probability `fraction` by `low` or `high` (a fair coin picks which)."""
    hit_key, coin_key = jax.random.split(rng)
    hit = jax.random.bernoulli(hit_key, fraction, x.shape)
    value = jnp.where(jax.random.bernoulli(coin_key, 0.5, x.shape), high, low).astype(x.dtype)
    return jnp.where(hit, value, x)


CORRUPTIONS = {
    "none": lambda x, rng, **_: x,
    "gaussian": lambda x, rng, *, std, clip, **_: gaussian_noise(x, rng, std=std, clip=clip),
    "masking": lambda x, rng, *, fraction, **_: masking_noise(x, rng, fraction=fraction),
    "salt_and_pepper": lambda x, rng, *, fraction, low, high, **_: salt_and_pepper(
        x, rng, fraction=fraction, low=low, high=high
    ),
}


@dataclasses.dataclass(frozen=True)
class Corruption:
    """kind: none | gaussian (std, clip) | masking (fraction) | salt_and_pepper (fraction, low, high)."""

    kind: str = "none"
    std: float = 0.3
    clip: bool = True
    fraction: float = 0.25
    low: float = 0.0
    high: float = 1.0

    def __post_init__(self):
        lookup(CORRUPTIONS, self.kind, "loss.corruption.kind")
        if self.std < 0:
            raise ValueError(f"loss.corruption.std must be >= 0, got {self.std}")
        if not 0 <= self.fraction <= 1:
            raise ValueError(f"loss.corruption.fraction must be in [0, 1], got {self.fraction}")

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> Corruption:
        return cls(**dict(values))

    @property
    def active(self) -> bool:
        return self.kind != "none"

    def __call__(self, x: jax.Array, rng: jax.Array) -> jax.Array:
        settings = dataclasses.asdict(self)
        settings.pop("kind")
        return CORRUPTIONS[self.kind](x, rng, **settings)
