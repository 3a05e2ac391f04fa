"""The shared model settings (`ModelSpec`, the `model` block of a config) and the encoder/decoder parts.

Families (aejax.families) build their models from these parts; a part is a registered name (`mlp`, `conv`)
or a user's flax Module by import path (`"my_pkg.parts:MyEncoder"`, its settings in `model.encoder_settings`).
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Callable, Mapping
from typing import Any

from flax import linen as nn

from aejax._registry import import_object, lookup
from aejax.models.autoencoder import Autoencoder
from aejax.models.bottleneck import check_bottleneck
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
    family: str = "autoencoder"  # a registered family (aejax.families) or "package.module:FAMILY"
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
    # a part named by import path is built with these keyword settings (checked against its fields)
    encoder_settings: Mapping[str, Any] = dataclasses.field(default_factory=dict, hash=False)
    decoder_settings: Mapping[str, Any] = dataclasses.field(default_factory=dict, hash=False)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> ModelSpec:
        """From the `model` block of a config; family blocks (`model.<family>`, mappings) are not read here."""
        fields = {f.name for f in dataclasses.fields(cls)}
        values = {
            k: tuple(v) if isinstance(v, list) else dict(v) if isinstance(v, Mapping) else v
            for k, v in values.items()
            if k in fields
        }
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


def _mlp_encoder(spec: ModelSpec, input_shape: tuple[int, ...], code_width: int) -> nn.Module:
    return MLPEncoder(
        hidden=tuple(spec.hidden),
        latent_dim=code_width,
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


def _conv_encoder(spec: ModelSpec, input_shape: tuple[int, ...], code_width: int) -> nn.Module:
    image_shape(input_shape)
    check_divisible(tuple(input_shape), spec.conv_stride, len(spec.conv_features))
    return ConvEncoder(
        latent_dim=code_width,
        code_activation=spec.code_activation,
        **_conv_settings(spec),
    )


def _conv_decoder(spec: ModelSpec, input_shape: tuple[int, ...]) -> nn.Module:
    image_shape(input_shape)
    return ConvDecoder(output_shape=tuple(input_shape), upsample=spec.upsample, **_conv_settings(spec))


ENCODERS: dict[str, Callable[[ModelSpec, tuple[int, ...], int], nn.Module]] = {
    "mlp": _mlp_encoder,
    "conv": _conv_encoder,
}
DECODERS: dict[str, Callable[[ModelSpec, tuple[int, ...]], nn.Module]] = {
    "mlp": _mlp_decoder,
    "conv": _conv_decoder,
}


def check_shared(spec: ModelSpec) -> None:
    """Fail early, with the valid values, on shared settings every family reads."""
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


def check_part(path: str, role: str, settings: Mapping[str, Any]) -> type:
    """The flax Module class at `path` ('package.module:Name'); every key of `settings`
    (`model.<role>_settings`) must be one of its fields."""
    cls = import_object(path, f"model.{role} {path!r}", "flax Module class", _is_module_class)
    fields = sorted(f.name for f in dataclasses.fields(cls) if f.init and f.name not in ("parent", "name"))
    for key in settings:
        if key not in fields:
            near = difflib.get_close_matches(key, fields, n=1, cutoff=0.0)
            hint = f"; did you mean 'model.{role}_settings.{near[0]}'?" if near else ""
            raise ValueError(
                f"unknown config key 'model.{role}_settings.{key}': {path} takes {fields or 'no settings'}{hint}"
            )
    return cls


def custom_part(path: str, role: str, settings: Mapping[str, Any], given: Mapping[str, Any]) -> nn.Module:
    """A user's flax Module class at `path`, built with the user's `settings` (checked by `check_part`) and
    those of `given` (e.g. latent_dim, output_shape) that it declares."""
    cls = check_part(path, role, settings)
    fields = {f.name for f in dataclasses.fields(cls)}
    provided = {k: v for k, v in given.items() if k in fields and k not in settings}
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in settings.items()}
    return cls(**provided, **values)


def _is_module_class(obj: Any) -> bool:
    return isinstance(obj, type) and issubclass(obj, nn.Module)


def build_encoder(spec: ModelSpec, input_shape: tuple[int, ...], code_width: int) -> nn.Module:
    """The encoder part: (batch, *input_shape) -> (batch, code_width)."""
    if ":" in spec.encoder:
        given = {"latent_dim": code_width, "input_shape": tuple(input_shape)}
        return custom_part(spec.encoder, "encoder", spec.encoder_settings, given)
    if spec.encoder_settings:
        raise ValueError(
            "model.encoder_settings are for an encoder named by import path ('package.module:Name')"
        )
    return lookup(ENCODERS, spec.encoder, "encoder")(spec, tuple(input_shape), code_width)


def build_decoder(spec: ModelSpec, input_shape: tuple[int, ...]) -> nn.Module:
    """The decoder part: (batch, latent_dim) -> logits (batch, *input_shape)."""
    if ":" in spec.decoder:
        given = {"latent_dim": spec.latent_dim, "output_shape": tuple(input_shape)}
        return custom_part(spec.decoder, "decoder", spec.decoder_settings, given)
    if spec.decoder_settings:
        raise ValueError(
            "model.decoder_settings are for a decoder named by import path ('package.module:Name')"
        )
    return lookup(DECODERS, spec.decoder, "decoder")(spec, tuple(input_shape))


def build_autoencoder(spec: ModelSpec, input_shape: tuple[int, ...]) -> Autoencoder:
    """The plain autoencoder: encoder, optional code bottleneck (model.bottleneck), decoder."""
    if spec.bottleneck != "none" and spec.code_activation != "identity":
        raise ValueError(
            f"model.bottleneck={spec.bottleneck!r} reads the encoder's linear output: set "
            f"model.code_activation='identity' (got {spec.code_activation!r})"
        )
    return Autoencoder(
        encoder=build_encoder(spec, input_shape, spec.latent_dim),
        decoder=build_decoder(spec, input_shape),
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
