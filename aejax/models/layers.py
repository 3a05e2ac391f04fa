"""Named activations and initializers, so configs can select them by string."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
from flax import linen as nn

from aejax._registry import lookup

ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "identity": lambda x: x,
    "relu": nn.relu,
    "gelu": nn.gelu,
    "silu": nn.silu,
    "elu": nn.elu,
    "leaky_relu": nn.leaky_relu,
    "tanh": jnp.tanh,
    "sigmoid": nn.sigmoid,
    "softplus": nn.softplus,
}

KERNEL_INITS: dict[str, Callable] = {
    "lecun_normal": nn.initializers.lecun_normal(),
    "lecun_uniform": nn.initializers.lecun_uniform(),
    "glorot_normal": nn.initializers.glorot_normal(),
    "glorot_uniform": nn.initializers.glorot_uniform(),
    "he_normal": nn.initializers.he_normal(),
    "he_uniform": nn.initializers.he_uniform(),
    "orthogonal": nn.initializers.orthogonal(),
    "normal_0.01": nn.initializers.normal(stddev=0.01),
}


def get_activation(name: str) -> Callable[[jax.Array], jax.Array]:
    return lookup(ACTIVATIONS, name, "activation")


def get_kernel_init(name: str) -> Callable:
    return lookup(KERNEL_INITS, name, "kernel_init")
