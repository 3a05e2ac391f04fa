"""The Autoencoder module: an encoder and a decoder with a checked input shape."""

from __future__ import annotations

import jax
from flax import linen as nn
from flax import struct

from aejax.models.layers import get_activation


@struct.dataclass
class AutoencoderOutput:
    """What a forward pass returns; families add fields in their own records."""

    reconstruction: jax.Array  # data space: output_activation(logits)
    code: jax.Array  # (batch, latent_dim)
    logits: jax.Array  # decoder output before output_activation


def check_input_shape(x: jax.Array, input_shape: tuple[int, ...], who: str = "encoder") -> None:
    if x.ndim != len(input_shape) + 1 or tuple(x.shape[1:]) != tuple(input_shape):
        raise ValueError(f"{who} expects (batch, {', '.join(map(str, input_shape))}), got {tuple(x.shape)}")


class Autoencoder(nn.Module):
    """x -> encoder -> code -> decoder -> logits -> output_activation -> reconstruction."""

    encoder: nn.Module
    decoder: nn.Module
    input_shape: tuple[int, ...]
    latent_dim: int
    output_activation: str = "sigmoid"

    def encode(self, x: jax.Array, *, train: bool = False) -> jax.Array:
        check_input_shape(x, self.input_shape)
        return self.encoder(x, train=train)

    def decode_logits(self, z: jax.Array, *, train: bool = False) -> jax.Array:
        check_input_shape(z, (self.latent_dim,), who="decoder")
        if getattr(self.decoder, "reads_encoder_kernels", False):
            # Tied weights: the decoder reads the encoder's kernels (transposed) on every call.
            kernels = type(self.encoder).kernels(self.encoder.variables["params"])
            return self.decoder(z, train=train, kernels=kernels)
        return self.decoder(z, train=train)

    def decode(self, z: jax.Array, *, train: bool = False) -> jax.Array:
        return get_activation(self.output_activation)(self.decode_logits(z, train=train))

    def __call__(self, x: jax.Array, *, train: bool = False) -> AutoencoderOutput:
        code = self.encode(x, train=train)
        logits = self.decode_logits(code, train=train)
        return AutoencoderOutput(
            reconstruction=get_activation(self.output_activation)(logits), code=code, logits=logits
        )
