"""Encoder/decoder modules and the Autoencoder that composes them."""

from aejax.models.autoencoder import Autoencoder, AutoencoderOutput, check_input_shape
from aejax.models.layers import ACTIVATIONS, KERNEL_INITS, get_activation, get_kernel_init
from aejax.models.mlp import MLPDecoder, MLPEncoder, MLPStack
from aejax.models.registry import DECODERS, ENCODERS, ModelSpec, build_decoder, build_encoder

__all__ = [
    "ACTIVATIONS",
    "DECODERS",
    "ENCODERS",
    "KERNEL_INITS",
    "Autoencoder",
    "AutoencoderOutput",
    "MLPDecoder",
    "MLPEncoder",
    "MLPStack",
    "ModelSpec",
    "build_decoder",
    "build_encoder",
    "check_input_shape",
    "get_activation",
    "get_kernel_init",
]
