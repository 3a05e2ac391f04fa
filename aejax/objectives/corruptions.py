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


def gaussian_noise(
    x: jax.Array, rng: jax.Array, *, std: float, clip: bool = True, std_max: float = 0.0
) -> jax.Array:
    """x + N(0, s^2) elementwise, s = std, or per example s ~ U(std, std_max) when std_max > std (a blind
    denoiser for a range of noise levels); with `clip`, the result is clipped back to [0, 1]."""
    if std_max > std:
        level_key, rng = jax.random.split(rng)
        s = jax.random.uniform(level_key, (x.shape[0],) + (1,) * (x.ndim - 1), x.dtype, std, std_max)
    else:
        s = std
    noisy = x + s * jax.random.normal(rng, x.shape, x.dtype)
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


MISSING = (
    -1.0
)  # value of a missing pixel in an inpainting input: outside [0, 1], so model and loss see the hole


def missing_mask(x_input: jax.Array) -> jax.Array:
    """1.0 where an inpainting corruption removed the pixel, else 0.0."""
    return (x_input == MISSING).astype(x_input.dtype)


def _image_dims(x: jax.Array) -> tuple[int, int]:
    if x.ndim < 3:
        raise ValueError(
            f"inpainting masks need images (batch, H, W[, C]), got {x.shape}; set data.flatten=False"
        )
    return x.shape[1], x.shape[2]


def centre_square_mask(x: jax.Array, size: int) -> jax.Array:
    """(batch, H, W[, C]) mask with a size x size square missing at the centre of every image."""
    h, w = _image_dims(x)
    rows, cols = jnp.arange(h)[:, None], jnp.arange(w)[None, :]
    top, left = (h - size) // 2, (w - size) // 2
    square = (rows >= top) & (rows < top + size) & (cols >= left) & (cols < left + size)
    square = square.reshape((1, h, w) + (1,) * (x.ndim - 3))
    return jnp.broadcast_to(square, x.shape).astype(x.dtype)


def random_boxes_mask(x: jax.Array, rng: jax.Array, num_boxes: int, max_size: int) -> jax.Array:
    """Per image, `num_boxes` boxes of random size (1..max_size per side) at random positions go missing."""
    h, w = _image_dims(x)
    keys = jax.random.split(rng, 4)
    shape = (x.shape[0], num_boxes)
    bh = jax.random.randint(keys[0], shape, 1, max_size + 1)
    bw = jax.random.randint(keys[1], shape, 1, max_size + 1)
    top = jax.random.randint(keys[2], shape, 0, h) - bh // 2
    left = jax.random.randint(keys[3], shape, 0, w) - bw // 2
    rows = jnp.arange(h)[None, None, :, None]
    cols = jnp.arange(w)[None, None, None, :]
    inside = (
        (rows >= top[..., None, None])
        & (rows < (top + bh)[..., None, None])
        & (cols >= left[..., None, None])
        & (cols < (left + bw)[..., None, None])
    )
    mask = jnp.any(inside, axis=1).reshape((x.shape[0], h, w) + (1,) * (x.ndim - 3))
    return jnp.broadcast_to(mask, x.shape).astype(x.dtype)


def random_pixels_mask(x: jax.Array, rng: jax.Array, fraction: float) -> jax.Array:
    """Each pixel (all its channels) goes missing independently with probability `fraction`."""
    h, w = _image_dims(x)
    mask = jax.random.bernoulli(rng, fraction, (x.shape[0], h, w) + (1,) * (x.ndim - 3))
    return jnp.broadcast_to(mask, x.shape).astype(x.dtype)


def apply_mask(x: jax.Array, mask: jax.Array) -> jax.Array:
    return jnp.where(mask > 0, jnp.asarray(MISSING, x.dtype), x)


CORRUPTIONS = {
    "none": lambda x, rng, **_: x,
    "gaussian": lambda x, rng, *, std, clip, std_max, **_: gaussian_noise(
        x, rng, std=std, clip=clip, std_max=std_max
    ),
    "centre_square": lambda x, rng, *, size, **_: apply_mask(x, centre_square_mask(x, size)),
    "random_boxes": lambda x, rng, *, num_boxes, size, **_: apply_mask(
        x, random_boxes_mask(x, rng, num_boxes, size)
    ),
    "random_pixels": lambda x, rng, *, fraction, **_: apply_mask(x, random_pixels_mask(x, rng, fraction)),
    "masking": lambda x, rng, *, fraction, **_: masking_noise(x, rng, fraction=fraction),
    "salt_and_pepper": lambda x, rng, *, fraction, low, high, **_: salt_and_pepper(
        x, rng, fraction=fraction, low=low, high=high
    ),
}


@dataclasses.dataclass(frozen=True)
class Corruption:
    """kind: none | gaussian (std, clip, std_max) | masking (fraction) | salt_and_pepper (fraction, low, high)
    | inpainting holes, filled with MISSING = -1: centre_square (size) | random_boxes (num_boxes, size: max side)
    | random_pixels (fraction)."""

    kind: str = "none"
    std: float = 0.3
    clip: bool = True
    std_max: float = 0.0
    fraction: float = 0.25
    low: float = 0.0
    high: float = 1.0
    size: int = 8
    num_boxes: int = 3

    def __post_init__(self):
        lookup(CORRUPTIONS, self.kind, "loss.corruption.kind")
        if self.std < 0:
            raise ValueError(f"loss.corruption.std must be >= 0, got {self.std}")
        if not 0 <= self.fraction <= 1:
            raise ValueError(f"loss.corruption.fraction must be in [0, 1], got {self.fraction}")
        if self.size < 1 or self.num_boxes < 1:
            raise ValueError(
                f"loss.corruption.size and num_boxes must be >= 1, got {self.size} and {self.num_boxes}"
            )

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
