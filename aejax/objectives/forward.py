"""The Forward record: everything a regularizer may look at after one forward pass."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
from flax import struct


@struct.dataclass
class Forward:
    """Inputs, outputs and parameters of one training forward pass.

    `encode` maps a batch of inputs to codes with the current parameters (evaluation mode, no dropout);
    it is pure, so `jax.jacfwd(encode)` or `jax.jvp(encode, ...)` give Jacobian penalties.
    """

    x: jax.Array  # clean input, the reconstruction target
    x_input: jax.Array  # what the encoder saw (corrupted for denoising; else x)
    output: Any  # the model's output record (AutoencoderOutput or a family's richer record)
    params: Any
    rng: jax.Array  # a key of the step's own, for stochastic penalties
    encode: Callable[[jax.Array], jax.Array] = struct.field(pytree_node=False)
    step: Any = None  # the optimizer step (int32 scalar) in training; None elsewhere
    labels: Any = None  # (batch,) int labels when a regularizer needs them (needs_labels), else None
