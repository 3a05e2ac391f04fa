"""Recurrent sequence autoencoder: an LSTM/GRU encoder to a code, and a scanned decoder back to (T, F).

The encoder reads (batch, T, F) with a padding mask; only real steps reach the code (seq_lengths = mask.sum(1),
so a backward pass starts at each sequence's real end). The decoder starts from a carry made from the code and
at step t reads the previous frame: the true one (teacher forcing, training with targets), its own previous
output (free running), or a per-step random mix of both (scheduled sampling, rng "latent").
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import linen as nn
from flax import struct

from aejax.models.autoencoder import check_input_shape
from aejax.models.layers import get_activation

CELLS = ("lstm", "gru")


@struct.dataclass
class SequenceOutput:
    """A forward pass of a sequence autoencoder."""

    reconstruction: jax.Array  # (batch, T, F): output_activation(logits)
    code: jax.Array  # (batch, latent_dim)
    logits: jax.Array  # (batch, T, F)
    mask: jax.Array  # (batch, T): 1.0 for real steps, the mask actually used (ones when none was given)


def _make_cell(cell: str, hidden: int, name: str) -> nn.Module:
    if cell == "lstm":
        return nn.OptimizedLSTMCell(features=hidden, name=name)
    if cell == "gru":
        return nn.GRUCell(features=hidden, name=name)
    raise ValueError(f"cell must be one of {CELLS}, got {cell!r}")


def _carry_leaves(carry) -> list[jax.Array]:
    # LSTM carries are (c, h), GRU carries are h; the code sees every leaf.
    return list(carry) if isinstance(carry, tuple) else [carry]


def check_mask(mask: jax.Array | None, x: jax.Array) -> jax.Array:
    """The (batch, T) float mask for x (ones when None); ValueError when its shape does not match x."""
    if mask is None:
        return jnp.ones(x.shape[:2], x.dtype)
    if mask.shape != x.shape[:2]:
        raise ValueError(f"mask expects shape (batch, T) = {tuple(x.shape[:2])}, got {tuple(mask.shape)}")
    return mask.astype(x.dtype)


class _RNNEncoder(nn.Module):
    cell: str
    hidden: int
    num_layers: int
    bidirectional: bool
    latent_dim: int

    @nn.compact
    def __call__(self, x_BxTxF: jax.Array, mask_BxT: jax.Array) -> jax.Array:
        # Clip to 1 so an all-padding row reads one (zeroed) step instead of indexing step -1.
        lengths_B = jnp.maximum(jnp.sum(mask_BxT, axis=1).astype(jnp.int32), 1)
        keep = mask_BxT[..., None]
        h = x_BxTxF * keep
        final: list[jax.Array] = []
        for layer in range(self.num_layers):
            fwd = nn.RNN(_make_cell(self.cell, self.hidden, f"fwd_cell_{layer}"), name=f"fwd_{layer}")
            carry, out = fwd(h, seq_lengths=lengths_B, return_carry=True)
            final = _carry_leaves(carry)
            if self.bidirectional:
                bwd = nn.RNN(
                    _make_cell(self.cell, self.hidden, f"bwd_cell_{layer}"),
                    reverse=True,
                    keep_order=True,
                    name=f"bwd_{layer}",
                )
                bcarry, bout = bwd(h, seq_lengths=lengths_B, return_carry=True)
                final = final + _carry_leaves(bcarry)
                out = jnp.concatenate([out, bout], axis=-1)
            # Zero padded steps so values written there can never reach the next layer.
            h = out * keep
        return nn.Dense(self.latent_dim, name="code")(jnp.concatenate(final, axis=-1))


class _DecoderStep(nn.Module):
    """One decoder step: choose the input frame, run the stacked cells, emit logits for this step."""

    cell: str
    hidden: int
    num_layers: int
    features: int
    output_activation: str

    @nn.compact
    def __call__(self, carry, xs):
        cells_carry, prev_output_BxF = carry
        true_prev_BxF, use_true_Bx1, code_BxK = xs
        h = use_true_Bx1 * true_prev_BxF + (1.0 - use_true_Bx1) * prev_output_BxF
        if code_BxK.shape[-1]:  # code_each_step: the code is part of every step's input
            h = jnp.concatenate([h, code_BxK], axis=-1)
        new_carry = []
        for layer in range(self.num_layers):
            c, h = _make_cell(self.cell, self.hidden, f"cell_{layer}")(cells_carry[layer], h)
            new_carry.append(c)
        logits_BxF = nn.Dense(self.features, name="out")(h)
        output_BxF = get_activation(self.output_activation)(logits_BxF)
        return (tuple(new_carry), output_BxF), logits_BxF


class _RNNDecoder(nn.Module):
    cell: str
    hidden: int
    num_layers: int
    length: int
    features: int
    output_activation: str
    code_each_step: bool = False

    @nn.compact
    def __call__(
        self, code_BxK: jax.Array, true_prev_BxTxF: jax.Array, use_true_BxTx1: jax.Array
    ) -> jax.Array:
        carry = []
        for layer in range(self.num_layers):
            h0 = jnp.tanh(nn.Dense(self.hidden, name=f"init_h_{layer}")(code_BxK))
            if self.cell == "lstm":
                c0 = nn.Dense(self.hidden, name=f"init_c_{layer}")(code_BxK)
                carry.append((c0, h0))  # flax LSTM carries are (c, h)
            else:
                carry.append(h0)
        start = jnp.zeros((code_BxK.shape[0], self.features), code_BxK.dtype)
        scanned = nn.scan(
            _DecoderStep,
            variable_broadcast="params",
            split_rngs={"params": False},
            in_axes=1,
            out_axes=1,
        )
        step = scanned(
            cell=self.cell,
            hidden=self.hidden,
            num_layers=self.num_layers,
            features=self.features,
            output_activation=self.output_activation,
            name="step",
        )
        batch, length = true_prev_BxTxF.shape[:2]
        width = code_BxK.shape[-1] if self.code_each_step else 0
        code_BxTxK = jnp.broadcast_to(code_BxK[:, None, :width], (batch, length, width))
        _, logits_BxTxF = step((tuple(carry), start), (true_prev_BxTxF, use_true_BxTx1, code_BxTxK))
        return logits_BxTxF


class SequenceAutoencoder(nn.Module):
    """(batch, T, F) -> RNN encoder -> code (batch, latent_dim) -> scanned RNN decoder -> (batch, T, F).

    teacher_forcing is the per-step probability, in training with targets, of feeding the true previous frame
    instead of the decoder's own previous output (1.0: pure teacher forcing, no rng needed; below 1.0 the
    "latent" rng draws the choice). Outside training the decoder always runs free.
    """

    input_shape: tuple[int, ...]
    latent_dim: int
    cell: str = "lstm"
    hidden: int = 32
    num_layers: int = 1
    bidirectional: bool = False
    teacher_forcing: float = 1.0
    output_activation: str = "identity"
    code_each_step: bool = False  # the decoder also reads the code at every step, not only in its first state

    def setup(self):
        if self.cell not in CELLS:
            raise ValueError(f"cell must be one of {CELLS}, got {self.cell!r}")
        if len(self.input_shape) != 2:
            raise ValueError(f"SequenceAutoencoder expects input_shape (T, F), got {tuple(self.input_shape)}")
        if not 0.0 <= self.teacher_forcing <= 1.0:
            raise ValueError(f"teacher_forcing must be in [0, 1], got {self.teacher_forcing}")
        length, features = self.input_shape
        self.encoder = _RNNEncoder(
            self.cell, self.hidden, self.num_layers, self.bidirectional, self.latent_dim
        )
        self.decoder = _RNNDecoder(
            self.cell,
            self.hidden,
            self.num_layers,
            length,
            features,
            self.output_activation,
            self.code_each_step,
        )

    def encode(self, x: jax.Array, *, train: bool = False, mask: jax.Array | None = None) -> jax.Array:
        check_input_shape(x, self.input_shape)
        return self.encoder(x, check_mask(mask, x))

    def decode_logits(
        self,
        z: jax.Array,
        *,
        train: bool = False,
        targets: jax.Array | None = None,
        mask: jax.Array | None = None,
    ) -> jax.Array:
        """Logits (batch, T, F); teacher-forced on targets only when train and targets are given."""
        check_input_shape(z, (self.latent_dim,), who="decoder")
        length, features = self.input_shape
        batch = z.shape[0]
        if train and targets is not None:
            check_input_shape(targets, self.input_shape, who="decoder targets")
            if targets.shape[0] != batch:
                raise ValueError(f"decoder targets expect batch {batch}, got {targets.shape[0]}")
            # Padded frames are zeroed so their values cannot reach any output.
            frames = targets * check_mask(mask, targets)[..., None]
            true_prev = jnp.concatenate([jnp.zeros_like(frames[:, :1]), frames[:, :-1]], axis=1)
            if self.teacher_forcing >= 1.0:
                use_true = jnp.ones((batch, length, 1), z.dtype)
            else:
                draw = jax.random.bernoulli(self.make_rng("latent"), self.teacher_forcing, (batch, length, 1))
                use_true = draw.astype(z.dtype)
        else:
            true_prev = jnp.zeros((batch, length, features), z.dtype)
            use_true = jnp.zeros((batch, length, 1), z.dtype)
        return self.decoder(z, true_prev, use_true)

    def decode(self, z: jax.Array, *, train: bool = False) -> jax.Array:
        """Free-running reconstruction from a code."""
        return get_activation(self.output_activation)(self.decode_logits(z, train=train))

    def __call__(self, x: jax.Array, *, train: bool = False, mask: jax.Array | None = None) -> SequenceOutput:
        check_input_shape(x, self.input_shape)
        used_mask = check_mask(mask, x)
        code = self.encode(x, train=train, mask=used_mask)
        logits = self.decode_logits(code, train=train, targets=x if train else None, mask=used_mask)
        return SequenceOutput(
            reconstruction=get_activation(self.output_activation)(logits),
            code=code,
            logits=logits,
            mask=used_mask,
        )


def per_timestep_error(reconstruction: jax.Array, target: jax.Array, mask: jax.Array | None) -> jax.Array:
    """(batch, T) squared error averaged over features; zero at padded steps."""
    err_BxT = jnp.mean(jnp.square(reconstruction - target), axis=-1)
    if mask is None:
        return err_BxT
    return jnp.where(mask > 0, err_BxT, 0.0)


def masked_sequence_error(reconstruction: jax.Array, target: jax.Array, mask: jax.Array | None) -> jax.Array:
    """(batch,) mean squared error over real steps and all features; an all-padding row gives 0."""
    err_BxT = per_timestep_error(reconstruction, target, mask)
    if mask is None:
        return jnp.mean(err_BxT, axis=-1)
    count_B = jnp.sum((mask > 0).astype(err_BxT.dtype), axis=-1)
    return jnp.sum(err_BxT, axis=-1) / jnp.maximum(count_B, 1.0)
