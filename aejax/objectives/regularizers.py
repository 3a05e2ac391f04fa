"""Regularizers: pure functions `regularizer(forward) -> scalar`, selected by name or import path.

A user-written regularizer is any importable function of a `Forward`; configs name it as
`"my_pkg.penalties:orthogonality"`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

import jax
import jax.numpy as jnp

from aejax._registry import lookup
from aejax.objectives.forward import Forward

Regularizer = Callable[[Forward], jax.Array]


def code_l2(forward: Forward) -> jax.Array:
    """Squared L2 norm of the code, summed over code units and averaged over the batch."""
    code = forward.output.code
    return jnp.mean(jnp.sum(jnp.square(code.reshape(code.shape[0], -1)), axis=1))


def _kernels(params) -> list[jax.Array]:
    leaves = jax.tree_util.tree_leaves_with_path(params)
    return [leaf for path, leaf in leaves if getattr(path[-1], "key", None) == "kernel"]


def weight_l2(forward: Forward) -> jax.Array:
    """Sum of squared kernel entries over all layers (biases and norm scales excluded)."""
    kernels = _kernels(forward.params)
    return sum((jnp.sum(jnp.square(k)) for k in kernels), jnp.zeros(()))


REGULARIZERS: dict[str, Regularizer] = {"code_l2": code_l2, "weight_l2": weight_l2}


def resolve_regularizer(name: str) -> Regularizer:
    """A registered name (e.g. 'code_l2') or an import path 'package.module:function'."""
    if ":" not in name:
        return lookup(REGULARIZERS, name, "regularizer (or use 'package.module:function')")
    module_name, _, attr = name.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as err:  # ImportError, or whatever the user's module raised while importing
        raise ValueError(f"regularizer {name!r}: importing module {module_name!r} failed ({err!r})") from err
    fn = getattr(module, attr, None)
    if fn is None or not callable(fn):
        raise ValueError(f"regularizer {name!r}: module {module_name!r} has no callable {attr!r}")
    return fn
