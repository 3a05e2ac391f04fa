"""Optimizers and learning-rate schedules from plain settings."""

from __future__ import annotations

import optax

from aejax._registry import lookup

OPTIMIZERS = {
    "adam": lambda lr, wd: optax.adam(lr),
    "adamw": lambda lr, wd: optax.adamw(lr, weight_decay=wd),
    "sgd": lambda lr, wd: optax.sgd(lr),
    "momentum": lambda lr, wd: optax.sgd(lr, momentum=0.9, nesterov=True),
}


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
    if weight_decay and name != "adamw":
        raise ValueError(f"train.weight_decay={weight_decay} needs train.optimizer='adamw', got {name!r}")
    base = lookup(OPTIMIZERS, name, "optimizer")(schedule, weight_decay)
    if grad_clip_norm > 0:
        return optax.chain(optax.clip_by_global_norm(grad_clip_norm), base)
    return base
