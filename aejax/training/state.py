"""The immutable TrainState pytree and its construction."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import linen as nn
from flax import struct


class TrainState(struct.PyTreeNode):
    """step, params, opt_state, rng and non-parameter model collections (e.g. batch statistics).

    `extras` holds the state of a family whose step makes more than one update (None for the others): for
    an adversarial autoencoder, the discriminator's parameters and the discriminator's and generator's
    optimizer states (see `adversarial_extras`). Checkpoints save and restore it with the rest.
    """

    step: jax.Array
    params: Any
    opt_state: Any
    rng: jax.Array
    model_state: Any
    tx: optax.GradientTransformation = struct.field(pytree_node=False)
    extras: Any = None


def adversarial_extras(model: nn.Module, params: Any, key: jax.Array) -> dict[str, Any]:
    """Discriminator parameters from `key`, and fresh optimizer states of the discriminator and of the
    generator (the encoder's regularization phase, over `params['encoder']`)."""
    discriminator_tx, generator_tx = model.adversarial.optimizers()
    dummy = jnp.zeros((1, model.latent_dim), jnp.float32)
    discriminator_params = model.init({"params": key}, dummy, method="discriminate")["params"]
    return {
        "discriminator_params": discriminator_params,
        "discriminator_opt_state": discriminator_tx.init(discriminator_params),
        "generator_opt_state": generator_tx.init(params["encoder"]),
    }


def create_train_state(
    model: nn.Module,
    tx: optax.GradientTransformation,
    input_shape: tuple[int, ...],
    seed: int,
    init_extras: Callable[[nn.Module, Any, jax.Array], Any] | None = None,
) -> TrainState:
    """Initialise parameters from `seed`; the same seed gives the same bits. `init_extras(model, params, key)`
    (a family's, e.g. `adversarial_extras`) makes the state kept in `extras`."""

    def arrays(key: jax.Array) -> dict[str, Any]:
        init_key, state_key = jax.random.split(key)
        dummy = jnp.zeros((1, *input_shape), jnp.float32)
        variables = dict(model.init({"params": init_key, "dropout": init_key}, dummy, train=False))
        params = variables.pop("params")
        extras = None if init_extras is None else init_extras(model, params, jax.random.fold_in(init_key, 1))
        return {
            "step": jnp.zeros((), jnp.int32),
            "params": params,
            "opt_state": tx.init(params),
            "rng": state_key,
            "model_state": variables,
            "extras": extras,
        }

    # one compiled program: op by op, each initializer and optimizer slot compiles on its own (seconds)
    return TrainState(tx=tx, **jax.jit(arrays)(jax.random.PRNGKey(seed)))


def count_params(params: Any) -> int:
    return int(sum(x.size for x in jax.tree_util.tree_leaves(params)))
