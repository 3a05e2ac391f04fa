"""Convolutional encoder and decoder for images (batch, H, W[, C]) with a dense (vector) bottleneck.

The encoder applies strided 'SAME' convolutions, each followed by an optional normalization and the
activation, then flattens into a dense code. The decoder mirrors it: a dense layer to the smallest feature map,
then upsampling stages (transposed convolutions, or nearest-neighbour resize followed by a convolution) and a
final stride-1 convolution to the image's channels. H and W must be divisible by stride ** len(features).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import linen as nn

from aejax.models import conv_ops
from aejax.models.layers import get_activation, get_kernel_init

NORMS = ("none", "batch", "group", "layer")
UPSAMPLES = ("transpose", "resize")
CONV_IMPLS = ("auto", "matmul", "xla")


def resolve_conv_impl(impl: str) -> str:
    """'auto' is 'matmul' on CPU (XLA-CPU's strided and transposed convolution gradients are slow generic loops,
    see `aejax.models.conv_ops`) and 'xla' (cuDNN, TPU convolutions) elsewhere."""
    if impl not in CONV_IMPLS:
        raise ValueError(f"unknown model.conv_impl {impl!r}; valid: {', '.join(CONV_IMPLS)}")
    if impl == "auto":
        return "matmul" if jax.default_backend() == "cpu" else "xla"
    return impl


class Conv2D(nn.Module):
    """A 2-D (transposed) convolution with flax's parameters ('kernel' (kh, kw, in, out), 'bias'), so the same
    checkpoint runs with either implementation: `impl='xla'` is `nn.Conv` / `nn.ConvTranspose`'s computation,
    `impl='matmul'` is `conv_ops.conv2d` / `conv_transpose2d` (patches times kernel; equal up to rounding)."""

    features: int
    kernel_size: tuple[int, int] = (3, 3)
    strides: tuple[int, int] = (1, 1)
    padding: str = "SAME"
    transpose: bool = False
    use_bias: bool = True
    kernel_init: object = nn.initializers.lecun_normal()
    impl: str = "auto"

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        shape = (*self.kernel_size, x.shape[-1], self.features)
        kernel = self.param("kernel", self.kernel_init, shape, jnp.float32).astype(x.dtype)
        if resolve_conv_impl(self.impl) == "matmul":
            fn = conv_ops.conv_transpose2d if self.transpose else conv_ops.conv2d
        else:
            fn = conv_ops.conv_transpose2d_reference if self.transpose else conv_ops.conv2d_reference
        y = fn(x, kernel, self.strides, self.padding)
        if self.use_bias:
            y = y + self.param("bias", nn.initializers.zeros_init(), (self.features,), jnp.float32).astype(
                y.dtype
            )
        return y


def image_shape(input_shape: tuple[int, ...]) -> tuple[int, int, int]:
    """(H, W, C) of a per-example shape (H, W) or (H, W, C)."""
    if len(input_shape) == 2:
        return (*input_shape, 1)
    if len(input_shape) == 3:
        return tuple(input_shape)
    raise ValueError(
        f"convolutional models need images of shape (H, W) or (H, W, C), got per-example shape {input_shape}; "
        "set data.flatten=False"
    )


def check_divisible(shape: tuple[int, ...], stride: int, depth: int) -> tuple[int, int]:
    """The smallest feature map (h, w); a clear error when the strides do not divide the image."""
    h, w, _ = image_shape(shape)
    factor = stride**depth
    if h % factor or w % factor:
        raise ValueError(
            f"image {h}x{w} cannot be downsampled {depth} times by stride {stride} (needs H and W divisible by "
            f"{factor}); change model.conv_features, model.conv_stride, or pad the images"
        )
    return h // factor, w // factor


class _ConvSettings(nn.Module):
    features: tuple[int, ...] = (32, 64)
    kernel_size: int = 3
    stride: int = 2
    norm: str = "none"
    activation: str = "relu"
    kernel_init: str = "lecun_normal"
    use_bias: bool = True
    impl: str = "auto"  # auto | matmul | xla (`resolve_conv_impl`)

    def _norm(self, h: jax.Array, train: bool, name: str) -> jax.Array:
        if self.norm == "batch":
            return nn.BatchNorm(use_running_average=not train, momentum=0.9, name=name)(h)
        if self.norm == "group":
            groups = math.gcd(8, h.shape[-1])
            return nn.GroupNorm(num_groups=groups, name=name)(h)
        if self.norm == "layer":
            return nn.LayerNorm(name=name)(h)
        return h


class ConvEncoder(_ConvSettings):
    """(batch, H, W[, C]) -> (batch, latent_dim)."""

    latent_dim: int = 16
    code_activation: str = "identity"

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool) -> jax.Array:
        h = x[..., None] if x.ndim == 3 else x
        act = get_activation(self.activation)
        for i, width in enumerate(self.features):
            h = Conv2D(
                width,
                (self.kernel_size, self.kernel_size),
                strides=(self.stride, self.stride),
                use_bias=self.use_bias,
                kernel_init=get_kernel_init(self.kernel_init),
                impl=self.impl,
                name=f"conv_{i}",
            )(h)
            h = act(self._norm(h, train, f"norm_{i}"))
        h = h.reshape(h.shape[0], -1)
        code = nn.Dense(self.latent_dim, kernel_init=get_kernel_init(self.kernel_init), name="code")(h)
        return get_activation(self.code_activation)(code)


class ConvDecoder(_ConvSettings):
    """(batch, latent_dim) -> logits (batch, *output_shape); `features` are listed encoder-side first."""

    output_shape: tuple[int, ...] = (28, 28)
    upsample: str = "transpose"

    @nn.compact
    def __call__(self, z: jax.Array, *, train: bool) -> jax.Array:
        height, width, channels = image_shape(self.output_shape)
        h0, w0 = check_divisible(self.output_shape, self.stride, len(self.features))
        widths = tuple(reversed(self.features))
        act = get_activation(self.activation)
        init = get_kernel_init(self.kernel_init)
        h = nn.Dense(h0 * w0 * widths[0], kernel_init=init, name="project")(z)
        h = act(h).reshape(z.shape[0], h0, w0, widths[0])
        window = (self.kernel_size, self.kernel_size)
        for i, width_i in enumerate(widths):
            if self.upsample == "transpose":
                h = Conv2D(
                    width_i,
                    window,
                    strides=(self.stride, self.stride),
                    transpose=True,
                    kernel_init=init,
                    use_bias=self.use_bias,
                    impl=self.impl,
                    name=f"up_{i}",
                )(h)
            else:
                b, hh, ww, c = h.shape
                h = jax.image.resize(h, (b, hh * self.stride, ww * self.stride, c), method="nearest")
                h = Conv2D(
                    width_i, window, kernel_init=init, use_bias=self.use_bias, impl=self.impl, name=f"up_{i}"
                )(h)
            h = act(self._norm(h, train, f"norm_{i}"))
        logits = Conv2D(channels, window, kernel_init=init, impl=self.impl, name="output")(h)
        assert logits.shape[1:3] == (height, width), (logits.shape, self.output_shape)
        return jnp.reshape(logits, (z.shape[0], *self.output_shape))
