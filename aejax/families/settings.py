"""The built-in families' own settings: each is the config block `model.<family>`, checked here."""

from __future__ import annotations

import dataclasses

from aejax.models.sequence import CELLS


@dataclasses.dataclass(frozen=True)
class VQSettings:
    """`model.vqvae`: the code is cut into latent_dim / embedding_dim vectors, each snapped to the nearest of
    num_embeddings codebook entries (van den Oord et al. 2017)."""

    num_embeddings: int = 512
    embedding_dim: int = 8

    def __post_init__(self):
        if self.num_embeddings < 2 or self.embedding_dim < 1:
            raise ValueError(
                "model.vqvae needs num_embeddings >= 2 and embedding_dim >= 1, got "
                f"{self.num_embeddings} and {self.embedding_dim}"
            )


@dataclasses.dataclass(frozen=True)
class SequenceSettings:
    """`model.sequence`: a seq2seq RNN autoencoder on (time, features) examples."""

    cell: str = "lstm"  # lstm | gru
    hidden: int = 64
    layers: int = 1  # stacked encoder and decoder
    bidirectional: bool = False  # encoder only
    teacher_forcing: float = 1.0  # probability of feeding the true previous frame in training
    code_each_step: bool = False  # the decoder reads the code at every step, not only in its first state

    def __post_init__(self):
        if self.cell not in CELLS or self.hidden < 1 or self.layers < 1:
            raise ValueError(
                f"model.sequence.cell must be one of {', '.join(CELLS)} with hidden, layers >= 1; got "
                f"{self.cell!r}, {self.hidden}, {self.layers}"
            )
        if not 0.0 <= self.teacher_forcing <= 1.0:
            raise ValueError(f"model.sequence.teacher_forcing must be in [0, 1], got {self.teacher_forcing}")


@dataclasses.dataclass(frozen=True)
class AttentionSettings:
    """`model.attention`: a transformer on time steps or p x p image patches, pooled to the code."""

    patch_size: int = 4
    model_dim: int = 64
    num_heads: int = 4
    layers: int = 2
    mlp_dim: int = 128
    num_memory: int = 4
    mask_ratio: float = 0.0  # masked-patch training: fraction of tokens hidden from the encoder

    def __post_init__(self):
        if self.num_heads < 1 or self.model_dim % self.num_heads:
            raise ValueError(
                f"model.attention.model_dim ({self.model_dim}) must be a multiple of model.attention.num_heads "
                f"({self.num_heads})"
            )


@dataclasses.dataclass(frozen=True)
class CapsuleSettings:
    """`model.capsule` (Sabour et al. 2017): conv -> primary capsules -> routing-by-agreement -> num_capsules
    capsules of capsule_dim -> poses masked by the longest capsule -> MLP decoder of widths model.hidden."""

    conv_features: int = 64
    conv_kernel: int = 9
    primary_channels: int = 8
    primary_dim: int = 8
    primary_kernel: int = 9
    primary_stride: int = 2
    num_capsules: int = 10
    capsule_dim: int = 16
    routing_iterations: int = 3
