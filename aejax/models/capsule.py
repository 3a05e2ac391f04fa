"""Capsule autoencoder (Sabour, Frosst & Hinton 2017, "Dynamic Routing Between Capsules").

conv (ReLU, VALID) -> primary conv (VALID, strided) cut into `num_primary = H'*W'*primary_channels` capsules of
`primary_dim` -> squash -> prediction vectors u_hat_ij = W_ij u_i -> routing-by-agreement -> `num_capsules`
output capsules v_j of `capsule_dim`, whose length is the probability that entity j is present.

The code is the output poses with every capsule but one zeroed (the label's capsule in training, the longest
one otherwise), flattened to (batch, num_capsules * capsule_dim); an MLP decodes it to image logits.
The classification term is `margin_loss(lengths, labels)`; reconstruction is the usual objective.
"""

from __future__ import annotations

from typing import ClassVar

import jax
import jax.numpy as jnp
from flax import linen as nn
from flax import struct

from aejax.models.autoencoder import check_input_shape
from aejax.models.layers import get_activation

SQUASH_EPS = 1e-7


@struct.dataclass
class CapsuleOutput:
    reconstruction: jax.Array  # output_activation(logits), (batch, *input_shape)
    code: jax.Array  # (batch, latent_dim): masked poses, flattened (the decoder's input)
    logits: jax.Array  # decoder output before output_activation
    poses: jax.Array  # (batch, num_capsules, capsule_dim): v_j after routing
    lengths: jax.Array  # (batch, num_capsules): |v_j| in [0, 1)
    coupling: jax.Array  # (batch, num_primary, num_capsules): c_ij of the last routing iteration


def squash(s: jax.Array, axis: int = -1) -> jax.Array:
    """(|s|^2 / (1 + |s|^2)) * s / |s|; |squash(s)| < 1, and squash(0) = 0 with finite gradients."""
    sq_norm = jnp.sum(jnp.square(s), axis=axis, keepdims=True)
    return s * (sq_norm / (1.0 + sq_norm)) / jnp.sqrt(sq_norm + SQUASH_EPS)


def route(u_hat: jax.Array, iterations: int) -> tuple[jax.Array, jax.Array]:
    """Routing-by-agreement: u_hat (..., children i, parents j, D) -> (v (..., j, D), c (..., i, j)).

    b = 0; repeat: c = softmax_j(b); v_j = squash(sum_i c_ij u_hat_ij); b_ij += u_hat_ij . v_j (not after the
    last iteration). `iterations` is static; one iteration gives uniform coupling c_ij = 1 / num_parents.
    """
    if not isinstance(iterations, int) or iterations < 1:
        raise ValueError(f"routing needs iterations >= 1 (a Python int), got {iterations!r}")

    def parents(b):
        c = jax.nn.softmax(b, axis=-1)
        return squash(jnp.einsum("...ij,...ijd->...jd", c, u_hat)), c

    def agree(_, b):
        v, _ = parents(b)
        return b + jnp.einsum("...ijd,...jd->...ij", u_hat, v)

    b = jax.lax.fori_loop(0, iterations - 1, agree, jnp.zeros(u_hat.shape[:-1], u_hat.dtype))
    return parents(b)


def margin_loss(
    lengths: jax.Array, labels: jax.Array, m_plus: float = 0.9, m_minus: float = 0.1, lam: float = 0.5
) -> jax.Array:
    """Per-example margin loss (batch,): sum_k T_k max(0, m+ - |v_k|)^2 + lam (1 - T_k) max(0, |v_k| - m-)^2."""
    present = jax.nn.one_hot(labels, lengths.shape[-1], dtype=lengths.dtype)
    hit = present * jnp.square(jnp.maximum(0.0, m_plus - lengths))
    miss = lam * (1.0 - present) * jnp.square(jnp.maximum(0.0, lengths - m_minus))
    return jnp.sum(hit + miss, axis=-1)


def capsule_lengths(poses: jax.Array) -> jax.Array:
    """|v_j| over the last axis, with a zero (not NaN) gradient at v_j = 0."""
    sq_norm = jnp.sum(jnp.square(poses), axis=-1)
    positive = sq_norm > 0
    return jnp.where(positive, jnp.sqrt(jnp.where(positive, sq_norm, 1.0)), 0.0)


