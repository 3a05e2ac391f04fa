"""The `Family` record and the one registry of model families.

A family is everything that makes a kind of autoencoder different from the plain one: its own settings, how
its model is built, and the pieces the generic trunk (train step, state, evaluation, `Trained`) asks it for.
The trunk never tests a family's name; it reads these fields, and a field left at its default means "the
plain autoencoder's behaviour". Users register their own families with `register_family` or name one by
import path (`model.family = "my_pkg.models:MY_FAMILY"`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from aejax._registry import import_object


@dataclasses.dataclass(frozen=True)
class BuildContext:
    """What a family's `build` gets besides the shared model spec and its own settings."""

    input_shape: tuple[int, ...]  # one example's shape
    likelihood: str = "mse"  # loss.reconstruction (a VAE's likelihood)
    gaussian_scale: float = 1.0  # loss.gaussian_scale
    config: Any = None  # the whole validated config (a ConfigDict), for families that read other sections


@dataclasses.dataclass(frozen=True)
class Family:
    """A model family: the record the trunk dispatches on.

    build(spec, settings, context) -> flax Module: `spec` is the shared `aejax.models.ModelSpec`, `settings`
        an instance of `settings` (the family's own config block, `config.model.<name>`) or None, `context`
        a BuildContext. The module has `encode`, `decode` and `__call__(x, *, train)` returning a record with
        at least `reconstruction` and `code`.
    settings: a frozen dataclass of the family's own settings, validated like every config key.
    settings_block: the config path of those settings (default `model.<name>`).
    train_step(model, objective, schedule, *, log_norms) -> step(state, batch) -> (state, metrics): the
        family's own jitted step; None trains with the generic step.
    init_extras(model, params, key) -> pytree kept in `TrainState.extras` (e.g. a discriminator).
    adjust_loss(model, variables, x_input, objective, loss, aux, rngs, output) -> (loss, aux): a term of the
        generic step's loss the family adds or replaces (the IWAE bound; FactorVAE's TC term), `output` being
        the training forward pass's output record.
    eval_output(model, variables, x, mask) -> output: the forward pass evaluation scores (default: the
        deterministic pass).
    eval_terms(output, per_example_reconstruction) -> {name: per-example array}: extra evaluation metrics
        (summed, then averaged over examples like the reconstruction).
    monitor: the validation metric early stopping watches.
    split_metrics(trained, x, metrics) -> dict: metrics `fit` adds to a split's results (`metrics`: those
        computed so far, e.g. the evaluation's means).
    pictures(trained, x, y) -> list of paths: pictures of its own `fit` draws in the workdir.
    anomaly_term: the evaluation term `Trained.score` returns per example.
    generative: whether `Trained.sample` works (the model has `prior_sample(rng, num)`); `fit` then draws
        samples, interpolations and codes against the prior.
    variational: whether the model has `log_weights` (importance-weighted bound, `Trained.log_likelihood`).
    sequential: whether the model reads (time, features) examples and reconstructs every time step.
    """

    name: str
    build: Callable[..., Any]
    settings: type | None = None
    settings_block: str = ""
    train_step: Callable[..., Any] | None = None
    init_extras: Callable[..., Any] | None = None
    adjust_loss: Callable[..., Any] | None = None
    eval_output: Callable[..., Any] | None = None
    eval_terms: Callable[..., Any] | None = None
    monitor: str = "reconstruction"
    split_metrics: Callable[..., Any] | None = None
    pictures: Callable[..., Any] | None = None
    anomaly_term: str = "reconstruction"
    generative: bool = False
    variational: bool = False
    sequential: bool = False

    def __post_init__(self):
        if not self.name.isidentifier():
            raise ValueError(
                f"a family's name must be a Python identifier (its config block), got {self.name!r}"
            )
        if self.settings is not None and not dataclasses.is_dataclass(self.settings):
            raise TypeError(f"Family {self.name!r}: settings must be a dataclass, got {self.settings!r}")
        if not self.settings_block:
            object.__setattr__(self, "settings_block", f"model.{self.name}")

    def settings_from(self, values: dict[str, Any] | None) -> Any:
        """The family's settings dataclass from a config block (None when the family has no settings)."""
        if self.settings is None:
            return None
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in (values or {}).items()}
        return self.settings(**values)

    def default_settings(self) -> dict[str, Any]:
        """The settings block's defaults, as plain values."""
        if self.settings is None:
            return {}
        return dataclasses.asdict(self.settings())


_FAMILIES: dict[str, Family] = {}


def register_family(family: Family, *, replace: bool = False) -> Family:
    """Add `family` to the registry under its name; refuses to replace another family unless `replace`."""
    if not isinstance(family, Family):
        raise TypeError(f"register_family expects an aejax.families.Family, got {type(family).__name__}")
    existing = _FAMILIES.get(family.name)
    if existing is not None and existing is not family and not replace:
        raise ValueError(f"a family named {family.name!r} is already registered (pass replace=True)")
    _FAMILIES[family.name] = family
    return family


def family_names() -> list[str]:
    return sorted(_FAMILIES)


def get_family(name: str) -> Family:
    """The registered family `name`, or the Family object at an import path `package.module:NAME`
    (registered on first use)."""
    if name in _FAMILIES:
        return _FAMILIES[name]
    if ":" in name:
        family = import_object(name, f"model.family {name!r}")
        if not isinstance(family, Family):
            raise TypeError(
                f"model.family {name!r} is a {type(family).__name__}, expected an aejax.families.Family"
            )
        _FAMILIES.setdefault(family.name, family)
        return family
    raise ValueError(
        f"unknown model.family {name!r}; valid: {', '.join(family_names())} (or a 'package.module:NAME' path to "
        "a Family)"
    )
