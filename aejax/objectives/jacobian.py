"""Encoder Jacobians d code / d input, per example: exact, and a Hutchinson estimate of ||J||_F^2.

`encode` maps a batch (batch, *input_shape) to codes (batch, *code_shape) and treats examples
independently (no batch statistics), so the Jacobian of example i depends on example i alone.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import jax
import jax.numpy as jnp

Encode = Callable[[jax.Array], jax.Array]


def per_example_jacobian(encode: Encode, x: jax.Array) -> jax.Array:
    """(batch, code_size, input_size): exact, by reverse mode when the code is smaller than the input."""

    def single(x_one):
        return encode(x_one[None])[0].reshape(-1)

    code_size = math.prod(jax.eval_shape(encode, x[:1]).shape[1:])
    input_size = math.prod(x.shape[1:])
    jac = jax.jacrev(single) if code_size <= input_size else jax.jacfwd(single)
    return jax.vmap(jac)(x).reshape(x.shape[0], code_size, input_size)


def jacobian_frobenius_sq(encode: Encode, x: jax.Array) -> jax.Array:
    """(batch,) exact ||J_f(x_i)||_F^2."""
    jac = per_example_jacobian(encode, x)
    return jnp.sum(jnp.square(jac), axis=(1, 2))


def hutchinson_frobenius_sq(
    encode: Encode, x: jax.Array, rng: jax.Array, num_projections: int = 1, distribution: str = "rademacher"
) -> jax.Array:
    """(batch,) unbiased estimate of ||J_f(x_i)||_F^2 = E_v ||J v||^2 for E[v v^T] = I.

    Each projection is one forward-mode pass (`jax.jvp`) whatever the input size; Rademacher
    directions have lower variance than Gaussian ones.
    """
    if num_projections < 1:
        raise ValueError(f"num_projections must be >= 1, got {num_projections}")
    if distribution not in ("rademacher", "gaussian"):
        raise ValueError(f"distribution must be 'rademacher' or 'gaussian', got {distribution!r}")

    def one(key):
        if distribution == "rademacher":
            v = jax.random.rademacher(key, x.shape, x.dtype)
        else:
            v = jax.random.normal(key, x.shape, x.dtype)
        _, jv = jax.jvp(encode, (x,), (v,))
        return jnp.sum(jnp.square(jv.reshape(x.shape[0], -1)), axis=1)

    return jnp.mean(jax.vmap(one)(jax.random.split(rng, num_projections)), axis=0)
