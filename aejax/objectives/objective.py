"""objective = reconstruction + sum_i weight_i * regularizer_i(forward), reported term by term."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp

from aejax.objectives.forward import Forward
from aejax.objectives.losses import get_reconstruction_loss
from aejax.objectives.regularizers import resolve_regularizer


@dataclasses.dataclass(frozen=True)
class Objective:
    """A hashable (jit-static) description of the loss.

    `regularizers` holds (label, function name or import path, weight); metrics report each term
    unweighted as `reg/<label>` so runs with different weights stay comparable.
    """

    reconstruction: str = "mse"
    regularizers: tuple[tuple[str, str, float], ...] = ()

    def __post_init__(self):
        get_reconstruction_loss(self.reconstruction)  # fail at construction, not inside jit
        for _, fn, _ in self.regularizers:
            resolve_regularizer(fn)

    @classmethod
    def from_mapping(cls, reconstruction: str, regularizers: Mapping[str, Mapping[str, Any]]) -> Objective:
        terms = tuple((label, str(e["fn"]), float(e["weight"])) for label, e in sorted(regularizers.items()))
        return cls(reconstruction=reconstruction, regularizers=terms)

    def per_example_reconstruction(self, output: Any, target: jax.Array) -> jax.Array:
        return get_reconstruction_loss(self.reconstruction)(output, target)

    def __call__(self, forward: Forward) -> tuple[jax.Array, dict[str, jax.Array]]:
        reconstruction = jnp.mean(self.per_example_reconstruction(forward.output, forward.x))
        loss = reconstruction
        aux = {"reconstruction": reconstruction}
        for index, (label, fn, weight) in enumerate(self.regularizers):
            sub = forward.replace(rng=jax.random.fold_in(forward.rng, index))
            value = jnp.asarray(resolve_regularizer(fn)(sub))
            value = value.astype(jnp.result_type(reconstruction, value))
            if value.shape != ():
                raise ValueError(f"regularizer {fn!r} must return a scalar, got shape {value.shape}")
            aux[f"reg/{label}"] = value
            loss = loss + weight * value
        aux["loss"] = loss
        return loss, aux
