"""Transformer autoencoder over tokens: time steps of (T, F) sequences or non-overlapping patches of (H, W, C) images.

Encoder: token embedding + learned positions -> pre-LayerNorm blocks (self-attention, MLP) -> mean over visible
tokens -> Dense -> code. Decoder: num_tokens learned queries + positions cross-attend to num_memory tokens made
from the code, then self-attention blocks, then a per-token Dense back to the token's features. Every attention
layer returns its weights, so they can be drawn. With mask_ratio > 0, training hides a random subset of tokens
from the encoder (masked-patch autoencoding); the record's token_mask says which, so a loss can score only those.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import linen as nn
from flax import struct

from aejax.models.autoencoder import check_input_shape
from aejax.models.layers import get_activation


@struct.dataclass
class AttentionOutput:
    """A forward pass of the attention autoencoder."""

    reconstruction: jax.Array  # (batch, *input_shape): output_activation(logits)
    code: jax.Array  # (batch, latent_dim)
    logits: jax.Array  # (batch, *input_shape)
    mask: jax.Array  # (batch, num_tokens): 1.0 for real tokens (padding mask actually used)
    token_mask: jax.Array  # (batch, num_tokens): 1.0 = hidden from the encoder (masked-patch training)
    attention: tuple[jax.Array, ...]  # (batch, heads, Tq, Tk) each, in the order of attention_names
    attention_names: tuple[str, ...] = struct.field(pytree_node=False, default=())


def patchify(x: jax.Array, patch_size: int) -> jax.Array:
    """(batch, H, W, C) -> (batch, (H/p)*(W/p), p*p*C), patches in row-major order; (batch, T, F) is unchanged."""
    if x.ndim == 3:
        return x
    b, h, w, c = x.shape
    p = patch_size
    x = x.reshape(b, h // p, p, w // p, p, c).transpose(0, 1, 3, 2, 4, 5)
    return x.reshape(b, (h // p) * (w // p), p * p * c)


def unpatchify(tokens: jax.Array, input_shape: tuple[int, ...], patch_size: int) -> jax.Array:
    """Inverse of patchify: (batch, num_tokens, token_dim) -> (batch, *input_shape)."""
    if len(input_shape) == 2:
        return tokens
    h, w, c = input_shape
    p = patch_size
    b = tokens.shape[0]
    x = tokens.reshape(b, h // p, w // p, p, p, c).transpose(0, 1, 3, 2, 4, 5)
    return x.reshape(b, h, w, c)


class MultiHeadAttention(nn.Module):
    """Scaled dot-product attention that also returns its weights (batch, heads, Tq, Tk).

    Masked keys (key_mask 0) get weight exactly 0; a row with at least one visible key sums to 1,
    a row with none is all zeros.
    """

    num_heads: int
    model_dim: int

    @nn.compact
    def __call__(
        self, q_BxQxD: jax.Array, kv_BxKxD: jax.Array, key_mask_BxK: jax.Array | None = None
    ) -> tuple[jax.Array, jax.Array]:
        head_dim = self.model_dim // self.num_heads

        def heads(t: jax.Array, name: str) -> jax.Array:
            t = nn.Dense(self.model_dim, name=name)(t)
            return t.reshape(t.shape[0], t.shape[1], self.num_heads, head_dim).transpose(0, 2, 1, 3)

        q, k, v = heads(q_BxQxD, "query"), heads(kv_BxKxD, "key"), heads(kv_BxKxD, "value")
        scores = jnp.einsum("bhqd,bhkd->bhqk", q, k) / math.sqrt(head_dim)
        if key_mask_BxK is None:
            weights = jax.nn.softmax(scores, axis=-1)
        else:
            visible = (key_mask_BxK > 0)[:, None, None, :]
            scores = jnp.where(visible, scores, jnp.finfo(scores.dtype).min)
            weights = jnp.where(visible, jax.nn.softmax(scores, axis=-1), 0.0)
        out = jnp.einsum("bhqk,bhkd->bhqd", weights, v).transpose(0, 2, 1, 3)
        out = out.reshape(out.shape[0], out.shape[1], self.model_dim)
        return nn.Dense(self.model_dim, name="out")(out), weights


class _MLP(nn.Module):
    mlp_dim: int
    model_dim: int
    dropout: float

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        h = nn.gelu(nn.Dense(self.mlp_dim, name="hidden")(x))
        h = nn.Dense(self.model_dim, name="out")(h)
        return nn.Dropout(self.dropout, deterministic=not train)(h)


class _Block(nn.Module):
    """Pre-LayerNorm block: x + Attention(LN(x), memory) then x + MLP(LN(x)); memory None = self-attention."""

    num_heads: int
    model_dim: int
    mlp_dim: int
    dropout: float

    @nn.compact
    def __call__(self, x, key_mask=None, memory=None, *, train: bool):
        h = nn.LayerNorm(name="norm_attn")(x)
        kv = h if memory is None else memory
        a, weights = MultiHeadAttention(self.num_heads, self.model_dim, name="attn")(h, kv, key_mask)
        x = x + nn.Dropout(self.dropout, deterministic=not train)(a)
        x = x + _MLP(self.mlp_dim, self.model_dim, self.dropout, name="mlp")(
            nn.LayerNorm(name="norm_mlp")(x), train
        )
        return x, weights


class _TransformerEncoder(nn.Module):
    num_tokens: int
    num_layers: int
    num_heads: int
    model_dim: int
    mlp_dim: int
    dropout: float
    latent_dim: int

    @nn.compact
    def __call__(self, tokens_BxNxP, visible_BxN, *, train: bool):
        pos = self.param("pos_embed", nn.initializers.normal(0.02), (self.num_tokens, self.model_dim))
        h = nn.Dense(self.model_dim, name="embed")(tokens_BxNxP) + pos
        weights = []
        for i in range(self.num_layers):
            h, w = _Block(self.num_heads, self.model_dim, self.mlp_dim, self.dropout, name=f"block_{i}")(
                h, visible_BxN, train=train
            )
            weights.append(w)
        h = nn.LayerNorm(name="norm")(h)
        keep = visible_BxN[..., None]
        pooled = jnp.sum(h * keep, axis=1) / jnp.maximum(jnp.sum(keep, axis=1), 1.0)
        return nn.Dense(self.latent_dim, name="code")(pooled), tuple(weights)


class _TransformerDecoder(nn.Module):
    num_tokens: int
    token_dim: int
    num_memory: int
    num_layers: int
    num_heads: int
    model_dim: int
    mlp_dim: int
    dropout: float

    @nn.compact
    def __call__(self, code_BxK, *, train: bool):
        batch = code_BxK.shape[0]
        queries = self.param("queries", nn.initializers.normal(0.02), (self.num_tokens, self.model_dim))
        pos = self.param("pos_embed", nn.initializers.normal(0.02), (self.num_tokens, self.model_dim))
        h = jnp.broadcast_to(queries + pos, (batch, self.num_tokens, self.model_dim))
        memory = nn.Dense(self.num_memory * self.model_dim, name="memory")(code_BxK)
        memory = memory.reshape(batch, self.num_memory, self.model_dim)
        block = _Block(self.num_heads, self.model_dim, self.mlp_dim, self.dropout, name="cross")
        h, w = block(h, None, memory, train=train)
        weights = [w]
        for i in range(self.num_layers):
            h, w = _Block(self.num_heads, self.model_dim, self.mlp_dim, self.dropout, name=f"block_{i}")(
                h, train=train
            )
            weights.append(w)
        h = nn.LayerNorm(name="norm")(h)
        return nn.Dense(self.token_dim, name="out")(h), tuple(weights)


class AttentionAutoencoder(nn.Module):
    """Transformer autoencoder on (T, F) sequences (one token per step) or (H, W, C) images (patch tokens).

    mask (batch, num_tokens), 1.0 = real token, masks attention keys and pooling in the encoder (for padded
    sequences; for images num_tokens = (H/p)*(W/p)). With mask_ratio > 0 and train=True, round(mask_ratio *
    num_tokens) tokens per example, drawn with the "latent" rng, are hidden from the encoder too.
    """

    input_shape: tuple[int, ...]
    latent_dim: int
    patch_size: int = 4
    num_layers: int = 2
    num_heads: int = 4
    model_dim: int = 64
    mlp_dim: int = 128
    num_memory: int = 4
    dropout: float = 0.0
    mask_ratio: float = 0.0
    output_activation: str = "identity"

    def setup(self):
        shape = tuple(self.input_shape)
        if len(shape) == 2:
            num_tokens, token_dim = shape
        elif len(shape) == 3:
            h, w, c = shape
            if h % self.patch_size or w % self.patch_size:
                raise ValueError(f"patch_size {self.patch_size} must divide the image size {h}x{w}")
            num_tokens, token_dim = (h // self.patch_size) * (w // self.patch_size), self.patch_size**2 * c
        else:
            raise ValueError(f"AttentionAutoencoder expects input_shape (T, F) or (H, W, C), got {shape}")
        if self.model_dim % self.num_heads:
            raise ValueError(f"model_dim {self.model_dim} must be a multiple of num_heads {self.num_heads}")
        if not 0.0 <= self.mask_ratio < 1.0 or round(self.mask_ratio * num_tokens) >= num_tokens:
            raise ValueError(
                f"mask_ratio must leave at least one of {num_tokens} tokens visible, got {self.mask_ratio}"
            )
        self.num_tokens, self.token_dim = num_tokens, token_dim
        self.num_hidden = round(self.mask_ratio * num_tokens)
        args = (self.num_layers, self.num_heads, self.model_dim, self.mlp_dim, self.dropout)
        self.encoder = _TransformerEncoder(num_tokens, *args, self.latent_dim)
        self.decoder = _TransformerDecoder(num_tokens, token_dim, self.num_memory, *args)

    def _token_mask(self, mask: jax.Array | None, batch: int) -> jax.Array:
        if mask is None:
            return jnp.ones((batch, self.num_tokens), jnp.float32)
        if mask.shape != (batch, self.num_tokens):
            raise ValueError(
                f"mask expects shape (batch, num_tokens) = {(batch, self.num_tokens)}, got {mask.shape}"
            )
        return mask.astype(jnp.float32)

    def _hidden_tokens(self, batch: int, train: bool) -> jax.Array:
        """(batch, num_tokens), 1.0 = hidden; exactly num_hidden per example, a uniform random subset."""
        if not train or self.num_hidden == 0:
            return jnp.zeros((batch, self.num_tokens), jnp.float32)
        scores = jax.random.uniform(self.make_rng("latent"), (batch, self.num_tokens))
        ranks = jnp.argsort(jnp.argsort(scores, axis=1), axis=1)
        return (ranks < self.num_hidden).astype(jnp.float32)

    def _encode(self, x, *, train, mask):
        check_input_shape(x, self.input_shape)
        used_mask = self._token_mask(mask, x.shape[0])
        hidden = self._hidden_tokens(x.shape[0], train)
        code, weights = self.encoder(patchify(x, self.patch_size), used_mask * (1.0 - hidden), train=train)
        return code, weights, used_mask, hidden

    def encode(self, x: jax.Array, *, train: bool = False, mask: jax.Array | None = None) -> jax.Array:
        return self._encode(x, train=train, mask=mask)[0]

    def _decode(self, z, *, train):
        check_input_shape(z, (self.latent_dim,), who="decoder")
        tokens, weights = self.decoder(z, train=train)
        return unpatchify(tokens, self.input_shape, self.patch_size), weights

    def decode_logits(self, z: jax.Array, *, train: bool = False) -> jax.Array:
        return self._decode(z, train=train)[0]

    def decode(self, z: jax.Array, *, train: bool = False) -> jax.Array:
        return get_activation(self.output_activation)(self.decode_logits(z, train=train))

    def __call__(
        self, x: jax.Array, *, train: bool = False, mask: jax.Array | None = None
    ) -> AttentionOutput:
        code, enc_weights, used_mask, hidden = self._encode(x, train=train, mask=mask)
        logits, dec_weights = self._decode(code, train=train)
        names = (
            *(f"encoder_self_{i}" for i in range(self.num_layers)),
            "decoder_cross",
            *(f"decoder_self_{i}" for i in range(self.num_layers)),
        )
        return AttentionOutput(
            reconstruction=get_activation(self.output_activation)(logits),
            code=code,
            logits=logits,
            mask=used_mask,
            token_mask=hidden,
            attention=enc_weights + dec_weights,
            attention_names=names,
        )


def hidden_patch_error(
    reconstruction: jax.Array, target: jax.Array, token_mask: jax.Array, patch_size: int
) -> jax.Array:
    """(batch,) mean squared error over the hidden tokens' features only; 0 for a row with none hidden.

    Tokens are patch_size patches of (batch, H, W, C) images, or time steps of (batch, T, F) sequences.
    """
    err_BxN = jnp.mean(
        jnp.square(patchify(reconstruction, patch_size) - patchify(target, patch_size)), axis=-1
    )
    hidden = (token_mask > 0).astype(err_BxN.dtype)
    return jnp.sum(err_BxN * hidden, axis=-1) / jnp.maximum(jnp.sum(hidden, axis=-1), 1.0)
