"""The Autoencoder module: an encoder and a decoder with a checked input shape."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import linen as nn
from flax import struct

from aejax.models import bottleneck as bottlenecks
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
    """x -> encoder -> [bottleneck] -> code -> decoder -> logits -> output_activation -> reconstruction.

    `bottleneck` (aejax.models.bottleneck) makes the code discrete or sparse: 'quantize' (symbols
    0..quantize_levels-1), 'binary' (bits), 'topk' (k-sparse; round(topk_alpha * topk) units kept when
    train=False).
    """

    encoder: nn.Module
    decoder: nn.Module
    input_shape: tuple[int, ...]
    latent_dim: int
    output_activation: str = "sigmoid"
    bottleneck: str = "none"
    quantize_levels: int = 0
    topk: int = 0
    topk_alpha: float = 1.0
    binary_noise: float = 0.0
    topk_start: int = 0  # > 0: k falls from topk_start to topk over topk_schedule_steps training steps
    topk_schedule_steps: int = 0

    @property
    def uses_step(self) -> bool:
        """True when training needs the optimizer step (an annealed k); the train step then passes it."""
        return self.bottleneck == "topk" and self.topk_start > 0

    def pre_code(self, x: jax.Array, *, train: bool = False) -> jax.Array:
        """The encoder's output before the bottleneck."""
        check_input_shape(x, self.input_shape)
        return self.encoder(x, train=train)

    def encode(self, x: jax.Array, *, train: bool = False, step: jax.Array | None = None) -> jax.Array:
        a = self.pre_code(x, train=train)
        if self.bottleneck == "quantize":
            return bottlenecks.quantize(a, self.quantize_levels)
        if self.bottleneck == "binary":
            if train and self.binary_noise > 0:
                a = a + self.binary_noise * jax.random.normal(self.make_rng("latent"), a.shape, a.dtype)
            return bottlenecks.binarize(a)
        if self.bottleneck == "topk":
            if train and step is not None and self.topk_start > 0:
                k_now = bottlenecks.scheduled_k(self.topk, self.topk_start, self.topk_schedule_steps, step)
                return bottlenecks.top_k_dynamic(a, k_now)
            k = self.topk if train else bottlenecks.eval_k(self.topk, self.topk_alpha, a.shape[-1])
            return bottlenecks.top_k(a, k)
        return a

    def code_symbols(self, x: jax.Array, *, train: bool = False) -> jax.Array:
        """Integer symbols of a discrete code: quantization levels or bits, (batch, latent_dim) int32."""
        a = self.pre_code(x, train=train)
        if self.bottleneck == "quantize":
            return bottlenecks.quantize_symbols(a, self.quantize_levels)
        if self.bottleneck == "binary":
            return (a > 0).astype(jnp.int32)
        raise ValueError(
            f"code symbols need a discrete code (model.bottleneck 'quantize' or 'binary'), got {self.bottleneck!r}"
        )

    def decode_symbols(self, symbols: jax.Array, *, train: bool = False) -> jax.Array:
        """The reconstruction from integer symbols (the inverse of code_symbols, then decode)."""
        if self.bottleneck == "quantize":
            z = bottlenecks.symbols_to_quantized(symbols, self.quantize_levels)
        elif self.bottleneck == "binary":
            z = symbols.astype(jnp.float32)
        else:
            raise ValueError(
                f"decode_symbols needs a discrete code, got model.bottleneck {self.bottleneck!r}"
            )
        return self.decode(z, train=train)

    def decode_logits(self, z: jax.Array, *, train: bool = False) -> jax.Array:
        check_input_shape(z, (self.latent_dim,), who="decoder")
        if getattr(self.decoder, "reads_encoder_kernels", False):
            # Tied weights: the decoder reads the encoder's kernels (transposed) on every call.
            kernels = type(self.encoder).kernels(self.encoder.variables["params"])
            return self.decoder(z, train=train, kernels=kernels)
        return self.decoder(z, train=train)

    def decode(self, z: jax.Array, *, train: bool = False) -> jax.Array:
        return get_activation(self.output_activation)(self.decode_logits(z, train=train))

    def __call__(
        self, x: jax.Array, *, train: bool = False, step: jax.Array | None = None
    ) -> AutoencoderOutput:
        code = self.encode(x, train=train, step=step)
        logits = self.decode_logits(code, train=train)
        return AutoencoderOutput(
            reconstruction=get_activation(self.output_activation)(logits), code=code, logits=logits
        )
