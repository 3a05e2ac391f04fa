"""Data augmentation of training batches: small random shifts and rotations of images.

An autoencoder trained on a few thousand images learns them by heart (MNIST's 8k: training error about 4, held-out
error about 6 per image); fresh small shifts and rotations each step show it new images of the same kind. The
step transforms each training example with a key of its own step and reconstructs the transformed example (input
and target are the same transformed image, unlike denoising); validation, test and everything after training
see the data as they are.

`Augmentation` is the hashable (jit-static) choice made in a config (`loss.augment`); `affine` is the pure
function. Flat rows (MLP models) are read as square single-channel images unless `shape` gives (H, W[, C]).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp

KINDS = ("none", "affine")


def image_layout(per_example: tuple[int, ...], shape: tuple[int, ...] = ()) -> tuple[int, int, int]:
    """(H, W, C) of examples of per-example shape `per_example`: (H, W) and (H, W, C) as they are, a flat row by
    `shape` when given, else as a square single-channel image."""
    if shape:
        h, w, c = (*shape, 1)[:3] if len(shape) == 2 else tuple(shape)
        if h * w * c != math.prod(per_example):
            raise ValueError(
                f"loss.augment.shape {tuple(shape)} does not hold examples of shape {per_example}"
            )
        return int(h), int(w), int(c)
    if len(per_example) == 2:
        return per_example[0], per_example[1], 1
    if len(per_example) == 3:
        return per_example
    side = math.isqrt(per_example[0]) if len(per_example) == 1 else 0
    if side * side != math.prod(per_example) or len(per_example) != 1:
        raise ValueError(
            f"augmentation needs images; examples of shape {per_example} are not square single-channel rows: "
            "set loss.augment.shape to (H, W[, C])"
        )
    return side, side, 1


def affine(images: jax.Array, shifts: jax.Array, angles: jax.Array, cval: float = 0.0) -> jax.Array:
    """Each image (N, H, W, C) rotated by angles[i] radians about its centre, then moved by shifts[i] = (rows,
    columns) pixels, with bilinear interpolation and `cval` outside the image. A whole-pixel shift with angle 0
    moves the pixels exactly (what np.roll does, with the wrapped-around pixels set to cval)."""
    _, h, w, _ = images.shape
    rows, cols = jnp.meshgrid(
        jnp.arange(h, dtype=jnp.float32), jnp.arange(w, dtype=jnp.float32), indexing="ij"
    )
    cy, cx = (h - 1) / 2.0, (w - 1) / 2.0

    def one(image, shift, angle):
        # output pixel (r, c) reads the input at R(-angle) (r - shift - centre) + centre
        dy, dx = rows - shift[0] - cy, cols - shift[1] - cx
        cos, sin = jnp.cos(angle), jnp.sin(angle)
        src_r, src_c = cos * dy + sin * dx + cy, -sin * dy + cos * dx + cx

        def channel(plane):
            return jax.scipy.ndimage.map_coordinates(
                plane, [src_r, src_c], order=1, mode="constant", cval=cval
            )

        return jax.vmap(channel, in_axes=2, out_axes=2)(image)

    return jax.vmap(one)(images.astype(jnp.float32), shifts, angles).astype(images.dtype)


@dataclasses.dataclass(frozen=True)
class Augmentation:
    """`kind='affine'`: each training example is rotated by an angle drawn from U(-rotation, rotation) degrees
    and shifted by a whole number of pixels drawn uniformly from -shift..shift along each axis (independent
    draws per example and step); `shape` is the image layout of flat rows (see `image_layout`)."""

    kind: str = "none"
    shift: int = 2
    rotation: float = 10.0
    shape: tuple[int, ...] = ()

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"unknown loss.augment.kind {self.kind!r}; valid: {', '.join(KINDS)}")
        if self.shift < 0 or self.rotation < 0:
            raise ValueError(
                f"loss.augment.shift and rotation must be >= 0, got {self.shift}, {self.rotation}"
            )
        if self.shape and len(self.shape) not in (2, 3):
            raise ValueError(f"loss.augment.shape is (H, W) or (H, W, C), got {tuple(self.shape)}")
        object.__setattr__(self, "shape", tuple(int(s) for s in self.shape))
        object.__setattr__(self, "shift", int(self.shift))
        object.__setattr__(self, "rotation", float(self.rotation))

    @classmethod
    def from_mapping(cls, settings: Mapping[str, Any] | None) -> Augmentation:
        return cls(**dict(settings or {}))

    @property
    def active(self) -> bool:
        return self.kind != "none" and (self.shift > 0 or self.rotation > 0)

    def __call__(self, x: jax.Array, rng: jax.Array) -> jax.Array:
        """x (N, ...) transformed example by example, in its own shape."""
        if not self.active:
            return x
        n = x.shape[0]
        h, w, c = image_layout(tuple(x.shape[1:]), self.shape)
        shift_key, angle_key = jax.random.split(rng)
        shifts = jax.random.randint(shift_key, (n, 2), -self.shift, self.shift + 1).astype(jnp.float32)
        limit = math.radians(self.rotation)
        angles = jax.random.uniform(angle_key, (n,), jnp.float32, -limit, limit)
        return affine(x.reshape(n, h, w, c), shifts, angles).reshape(x.shape)
