"""SegNet-style encoder-decoder for per-pixel classification (Badrinarayanan et al., 2017).

The encoder's 2x2 max pooling remembers where each maximum came from; the decoder upsamples by putting each
value back at its remembered position (zeros elsewhere), then densifies with convolutions.

`max_pool_with_indices` keeps, per 2x2 window and channel, the value at `idx` (0..3, row-major within the
window; ties go to the first). `unpool(values, idx)` is the adjoint of that selection: for any x and y,
<select(x, idx), y> = <x, unpool(y, idx)>. Hence `unpool(*max_pool_with_indices(x))` equals x at the kept
positions and 0 elsewhere, and `max_pool_with_indices(unpool(p, idx))` gives back (p, idx) for p > 0.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import linen as nn

from aejax.models.layers import get_kernel_init

NORMS = ("none", "batch")


def _windows(x_BxHxWxC: jax.Array) -> jax.Array:
    """(B, H, W, C) -> (B, H/2, W/2, C, 4): each 2x2 window flattened row-major on the last axis."""
    b, h, w, c = x_BxHxWxC.shape
    if h % 2 or w % 2:
        raise ValueError(
            f"2x2 pooling needs even height and width, got a (B, H, W, C) = {x_BxHxWxC.shape} map"
        )
    x = x_BxHxWxC.reshape(b, h // 2, 2, w // 2, 2, c)
    return x.transpose(0, 1, 3, 5, 2, 4).reshape(b, h // 2, w // 2, c, 4)


def max_pool_with_indices(x_BxHxWxC: jax.Array) -> tuple[jax.Array, jax.Array]:
    """2x2 stride-2 max pooling: (values, idx), both (B, H/2, W/2, C); idx in 0..3 is the argmax in its window."""
    windows = _windows(x_BxHxWxC)
    idx = jnp.argmax(windows, axis=-1).astype(jnp.int32)
    values = jnp.take_along_axis(windows, idx[..., None], axis=-1)[..., 0]
    return values, idx


def unpool(values_BxhxwxC: jax.Array, idx_BxhxwxC: jax.Array) -> jax.Array:
    """(B, h, w, C) -> (B, 2h, 2w, C): each value placed at its window position `idx`, zeros elsewhere."""
    if values_BxhxwxC.shape != idx_BxhxwxC.shape:
        raise ValueError(
            f"values {values_BxhxwxC.shape} and indices {idx_BxhxwxC.shape} must have the same shape"
        )
    b, h, w, c = values_BxhxwxC.shape
    placed = jax.nn.one_hot(idx_BxhxwxC, 4, dtype=values_BxhxwxC.dtype) * values_BxhxwxC[..., None]
    return placed.reshape(b, h, w, c, 2, 2).transpose(0, 1, 4, 2, 5, 3).reshape(b, 2 * h, 2 * w, c)


class SegNet(nn.Module):
    """(B, H, W[, 1|C]) images -> (B, H, W, num_classes) logits; H and W divisible by 2 ** len(features).

    Encoder level i: `convs_per_block` x (3x3 conv, optional batch norm, ReLU) at width features[i], then
    max pooling with indices. Decoder level i (deepest first): unpool with level i's indices, then the same
    conv block at width features[i - 1] (features[0] at the top), and a final 1x1 conv to the class logits.
    Batch-norm running statistics live in the `batch_stats` collection.
    """

    num_classes: int = 11
    features: tuple[int, ...] = (16, 32)
    convs_per_block: int = 2
    norm: str = "batch"
    kernel_init: str = "lecun_normal"

    def _block(self, h: jax.Array, width: int, train: bool, name: str) -> jax.Array:
        for j in range(self.convs_per_block):
            h = nn.Conv(
                width,
                (3, 3),
                padding="SAME",
                use_bias=self.norm != "batch",
                kernel_init=get_kernel_init(self.kernel_init),
                name=f"{name}_conv_{j}",
            )(h)
            if self.norm == "batch":
                h = nn.BatchNorm(use_running_average=not train, momentum=0.9, name=f"{name}_norm_{j}")(h)
            h = nn.relu(h)
        return h

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool) -> jax.Array:
        if self.norm not in NORMS:
            raise ValueError(f"unknown segnet norm {self.norm!r}; valid: {', '.join(NORMS)}")
        if not self.features:
            raise ValueError("SegNet needs at least one encoder level (features is empty)")
        h = x[..., None] if x.ndim == 3 else x
        if h.ndim != 4:
            raise ValueError(f"SegNet expects (B, H, W) or (B, H, W, C) images, got shape {x.shape}")
        factor = 2 ** len(self.features)
        if h.shape[1] % factor or h.shape[2] % factor:
            raise ValueError(
                f"image {h.shape[1]}x{h.shape[2]} cannot be pooled {len(self.features)} times by 2 "
                f"(needs H and W divisible by {factor})"
            )
        indices = []
        for i, width in enumerate(self.features):
            h = self._block(h, width, train, f"enc_{i}")
            h, idx = max_pool_with_indices(h)
            indices.append(idx)
        for i in reversed(range(len(self.features))):
            h = unpool(h, indices[i])
            h = self._block(h, self.features[max(i - 1, 0)], train, f"dec_{i}")
        return nn.Conv(
            self.num_classes, (1, 1), kernel_init=get_kernel_init(self.kernel_init), name="logits"
        )(h)