def mask_poses(poses: jax.Array, lengths: jax.Array, labels: jax.Array | None = None) -> jax.Array:
    """Zero every capsule but the label's (or the longest, when labels is None); flatten to (batch, J * D)."""
    chosen = jnp.argmax(lengths, axis=-1) if labels is None else labels
    mask = jax.nn.one_hot(chosen, poses.shape[1], dtype=poses.dtype)
    return (poses * mask[..., None]).reshape(poses.shape[0], -1)


def primary_grid(
    input_shape: tuple[int, ...], conv_kernel: int, primary_kernel: int, stride: int
) -> tuple[int, int]:
    """Spatial size (H', W') of the primary-capsule grid; a clear error when the image is too small."""
    if len(input_shape) not in (2, 3):
        raise ValueError(f"capsule models need images of shape (H, W) or (H, W, C), got {tuple(input_shape)}")
    if min(conv_kernel, primary_kernel, stride) < 1:
        raise ValueError(
            f"conv_kernel, primary_kernel and primary_stride must be >= 1, got "
            f"{conv_kernel}, {primary_kernel}, {stride}"
        )
    grid = []
    for size in input_shape[:2]:
        after_conv = size - conv_kernel + 1
        grid.append((after_conv - primary_kernel) // stride + 1 if after_conv >= primary_kernel else 0)
    if min(grid) < 1:
        raise ValueError(
            f"image {input_shape[0]}x{input_shape[1]} is too small for conv_kernel {conv_kernel} and "
            f"primary_kernel {primary_kernel} (VALID padding needs H, W >= {conv_kernel + primary_kernel - 1}); "
            "use smaller kernels or pad the images"
        )
    return grid[0], grid[1]


class SpaceToDepthConv(nn.Module):
    """A VALID convolution with stride s, computed as a stride-1 convolution over the s x s space-to-depth input
    with the kernel zero-padded to a multiple of s and rearranged to match; same parameters and outputs as
    nn.Conv(features, (k, k), strides=(s, s), padding="VALID"). Why: on XLA:CPU the gradient of a strided
    convolution is ~30x slower than its forward pass; this form's gradient is ~3x (5-10x faster training steps).
    """

    features: int
    kernel_size: int
    stride: int

    @nn.compact
    def __call__(self, h: jax.Array) -> jax.Array:
        k, s, (batch, height, width, channels) = self.kernel_size, self.stride, h.shape
        kernel = self.param("kernel", nn.initializers.lecun_normal(), (k, k, channels, self.features))
        bias = self.param("bias", nn.initializers.zeros_init(), (self.features,))
        taps = -(-k // s)  # kernel size after space-to-depth
        out_h, out_w = (height - k) // s + 1, (width - k) // s + 1
        rows, cols = s * (out_h + taps - 1), s * (out_w + taps - 1)  # input extent the padded kernel reads
        h = h[:, :rows, :cols]
        h = jnp.pad(h, ((0, 0), (0, rows - h.shape[1]), (0, cols - h.shape[2]), (0, 0)))
        h = h.reshape(batch, rows // s, s, cols // s, s, channels).transpose(0, 1, 3, 2, 4, 5)
        h = h.reshape(batch, rows // s, cols // s, s * s * channels)
        pad = s * taps - k
        kernel = jnp.pad(kernel, ((0, pad), (0, pad), (0, 0), (0, 0)))
        kernel = kernel.reshape(taps, s, taps, s, channels, self.features).transpose(0, 2, 1, 3, 4, 5)
        kernel = kernel.reshape(taps, taps, s * s * channels, self.features)
        out = jax.lax.conv_general_dilated(
            h, kernel, (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC")
        )
        return out + bias


class CapsuleAutoencoder(nn.Module):
    """x -> conv -> primary capsules -> routing -> masked poses (code) -> MLP decoder -> logits."""

    input_shape: tuple[int, ...]
    latent_dim: int
    output_activation: str = "sigmoid"
    conv_features: int = 256
    conv_kernel: int = 9
    primary_channels: int = 32
    primary_dim: int = 8
    primary_kernel: int = 9
    primary_stride: int = 2
    num_capsules: int = 10
    capsule_dim: int = 16
    routing_iterations: int = 3
    decoder_hidden: tuple[int, ...] = (512, 1024)
    uses_labels: ClassVar[bool] = True  # the train step passes batch['y'] as `labels` when it has them

    @property
    def num_primary(self) -> int:
        grid = primary_grid(self.input_shape, self.conv_kernel, self.primary_kernel, self.primary_stride)
        return grid[0] * grid[1] * self.primary_channels

    def setup(self):
        if self.latent_dim != self.num_capsules * self.capsule_dim:
            raise ValueError(
                f"latent_dim must equal num_capsules * capsule_dim = {self.num_capsules} * {self.capsule_dim} "
                f"= {self.num_capsules * self.capsule_dim}, got {self.latent_dim}"
            )
        if self.routing_iterations < 1:
            raise ValueError(f"routing_iterations must be >= 1, got {self.routing_iterations}")
        num_primary = self.num_primary  # validates the spatial sizes
        self.conv = nn.Conv(self.conv_features, (self.conv_kernel,) * 2, padding="VALID", name="conv")
        self.primary = SpaceToDepthConv(
            self.primary_channels * self.primary_dim, self.primary_kernel, self.primary_stride, name="primary"
        )
        # Scaled so that, with uniform coupling and unit-length children, |s_j| is of order 1 at init
        # (a fixed 0.01 leaves |v_j| ~ 0.01 for 1152 children, where squash's gradient nearly vanishes).
        std = self.num_capsules / (num_primary * self.capsule_dim) ** 0.5
        self.pose_weights = self.param(
            "pose_weights",
            nn.initializers.normal(stddev=std),
            (num_primary, self.num_capsules, self.capsule_dim, self.primary_dim),
        )
        self.hidden = [nn.Dense(width, name=f"decoder_{i}") for i, width in enumerate(self.decoder_hidden)]
        channels = self.input_shape[2] if len(self.input_shape) == 3 else 1
        self.decoder_output = nn.Dense(
            self.input_shape[0] * self.input_shape[1] * channels, name="decoder_output"
        )

    def capsules(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Images -> (poses (batch, num_capsules, capsule_dim), coupling (batch, num_primary, num_capsules))."""
        check_input_shape(x, self.input_shape)
        h = x[..., None] if x.ndim == 3 else x
        h = self.primary(nn.relu(self.conv(h)))
        u = squash(h.reshape(x.shape[0], -1, self.primary_dim))  # (B, N, primary_dim)
        u_hat = jnp.einsum("nkdp,bnp->bnkd", self.pose_weights, u)  # (B, N, J, capsule_dim)
        return route(u_hat, self.routing_iterations)

    def encode(self, x: jax.Array, *, train: bool = False) -> jax.Array:
        """The decoder's input: poses masked by the longest capsule, flattened (batch, latent_dim)."""
        poses, _ = self.capsules(x)
        return mask_poses(poses, capsule_lengths(poses))

    def decode_logits(self, z: jax.Array, *, train: bool = False) -> jax.Array:
        check_input_shape(z, (self.latent_dim,), who="decoder")
        h = z
        for layer in self.hidden:
            h = nn.relu(layer(h))
        return self.decoder_output(h).reshape(z.shape[0], *self.input_shape)

    def decode(self, z: jax.Array, *, train: bool = False) -> jax.Array:
        return get_activation(self.output_activation)(self.decode_logits(z, train=train))

    def __call__(
        self, x: jax.Array, *, train: bool = False, labels: jax.Array | None = None
    ) -> CapsuleOutput:
        """Forward pass; with integer `labels` (batch,) the label's capsule is decoded (training, as in Sabour
        et al.), otherwise the longest. Out-of-range labels (unchecked under jit) give an all-zero code."""
        if labels is not None and tuple(labels.shape) != (x.shape[0],):
            raise ValueError(f"labels must have shape ({x.shape[0]},), got {tuple(labels.shape)}")
        poses, coupling = self.capsules(x)
        lengths = capsule_lengths(poses)
        code = mask_poses(poses, lengths, labels)
        logits = self.decode_logits(code, train=train)
        return CapsuleOutput(
            reconstruction=get_activation(self.output_activation)(logits),
            code=code,
            logits=logits,
            poses=poses,
            lengths=lengths,
            coupling=coupling,
        )
