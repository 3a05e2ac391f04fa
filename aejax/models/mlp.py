"""Multi-layer perceptron encoder and decoder."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import linen as nn

from aejax.models.layers import get_activation, get_kernel_init


class MLPStack(nn.Module):
    """Dense layers, each followed by optional layer norm, the activation and dropout."""

    widths: tuple[int, ...]
    activation: str = "relu"
    use_bias: bool = True
    kernel_init: str = "lecun_normal"
    bias_init: float = 0.0
    dropout: float = 0.0
    layer_norm: bool = False

    @nn.compact
    def __call__(self, x_BxD: jax.Array, *, train: bool) -> jax.Array:
        act = get_activation(self.activation)
        h = x_BxD
        for i, width in enumerate(self.widths):
            h = nn.Dense(
                width,
                use_bias=self.use_bias,
                kernel_init=get_kernel_init(self.kernel_init),
                bias_init=nn.initializers.constant(self.bias_init),
                name=f"dense_{i}",
            )(h)
            if self.layer_norm:
                h = nn.LayerNorm(use_bias=self.use_bias, name=f"norm_{i}")(h)
            h = act(h)
            if self.dropout > 0:
                h = nn.Dropout(self.dropout, deterministic=not train)(h)
        return h


class MLPEncoder(nn.Module):
    """(batch, *input_shape) -> (batch, latent_dim); inputs are flattened first."""

    hidden: tuple[int, ...]
    latent_dim: int
    activation: str = "relu"
    code_activation: str = "identity"
    use_bias: bool = True
    kernel_init: str = "lecun_normal"
    bias_init: float = 0.0
    dropout: float = 0.0
    layer_norm: bool = False

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool) -> jax.Array:
        h = x.reshape(x.shape[0], -1)
        h = MLPStack(
            tuple(self.hidden),
            self.activation,
            self.use_bias,
            self.kernel_init,
            self.bias_init,
            self.dropout,
            self.layer_norm,
            name="hidden",
        )(h, train=train)
        z = nn.Dense(
            self.latent_dim,
            use_bias=self.use_bias,
            kernel_init=get_kernel_init(self.kernel_init),
            bias_init=nn.initializers.constant(self.bias_init),
            name="code",
        )(h)
        return get_activation(self.code_activation)(z)


class MLPDecoder(nn.Module):
    """(batch, latent_dim) -> logits of shape (batch, *output_shape)."""

    hidden: tuple[int, ...]
    output_shape: tuple[int, ...]
    activation: str = "relu"
    use_bias: bool = True
    kernel_init: str = "lecun_normal"
    bias_init: float = 0.0
    dropout: float = 0.0
    layer_norm: bool = False

    @nn.compact
    def __call__(self, z_BxK: jax.Array, *, train: bool) -> jax.Array:
        h = MLPStack(
            tuple(self.hidden),
            self.activation,
            self.use_bias,
            self.kernel_init,
            self.bias_init,
            self.dropout,
            self.layer_norm,
            name="hidden",
        )(z_BxK, train=train)
        out = nn.Dense(
            math.prod(self.output_shape),
            use_bias=self.use_bias,
            kernel_init=get_kernel_init(self.kernel_init),
            bias_init=nn.initializers.constant(self.bias_init),
            name="output",
        )(h)
        return jnp.reshape(out, (z_BxK.shape[0], *self.output_shape))
