"""Multi-layer perceptron encoder and decoder."""

from __future__ import annotations

import math
from typing import ClassVar

import jax
import jax.numpy as jnp
from flax import linen as nn

from aejax.models.layers import get_activation, get_kernel_init


class _DenseSettings(nn.Module):
    """Settings shared by every dense layer of an MLP part, and the layers built from them."""

    activation: str = "relu"
    use_bias: bool = True
    kernel_init: str = "lecun_normal"
    bias_init: float = 0.0
    dropout: float = 0.0
    layer_norm: bool = False

    def _dense(self, features: int, name: str) -> nn.Dense:
        return nn.Dense(
            features,
            use_bias=self.use_bias,
            kernel_init=get_kernel_init(self.kernel_init),
            bias_init=nn.initializers.constant(self.bias_init),
            name=name,
        )

    def _stack(self, widths: tuple[int, ...]) -> MLPStack:
        return MLPStack(
            widths=tuple(widths),
            activation=self.activation,
            use_bias=self.use_bias,
            kernel_init=self.kernel_init,
            bias_init=self.bias_init,
            dropout=self.dropout,
            layer_norm=self.layer_norm,
            name="hidden",
        )


class MLPStack(_DenseSettings):
    """Dense layers, each followed by optional layer norm, the activation and dropout."""

    widths: tuple[int, ...] = ()

    @nn.compact
    def __call__(self, x_BxD: jax.Array, *, train: bool) -> jax.Array:
        act = get_activation(self.activation)
        h = x_BxD
        for i, width in enumerate(self.widths):
            h = self._dense(width, f"dense_{i}")(h)
            if self.layer_norm:
                h = nn.LayerNorm(use_bias=self.use_bias, name=f"norm_{i}")(h)
            h = act(h)
            if self.dropout > 0:
                h = nn.Dropout(self.dropout, deterministic=not train)(h)
        return h


class MLPEncoder(_DenseSettings):
    """(batch, *input_shape) -> (batch, latent_dim); inputs are flattened first."""

    hidden: tuple[int, ...] = ()
    latent_dim: int = 16
    code_activation: str = "identity"

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool) -> jax.Array:
        h = self._stack(self.hidden)(x.reshape(x.shape[0], -1), train=train)
        return get_activation(self.code_activation)(self._dense(self.latent_dim, "code")(h))

    @staticmethod
    def kernels(params) -> list[jax.Array]:
        """The kernels of an MLPEncoder's parameters, input side first."""
        hidden = params.get("hidden", {})
        count = sum(1 for name in hidden if name.startswith("dense_"))
        return [hidden[f"dense_{i}"]["kernel"] for i in range(count)] + [params["code"]["kernel"]]


class MLPDecoder(_DenseSettings):
    """(batch, latent_dim) -> logits of shape (batch, *output_shape)."""

    hidden: tuple[int, ...] = ()
    output_shape: tuple[int, ...] = (1,)

    @nn.compact
    def __call__(self, z_BxK: jax.Array, *, train: bool) -> jax.Array:
        h = self._stack(self.hidden)(z_BxK, train=train)
        out = self._dense(math.prod(self.output_shape), "output")(h)
        return jnp.reshape(out, (z_BxK.shape[0], *self.output_shape))


class _Bias(nn.Module):
    """A bias on its own (the layer's kernel lives elsewhere, as in a tied decoder)."""

    init_value: float = 0.0

    @nn.compact
    def __call__(self, h: jax.Array) -> jax.Array:
        return h + self.param("bias", nn.initializers.constant(self.init_value), (h.shape[-1],))


class TiedMLPDecoder(_DenseSettings):
    """The mirror of an MLPEncoder whose kernels are the encoder's, transposed; it owns only biases
    (and norm parameters). Layer j maps with the transpose of encoder kernel n-1-j."""

    output_shape: tuple[int, ...] = (1,)
    reads_encoder_kernels: ClassVar[bool] = True

    @nn.compact
    def __call__(self, z_BxK: jax.Array, *, train: bool, kernels: list[jax.Array]) -> jax.Array:
        act = get_activation(self.activation)
        transposed = [k.T for k in reversed(kernels)]
        h = z_BxK
        for j, kernel in enumerate(transposed):
            last = j == len(transposed) - 1
            name = "output" if last else f"dense_{j}"
            h = h @ kernel.astype(h.dtype)
            if self.use_bias:
                h = _Bias(self.bias_init, name=name)(h)
            if last:
                break
            if self.layer_norm:
                h = nn.LayerNorm(use_bias=self.use_bias, name=f"norm_{j}")(h)
            h = act(h)
            if self.dropout > 0:
                h = nn.Dropout(self.dropout, deterministic=not train)(h)
        return jnp.reshape(h, (z_BxK.shape[0], *self.output_shape))
