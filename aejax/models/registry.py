"""Encoder/decoder registries and the one place a model is built from its spec."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from flax import linen as nn

from aejax._registry import lookup
from aejax.models.aae import AdversarialAutoencoder, AdversarialSpec
from aejax.models.attention import AttentionAutoencoder
from aejax.models.autoencoder import Autoencoder
from aejax.models.bottleneck import check_bottleneck
from aejax.models.capsule import CapsuleAutoencoder
from aejax.models.conv import (
    NORMS,
    UPSAMPLES,
    ConvDecoder,
    ConvEncoder,
    check_divisible,
    image_shape,
    resolve_conv_impl,
)
from aejax.models.layers import get_activation, get_kernel_init
from aejax.models.mlp import MLPDecoder, MLPEncoder, TiedMLPDecoder
from aejax.models.sequence import CELLS, SequenceAutoencoder
from aejax.models.vae import LIKELIHOODS, VariationalAutoencoder
from aejax.models.vq import VQAutoencoder


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """Plain-value description of a model (the `model` section of a config)."""

    encoder: str = "mlp"
    decoder: str = "mlp"
    latent_dim: int = 16
    hidden: tuple[int, ...] = (128,)
    decoder_hidden: tuple[int, ...] = (-1,)
    activation: str = "relu"
    code_activation: str = "identity"
    output_activation: str = "sigmoid"
    use_bias: bool = True
    kernel_init: str = "lecun_normal"
    bias_init: float = 0.0
    dropout: float = 0.0
    layer_norm: bool = False
    tied_weights: bool = False
    family: str = "autoencoder"  # autoencoder | vae | aae | vqvae
    vq_num_embeddings: int = 512  # vqvae: codebook size
    vq_embedding_dim: int = 8  # vqvae: size of each quantized code vector
    conv_features: tuple[int, ...] = (32, 64)  # conv: channels per strided stage, input side first
    conv_kernel_size: int = 3
    conv_stride: int = 2
    norm: str = "none"  # conv: none | batch | group | layer
    upsample: str = "transpose"  # conv decoder: transpose | resize
    conv_impl: str = (
        "auto"  # conv: auto (matmul on CPU, xla elsewhere) | matmul | xla (aejax.models.conv_ops)
    )
    bottleneck: str = "none"  # none | quantize | binary | topk (aejax.models.bottleneck)
    quantize_levels: int = 5  # quantize: symbols per code unit
    topk: int = 0  # topk: code units kept per example in training
    topk_alpha: float = 1.0  # topk: round(alpha * k) units kept at evaluation
    binary_noise: float = 0.0  # binary: std of Gaussian noise on the code logits in training
    topk_start: int = 0  # topk: > 0 anneals k from this value down to topk over topk_schedule_steps
    topk_schedule_steps: int = 0
    # family 'sequence' (seq2seq RNN on (T, F) inputs)
    cell: str = "lstm"  # lstm | gru
    rnn_hidden: int = 64
    rnn_layers: int = 1
    bidirectional: bool = False
    teacher_forcing: float = 1.0  # probability of feeding the true previous frame in training
    code_each_step: bool = False  # the decoder reads the code at every step, not only in its first state
    # family 'attention' (transformer on time steps or image patches)
    patch_size: int = 4
    model_dim: int = 64
    num_heads: int = 4
    attention_layers: int = 2
    mlp_dim: int = 128
    num_memory: int = 4
    mask_ratio: float = 0.0  # masked-patch training: fraction of tokens hidden from the encoder
    # family 'capsule' (conv -> primary capsules -> routing -> class capsules -> MLP decoder of `hidden`)
    capsule_conv_features: int = 64
    capsule_conv_kernel: int = 9
    primary_channels: int = 8
    primary_dim: int = 8
    primary_kernel: int = 9
    primary_stride: int = 2
    num_capsules: int = 10
    capsule_dim: int = 16
    routing_iterations: int = 3

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> ModelSpec:
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
        return cls(**values)

    @property
    def decoder_widths(self) -> tuple[int, ...]:
        if tuple(self.decoder_hidden) == (-1,):
            return tuple(reversed(self.hidden))
        return tuple(self.decoder_hidden)


def _dense_settings(spec: ModelSpec) -> dict:
    return {
        "activation": spec.activation,
        "use_bias": spec.use_bias,
        "kernel_init": spec.kernel_init,
        "bias_init": spec.bias_init,
        "dropout": spec.dropout,
        "layer_norm": spec.layer_norm,
    }


def _mlp_encoder(spec: ModelSpec, input_shape: tuple[int, ...]) -> nn.Module:
    return MLPEncoder(
        hidden=tuple(spec.hidden),
        latent_dim=spec.latent_dim * (2 if spec.family == "vae" else 1),  # a VAE head: mean and log-variance
        code_activation=spec.code_activation,
        **_dense_settings(spec),
    )


def _mlp_decoder(spec: ModelSpec, input_shape: tuple[int, ...]) -> nn.Module:
    if spec.tied_weights:
        if spec.encoder != "mlp" or spec.decoder_widths != tuple(reversed(spec.hidden)):
            raise ValueError(
                "model.tied_weights needs an mlp encoder and a mirrored decoder (model.decoder_hidden=(-1,)), "
                f"got encoder {spec.encoder!r}, hidden {tuple(spec.hidden)}, decoder_hidden {tuple(spec.decoder_hidden)}"
            )
        return TiedMLPDecoder(output_shape=tuple(input_shape), **_dense_settings(spec))
    return MLPDecoder(hidden=spec.decoder_widths, output_shape=tuple(input_shape), **_dense_settings(spec))


def _conv_settings(spec: ModelSpec) -> dict:
    if spec.norm not in NORMS:
        raise ValueError(f"unknown model.norm {spec.norm!r}; valid: {', '.join(NORMS)}")
    if spec.upsample not in UPSAMPLES:
        raise ValueError(f"unknown model.upsample {spec.upsample!r}; valid: {', '.join(UPSAMPLES)}")
    resolve_conv_impl(spec.conv_impl)
    if (
        not spec.conv_features
        or min(spec.conv_features) < 1
        or spec.conv_kernel_size < 1
        or spec.conv_stride < 1
    ):
        raise ValueError(
            f"model.conv_features must be non-empty and positive, kernel size and stride >= 1; got "
            f"{tuple(spec.conv_features)}, {spec.conv_kernel_size}, {spec.conv_stride}"
        )
    return {
        "features": tuple(spec.conv_features),
        "kernel_size": spec.conv_kernel_size,
        "stride": spec.conv_stride,
        "norm": spec.norm,
        "activation": spec.activation,
        "kernel_init": spec.kernel_init,
        "use_bias": spec.use_bias,
        "impl": spec.conv_impl,
    }


def _conv_encoder(spec: ModelSpec, input_shape: tuple[int, ...]) -> nn.Module:
    image_shape(input_shape)
    check_divisible(tuple(input_shape), spec.conv_stride, len(spec.conv_features))
    return ConvEncoder(
        latent_dim=spec.latent_dim * (2 if spec.family == "vae" else 1),
        code_activation=spec.code_activation,
        **_conv_settings(spec),
    )


def _conv_decoder(spec: ModelSpec, input_shape: tuple[int, ...]) -> nn.Module:
    image_shape(input_shape)
    return ConvDecoder(output_shape=tuple(input_shape), upsample=spec.upsample, **_conv_settings(spec))


ENCODERS: dict[str, Callable[[ModelSpec, tuple[int, ...]], nn.Module]] = {
    "mlp": _mlp_encoder,
    "conv": _conv_encoder,
}
DECODERS: dict[str, Callable[[ModelSpec, tuple[int, ...]], nn.Module]] = {
    "mlp": _mlp_decoder,
    "conv": _conv_decoder,
}


FAMILIES = ("autoencoder", "vae", "aae", "vqvae", "sequence", "attention", "capsule")
WHOLE_MODEL_FAMILIES = ("sequence", "attention", "capsule")  # built whole, not from an encoder and a decoder


def _whole_model(spec: ModelSpec, input_shape: tuple[int, ...]) -> nn.Module:
    shape = tuple(input_shape)
    if spec.family == "sequence":
        if len(shape) != 2:
            raise ValueError(
                f"model.family='sequence' reads (time, features) examples, got example shape {shape}; for images "
                "set data.as_sequences=True (rows as time steps)"
            )
        if spec.cell not in CELLS or spec.rnn_hidden < 1 or spec.rnn_layers < 1:
            raise ValueError(
                f"model.cell must be one of {', '.join(CELLS)} with rnn_hidden, rnn_layers >= 1; got "
                f"{spec.cell!r}, {spec.rnn_hidden}, {spec.rnn_layers}"
            )
        if not 0.0 <= spec.teacher_forcing <= 1.0:
            raise ValueError(f"model.teacher_forcing must be in [0, 1], got {spec.teacher_forcing}")
        return SequenceAutoencoder(
            input_shape=shape,
            latent_dim=spec.latent_dim,
            cell=spec.cell,
            hidden=spec.rnn_hidden,
            num_layers=spec.rnn_layers,
            bidirectional=spec.bidirectional,
            teacher_forcing=spec.teacher_forcing,
            code_each_step=spec.code_each_step,
            output_activation=spec.output_activation,
        )
    if spec.family == "attention":
        if len(shape) not in (2, 3):
            raise ValueError(
                f"model.family='attention' reads (time, features) or (H, W, C) examples, got {shape}; "
                "set data.flatten=False for images"
            )
        if spec.model_dim % spec.num_heads:
            raise ValueError(
                f"model.model_dim ({spec.model_dim}) must be a multiple of model.num_heads ({spec.num_heads})"
            )
        return AttentionAutoencoder(
            input_shape=shape,
            latent_dim=spec.latent_dim,
            patch_size=spec.patch_size,
            num_layers=spec.attention_layers,
            num_heads=spec.num_heads,
            model_dim=spec.model_dim,
            mlp_dim=spec.mlp_dim,
            num_memory=spec.num_memory,
            dropout=spec.dropout,
            mask_ratio=spec.mask_ratio,
            output_activation=spec.output_activation,
        )
    if len(shape) not in (2, 3):
        raise ValueError(
            f"model.family='capsule' reads (H, W[, C]) images, got {shape}; set data.flatten=False"
        )
    if spec.latent_dim != spec.num_capsules * spec.capsule_dim:
        raise ValueError(
            f"model.family='capsule': model.latent_dim ({spec.latent_dim}) must be num_capsules * capsule_dim "
            f"({spec.num_capsules} * {spec.capsule_dim} = {spec.num_capsules * spec.capsule_dim})"
        )
    return CapsuleAutoencoder(
        input_shape=shape,
        latent_dim=spec.latent_dim,
        output_activation=spec.output_activation,
        conv_features=spec.capsule_conv_features,
        conv_kernel=spec.capsule_conv_kernel,
        primary_channels=spec.primary_channels,
        primary_dim=spec.primary_dim,
        primary_kernel=spec.primary_kernel,
        primary_stride=spec.primary_stride,
        num_capsules=spec.num_capsules,
        capsule_dim=spec.capsule_dim,
        routing_iterations=spec.routing_iterations,
        decoder_hidden=tuple(spec.hidden),
    )


def build_model(
    spec: ModelSpec,
    input_shape: tuple[int, ...],
    likelihood: str = "bernoulli",
    gaussian_scale: float = 1.0,
    adversarial: AdversarialSpec | Mapping[str, Any] | None = None,
) -> Autoencoder | VariationalAutoencoder | VQAutoencoder:
    """The model for inputs of per-example shape `input_shape` (a VAE's likelihood comes from the loss, an
    AAE's prior and discriminator from `adversarial`, the `adversarial` section of a config)."""
    if spec.family not in FAMILIES:
        raise ValueError(f"unknown model.family {spec.family!r}; valid: {', '.join(FAMILIES)}")
    if spec.latent_dim < 1:
        raise ValueError(f"model.latent_dim must be >= 1, got {spec.latent_dim}")
    if any(w < 1 for w in spec.hidden) or any(w < 1 for w in spec.decoder_widths):
        raise ValueError(f"hidden widths must be >= 1, got {spec.hidden} / {spec.decoder_hidden}")
    for name in (spec.activation, spec.code_activation, spec.output_activation):
        get_activation(name)  # fail here with the valid names, not deep inside a trace
    get_kernel_init(spec.kernel_init)
    if not 0 <= spec.dropout < 1:
        raise ValueError(f"model.dropout must be in [0, 1), got {spec.dropout}")
    check_bottleneck(
        spec.bottleneck,
        spec.latent_dim,
        spec.quantize_levels,
        spec.topk,
        spec.topk_alpha,
        spec.binary_noise,
        spec.topk_start,
        spec.topk_schedule_steps,
    )
    if spec.bottleneck != "none":
        if spec.family != "autoencoder":
            raise ValueError(
                f"model.bottleneck={spec.bottleneck!r} is for model.family='autoencoder', got {spec.family!r}"
            )
        if spec.code_activation != "identity":
            raise ValueError(
                f"model.bottleneck={spec.bottleneck!r} reads the encoder's linear output: set "
                f"model.code_activation='identity' (got {spec.code_activation!r})"
            )
    if spec.family in WHOLE_MODEL_FAMILIES:
        if spec.code_activation != "identity" or spec.tied_weights:
            raise ValueError(
                f"model.family={spec.family!r} needs code_activation='identity' and no tied weights"
            )
        return _whole_model(spec, input_shape)
    encoder = lookup(ENCODERS, spec.encoder, "encoder")(spec, input_shape)
    decoder = lookup(DECODERS, spec.decoder, "decoder")(spec, input_shape)
    if spec.family == "vae":
        if spec.code_activation != "identity" or spec.tied_weights:
            raise ValueError("model.family='vae' needs model.code_activation='identity' and no tied weights")
        if likelihood not in LIKELIHOODS:
            raise ValueError(
                f"a VAE's loss.reconstruction is its likelihood: one of {', '.join(LIKELIHOODS)}; got {likelihood!r}"
            )
        if likelihood == "bernoulli" and spec.output_activation != "sigmoid":
            raise ValueError(
                "a Bernoulli VAE reads decoder logits through a sigmoid: set model.output_activation='sigmoid'"
            )
        if gaussian_scale <= 0:
            raise ValueError(f"loss.gaussian_scale must be > 0, got {gaussian_scale}")
        return VariationalAutoencoder(
            encoder=encoder,
            decoder=decoder,
            input_shape=tuple(input_shape),
            latent_dim=spec.latent_dim,
            output_activation=spec.output_activation,
            likelihood=likelihood,
            gaussian_scale=gaussian_scale,
        )
    if spec.family == "aae":
        return _adversarial_autoencoder(spec, input_shape, encoder, decoder, adversarial)
    if spec.family == "vqvae":
        num_embeddings, embedding_dim = spec.vq_num_embeddings, spec.vq_embedding_dim
        if num_embeddings < 2 or embedding_dim < 1 or spec.latent_dim % embedding_dim:
            raise ValueError(
                f"model.family='vqvae' needs vq_num_embeddings >= 2 and model.latent_dim ({spec.latent_dim}) a "
                f"multiple of model.vq_embedding_dim ({embedding_dim}): the code is cut into vectors of that size"
            )
        return VQAutoencoder(
            encoder=encoder,
            decoder=decoder,
            input_shape=tuple(input_shape),
            latent_dim=spec.latent_dim,
            num_embeddings=num_embeddings,
            embedding_dim=embedding_dim,
            output_activation=spec.output_activation,
        )
    return Autoencoder(
        encoder=encoder,
        decoder=decoder,
        input_shape=tuple(input_shape),
        latent_dim=spec.latent_dim,
        output_activation=spec.output_activation,
        bottleneck=spec.bottleneck,
        quantize_levels=spec.quantize_levels,
        topk=spec.topk,
        topk_alpha=spec.topk_alpha,
        binary_noise=spec.binary_noise,
        topk_start=spec.topk_start,
        topk_schedule_steps=spec.topk_schedule_steps,
    )


def _adversarial_autoencoder(
    spec: ModelSpec,
    input_shape: tuple[int, ...],
    encoder: nn.Module,
    decoder: nn.Module,
    adversarial: AdversarialSpec | Mapping[str, Any] | None,
) -> AdversarialAutoencoder:
    if adversarial is None:
        raise ValueError(
            "model.family='aae' needs its adversarial settings: build_model(..., adversarial=config.adversarial)"
        )
    if not isinstance(adversarial, AdversarialSpec):
        adversarial = AdversarialSpec.from_mapping(adversarial)
    if spec.code_activation != "identity":
        raise ValueError(
            f"model.family='aae' matches codes to a prior on the whole real line: set model.code_activation="
            f"'identity' (got {spec.code_activation!r})"
        )
    if adversarial.prior == "mixture" and spec.latent_dim < 2:
        raise ValueError(
            "adversarial.prior='mixture' lives in code units 0 and 1: model.latent_dim must be >= 2"
        )
    return AdversarialAutoencoder(
        encoder=encoder,
        decoder=decoder,
        input_shape=tuple(input_shape),
        latent_dim=spec.latent_dim,
        output_activation=spec.output_activation,
        adversarial=adversarial,
    )
