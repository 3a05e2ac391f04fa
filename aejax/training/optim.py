"""Optimizers and learning-rate schedules from plain settings."""

from __future__ import annotations

import jax
import optax

from aejax._registry import lookup


def kernel_mask(params):
    """True at kernels (weights of dense/conv layers); biases and norm parameters are not decayed."""
    return jax.tree_util.tree_map_with_path(
        lambda path, _: getattr(path[-1], "key", None) == "kernel", params
    )


def _decayed(base, wd):
    """Decoupled weight decay w <- w - lr * wd * w on kernels, added to the update before the optimizer."""
    if not wd:
        return base
    return optax.chain(optax.add_decayed_weights(wd, mask=kernel_mask), base)


OPTIMIZERS = {
    "adam": lambda lr, wd: _adam_with_decay(lr, wd),
    "adamw": lambda lr, wd: optax.adamw(lr, weight_decay=wd, mask=kernel_mask),
    "sgd": lambda lr, wd: _decayed(optax.sgd(lr), wd),
    "momentum": lambda lr, wd: _decayed(optax.sgd(lr, momentum=0.9, nesterov=True), wd),
}


def _adam_with_decay(lr, wd):
    if wd:
        raise ValueError(
            f"train.weight_decay={wd} with adam would be an L2 penalty rescaled by Adam; use "
            "train.optimizer='adamw' for decoupled decay, or the 'weight_l2' regularizer for a loss penalty"
        )
    return optax.adam(lr)


def make_schedule(
    name: str, learning_rate: float, total_steps: int, warmup_steps: int = 0, min_ratio: float = 0.0
) -> optax.Schedule:
    """'constant' or 'warmup_cosine' (linear warm-up from 0, cosine decay to min_ratio * peak)."""
    if learning_rate <= 0:
        raise ValueError(f"train.learning_rate must be > 0, got {learning_rate}")
    if name == "constant":
        if warmup_steps > 0:
            return optax.linear_schedule(0.0, learning_rate, warmup_steps)
        return optax.constant_schedule(learning_rate)
    if name == "warmup_cosine":
        decay_steps = max(total_steps, warmup_steps + 1)
        return optax.warmup_cosine_decay_schedule(
            init_value=0.0,
            peak_value=learning_rate,
            warmup_steps=warmup_steps,
            decay_steps=decay_steps,
            end_value=learning_rate * min_ratio,
        )
    raise ValueError(f"unknown train.schedule {name!r}; valid names: constant, warmup_cosine")


def make_optimizer(
    name: str, schedule: optax.Schedule, weight_decay: float = 0.0, grad_clip_norm: float = 0.0
) -> optax.GradientTransformation:
    """Gradient clipping by global norm (when > 0), then the named optimizer driven by `schedule`."""
    base = lookup(OPTIMIZERS, name, "optimizer")(schedule, weight_decay)
    if grad_clip_norm > 0:
        return optax.chain(optax.clip_by_global_norm(grad_clip_norm), base)
    return base
