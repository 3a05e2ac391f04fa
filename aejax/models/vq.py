"""VQ-VAE (van den Oord et al. 2017): the encoder's output is cut into `num_latents` vectors of size
`embedding_dim`, each replaced by its nearest codebook entry; gradients pass straight through to the encoder.

The codebook and commitment terms are the regularizers `vq_codebook` (||sg[z_e] - e||^2, moves the codebook)
and `vq_commitment` (||z_e - sg[e]||^2, weight beta, keeps the encoder close to its codes).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import linen as nn
from flax import struct

from aejax.models.autoencoder import check_input_shape
from aejax.models.layers import get_activation


@struct.dataclass
class VQOutput:
    reconstruction: jax.Array
    code: jax.Array  # (batch, latent_dim): quantized code with straight-through gradients to the encoder
    logits: jax.Array
    encoding: jax.Array  # z_e: (batch, num_latents, embedding_dim), the encoder output before quantization
    quantized: jax.Array  # z_q: (batch, num_latents, embedding_dim), codebook entries (gradients to codebook)
    indices: jax.Array  # (batch, num_latents) int32 codebook indices


class VectorQuantizer(nn.Module):
    num_embeddings: int
    embedding_dim: int

    @nn.compact
    def __call__(self, z_e: jax.Array) -> tuple[jax.Array, jax.Array]:
        """z_e (batch, n, d) -> (codebook entries (batch, n, d), indices (batch, n))."""
        bound = 1.0 / self.num_embeddings
        codebook = self.param(
            "codebook",
            lambda key, shape: jax.random.uniform(key, shape, minval=-bound, maxval=bound),
            (self.num_embeddings, self.embedding_dim),
        )
        distances = (
            jnp.sum(jnp.square(z_e), axis=-1, keepdims=True)
            - 2.0 * z_e @ codebook.T
            + jnp.sum(jnp.square(codebook), axis=-1)
        )
        indices = jnp.argmin(distances, axis=-1).astype(jnp.int32)
        return codebook[indices], indices


class VQAutoencoder(nn.Module):
    encoder: nn.Module
    decoder: nn.Module
    input_shape: tuple[int, ...]
    latent_dim: int
    num_embeddings: int = 512
    embedding_dim: int = 8
    output_activation: str = "sigmoid"

    def setup(self):
        if self.latent_dim % self.embedding_dim:
            raise ValueError(
                f"model.latent_dim ({self.latent_dim}) must be a multiple of model.vqvae.embedding_dim "
                f"({self.embedding_dim}): the code is cut into vectors of that size"
            )
        self.quantizer = VectorQuantizer(self.num_embeddings, self.embedding_dim)

    def _encode_quantize(self, x: jax.Array, train: bool):
        check_input_shape(x, self.input_shape)
        z_e = self.encoder(x, train=train).reshape(x.shape[0], -1, self.embedding_dim)
        z_q, indices = self.quantizer(z_e)
        straight_through = z_e + jax.lax.stop_gradient(z_q - z_e)
        return z_e, z_q, indices, straight_through.reshape(x.shape[0], self.latent_dim)

    def encode(self, x: jax.Array, *, train: bool = False) -> jax.Array:
        """The quantized code (batch, latent_dim)."""
        return self._encode_quantize(x, train)[3]

    def code_indices(self, x: jax.Array, *, train: bool = False) -> jax.Array:
        return self._encode_quantize(x, train)[2]

    def decode_logits(self, z: jax.Array, *, train: bool = False) -> jax.Array:
        check_input_shape(z, (self.latent_dim,), who="decoder")
        return self.decoder(z, train=train)

    def decode(self, z: jax.Array, *, train: bool = False) -> jax.Array:
        return get_activation(self.output_activation)(self.decode_logits(z, train=train))

    def __call__(self, x: jax.Array, *, train: bool = False) -> VQOutput:
        z_e, z_q, indices, code = self._encode_quantize(x, train)
        logits = self.decode_logits(code, train=train)
        return VQOutput(
            reconstruction=get_activation(self.output_activation)(logits),
            code=code,
            logits=logits,
            encoding=z_e,
            quantized=z_q,
            indices=indices,
        )


def codebook_statistics(indices: jax.Array, num_embeddings: int) -> dict[str, float]:
    """Fraction of codebook entries used and the perplexity exp(H) of the index distribution."""
    counts = jnp.bincount(indices.reshape(-1), length=num_embeddings)
    p = counts / jnp.maximum(jnp.sum(counts), 1)
    entropy = -jnp.sum(jnp.where(p > 0, p * jnp.log(jnp.where(p > 0, p, 1.0)), 0.0))
    return {"codebook_usage": float(jnp.mean(counts > 0)), "codebook_perplexity": float(jnp.exp(entropy))}
