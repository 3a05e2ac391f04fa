"""objective = reconstruction(clean x) + sum_i weight_i * regularizer_i(forward), reported term by term."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp

from aejax.data.augment import Augmentation
from aejax.objectives.corruptions import Corruption
from aejax.objectives.forward import Forward
from aejax.objectives.losses import get_reconstruction_loss
from aejax.objectives.regularizers import check_settings, needs_labels, per_example, resolve_regularizer

RESERVED_FIELDS = ("fn", "weight", "warmup", "warmup_steps")
WARMUPS = ("none", "linear", "cyclical")


def warmup_factor(kind: str, warmup_steps: int, step: jax.Array | None) -> jax.Array:
    """Multiplier of a term's weight at `step`: 1 for 'none'; 'linear' ramps 0 -> 1 over warmup_steps;
    'cyclical' (Fu et al. 2019) repeats a ramp over the first half of each warmup_steps-long cycle."""
    if kind == "none" or step is None:
        return jnp.ones(())
    t = jnp.asarray(step, jnp.float32)
    if kind == "linear":
        return jnp.minimum(1.0, t / warmup_steps)
    phase = jnp.mod(t, warmup_steps) / warmup_steps
    return jnp.minimum(1.0, 2.0 * phase)


@dataclasses.dataclass(frozen=True)
class Objective:
    """A hashable (jit-static) description of the loss.

    `regularizers` holds (label, function name or import path, weight[, settings[, (warmup, warmup_steps)]])
    where settings is a tuple of (keyword, value) pairs passed to the function. Metrics report each term
    unweighted as `reg/<label>` so runs with different weights stay comparable. `corruption` is applied to the
    encoder's input in training (denoising); the reconstruction target stays the clean input.

    For variational models, `iwae_samples` > 1 trains on the k-sample importance-weighted bound instead of
    reconstruction + KL, and `binarize` resamples x ~ Bernoulli(x) every step (dynamic binarization).
    `augmentation` (aejax.data.augment) moves each training example before anything else: the encoder's input
    and the target are then the same moved image.
    """

    reconstruction: str = "mse"
    regularizers: tuple[tuple[Any, ...], ...] = ()
    corruption: Corruption = dataclasses.field(default_factory=Corruption)
    iwae_samples: int = 1
    binarize: bool = False
    reconstruction_weight: float = 1.0
    augmentation: Augmentation = dataclasses.field(default_factory=Augmentation)

    def __post_init__(self):
        get_reconstruction_loss(self.reconstruction)  # fail at construction, not inside jit
        terms = []
        for term in self.regularizers:
            if len(term) not in (3, 4, 5):
                raise ValueError(
                    f"a regularizer term is (label, fn, weight[, settings[, warmup]]), got {term!r}"
                )
            defaults = ((), ("none", 0))  # settings, warmup
            label, fn, weight, settings, warmup = (*term, *defaults[len(term) - 3 :])
            settings = tuple(sorted(dict(settings).items()))
            check_settings(fn, dict(settings))
            kind, steps = warmup
            if kind not in WARMUPS:
                raise ValueError(
                    f"regularizer {label!r}: warmup must be one of {', '.join(WARMUPS)}, got {kind!r}"
                )
            if kind != "none" and int(steps) < 1:
                raise ValueError(
                    f"regularizer {label!r}: warmup {kind!r} needs warmup_steps >= 1, got {steps}"
                )
            terms.append((str(label), str(fn), float(weight), settings, (str(kind), int(steps))))
        object.__setattr__(self, "regularizers", tuple(terms))
        if self.reconstruction_weight < 0:
            raise ValueError(f"loss.reconstruction_weight must be >= 0, got {self.reconstruction_weight}")
        if self.iwae_samples < 1:
            raise ValueError(f"loss.iwae_samples must be >= 1, got {self.iwae_samples}")
        if self.iwae_samples > 1 and any(fn == "kl_standard_normal" for _, fn, *_ in terms):
            raise ValueError(
                "loss.iwae_samples > 1 trains on the importance-weighted bound, which already holds the KL term; "
                "remove the kl_standard_normal regularizer"
            )

    @classmethod
    def from_mapping(
        cls,
        reconstruction: str,
        regularizers: Mapping[str, Mapping[str, Any]],
        corruption: Mapping[str, Any] | Corruption | None = None,
        iwae_samples: int = 1,
        binarize: bool = False,
        reconstruction_weight: float = 1.0,
        augment: Mapping[str, Any] | Augmentation | None = None,
    ) -> Objective:
        terms = tuple(
            (
                label,
                str(e["fn"]),
                float(e["weight"]),
                tuple((k, v) for k, v in e.items() if k not in RESERVED_FIELDS),
                (str(e.get("warmup", "none")), int(e.get("warmup_steps", 0))),
            )
            for label, e in sorted(regularizers.items())
        )
        if corruption is None:
            corruption = Corruption()
        elif not isinstance(corruption, Corruption):
            corruption = Corruption.from_mapping(corruption)
        return cls(
            reconstruction=reconstruction,
            regularizers=terms,
            corruption=corruption,
            iwae_samples=int(iwae_samples),
            binarize=bool(binarize),
            reconstruction_weight=float(reconstruction_weight),
            augmentation=augment if isinstance(augment, Augmentation) else Augmentation.from_mapping(augment),
        )

    @property
    def needs_labels(self) -> bool:
        """True when a regularizer reads labels: training batches must then carry y."""
        return any(needs_labels(fn) for _, fn, *_ in self.regularizers)

    @property
    def per_example(self) -> bool:
        """True when the loss is a mean of per-example terms (plus terms of the parameters alone), so that its
        gradient on a batch is the mean of its gradients on equal slices of it: every reconstruction loss is;
        a regularizer is when `regularizers.per_example` says so."""
        return all(per_example(fn, dict(settings)) for _, fn, _, settings, _ in self.regularizers)

    def per_example_reconstruction(self, output: Any, target: jax.Array) -> jax.Array:
        return get_reconstruction_loss(self.reconstruction)(output, target)

    def importance_weighted_bound(self, log_weights: jax.Array) -> jax.Array:
        """(batch,) log (1/k) sum_i w_i from (batch, k) log-weights: the IWAE bound (k = 1: the ELBO)."""
        k = log_weights.shape[1]
        return jax.nn.logsumexp(log_weights, axis=1) - jnp.log(k)

    def corrupt(self, x: jax.Array, rng: jax.Array) -> jax.Array:
        return self.corruption(x, rng)

    def __call__(
        self, forward: Forward, weights: dict[str, jax.Array] | None = None
    ) -> tuple[jax.Array, dict[str, jax.Array]]:
        """(loss, aux). `weights` (label -> traced scalar) replaces configured weights, e.g. per sweep member."""
        reconstruction = jnp.mean(self.per_example_reconstruction(forward.output, forward.x))
        loss = self.reconstruction_weight * reconstruction
        aux = {"reconstruction": reconstruction}
        for index, (label, fn, weight, settings, (warmup, warmup_steps)) in enumerate(self.regularizers):
            if weights is not None and label in weights:
                weight = weights[label]
            sub = forward.replace(rng=jax.random.fold_in(forward.rng, index))
            value = jnp.asarray(resolve_regularizer(fn)(sub, **dict(settings)))
            value = value.astype(jnp.result_type(reconstruction, value))
            if value.shape != ():
                raise ValueError(f"regularizer {fn!r} must return a scalar, got shape {value.shape}")
            aux[f"reg/{label}"] = value
            if warmup != "none":
                factor = warmup_factor(warmup, warmup_steps, forward.step)
                aux[f"weight/{label}"] = weight * factor
                loss = loss + weight * factor * value
            else:
                loss = loss + weight * value
        aux["loss"] = loss
        return loss, aux
