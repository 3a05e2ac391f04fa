"""objective = reconstruction(clean x) + sum_i weight_i * regularizer_i(forward), reported term by term."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp

from aejax.objectives.corruptions import Corruption
from aejax.objectives.forward import Forward
from aejax.objectives.losses import get_reconstruction_loss
from aejax.objectives.regularizers import check_settings, resolve_regularizer

RESERVED_FIELDS = ("fn", "weight")


@dataclasses.dataclass(frozen=True)
class Objective:
    """A hashable (jit-static) description of the loss.

    `regularizers` holds (label, function name or import path, weight[, settings]) where settings is a
    tuple of (keyword, value) pairs passed to the function. Metrics report each term unweighted as
    `reg/<label>` so runs with different weights stay comparable. `corruption` is applied to the
    encoder's input in training (denoising); the reconstruction target stays the clean input.
    """

    reconstruction: str = "mse"
    regularizers: tuple[tuple[Any, ...], ...] = ()
    corruption: Corruption = dataclasses.field(default_factory=Corruption)

    def __post_init__(self):
        get_reconstruction_loss(self.reconstruction)  # fail at construction, not inside jit
        terms = []
        for term in self.regularizers:
            if len(term) not in (3, 4):
                raise ValueError(f"a regularizer term is (label, fn, weight[, settings]), got {term!r}")
            label, fn, weight, settings = (*term, ())[:4]
            settings = tuple(sorted(dict(settings).items()))
            check_settings(fn, dict(settings))
            terms.append((str(label), str(fn), float(weight), settings))
        object.__setattr__(self, "regularizers", tuple(terms))

    @classmethod
    def from_mapping(
        cls,
        reconstruction: str,
        regularizers: Mapping[str, Mapping[str, Any]],
        corruption: Mapping[str, Any] | Corruption | None = None,
    ) -> Objective:
        terms = tuple(
            (
                label,
                str(e["fn"]),
                float(e["weight"]),
                tuple((k, v) for k, v in e.items() if k not in RESERVED_FIELDS),
            )
            for label, e in sorted(regularizers.items())
        )
        if corruption is None:
            corruption = Corruption()
        elif not isinstance(corruption, Corruption):
            corruption = Corruption.from_mapping(corruption)
        return cls(reconstruction=reconstruction, regularizers=terms, corruption=corruption)

    def per_example_reconstruction(self, output: Any, target: jax.Array) -> jax.Array:
        return get_reconstruction_loss(self.reconstruction)(output, target)

    def corrupt(self, x: jax.Array, rng: jax.Array) -> jax.Array:
        return self.corruption(x, rng)

    def __call__(self, forward: Forward) -> tuple[jax.Array, dict[str, jax.Array]]:
        reconstruction = jnp.mean(self.per_example_reconstruction(forward.output, forward.x))
        loss = reconstruction
        aux = {"reconstruction": reconstruction}
        for index, (label, fn, weight, settings) in enumerate(self.regularizers):
            sub = forward.replace(rng=jax.random.fold_in(forward.rng, index))
            value = jnp.asarray(resolve_regularizer(fn)(sub, **dict(settings)))
            value = value.astype(jnp.result_type(reconstruction, value))
            if value.shape != ():
                raise ValueError(f"regularizer {fn!r} must return a scalar, got shape {value.shape}")
            aux[f"reg/{label}"] = value
            loss = loss + weight * value
        aux["loss"] = loss
        return loss, aux
