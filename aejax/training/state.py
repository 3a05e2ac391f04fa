"""The immutable TrainState pytree and its construction."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import linen as nn
from flax import struct


class TrainState(struct.PyTreeNode):
    """step, params, opt_state, rng and non-parameter model collections (e.g. batch statistics)."""

    step: jax.Array
    params: Any
    opt_state: Any
    rng: jax.Array
    model_state: Any
    tx: optax.GradientTransformation = struct.field(pytree_node=False)


def create_train_state(
    model: nn.Module, tx: optax.GradientTransformation, input_shape: tuple[int, ...], seed: int
) -> TrainState:
    """Initialise parameters from `seed`; the same seed gives the same bits."""
    init_key, state_key = jax.random.split(jax.random.PRNGKey(seed))
    dummy = jnp.zeros((1, *input_shape), jnp.float32)
    variables = dict(model.init({"params": init_key, "dropout": init_key}, dummy, train=False))
    params = variables.pop("params")
    return TrainState(
        step=jnp.zeros((), jnp.int32),
        params=params,
        opt_state=tx.init(params),
        rng=state_key,
        model_state=variables,
        tx=tx,
    )


def count_params(params: Any) -> int:
    return int(sum(x.size for x in jax.tree_util.tree_leaves(params)))
