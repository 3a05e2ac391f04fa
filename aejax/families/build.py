"""Building a model: the shared spec and a family's own settings, through the family's record."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flax import linen as nn

from aejax.families.record import BuildContext, Family, get_family
from aejax.models.registry import ModelSpec, check_shared


def build_model(
    spec: ModelSpec,
    input_shape: tuple[int, ...],
    likelihood: str = "bernoulli",
    gaussian_scale: float = 1.0,
    settings: Any = None,
    *,
    adversarial: Any = None,
    config: Any = None,
) -> nn.Module:
    """The model of family `spec.family` for examples of shape `input_shape`. `settings` is the family's own
    settings (its dataclass or a mapping, e.g. `config.model.vqvae`; None: its defaults); `adversarial` is
    the older name of an adversarial autoencoder's settings (the `adversarial` block). A VAE's likelihood is
    `likelihood` (loss.reconstruction)."""
    family = get_family(spec.family)
    check_shared(spec)
    if settings is None:
        settings = adversarial
    context = BuildContext(tuple(input_shape), likelihood, gaussian_scale, config)
    return family.build(spec, checked_settings(family, settings), context)


def checked_settings(family: Family, settings: Any) -> Any:
    """`settings` as the family's settings dataclass (a mapping is converted, None gives the defaults)."""
    if family.settings is None:
        if settings:
            raise ValueError(f"model.family={family.name!r} takes no settings, got {settings!r}")
        return None
    if isinstance(settings, family.settings):
        return settings
    if settings is not None and not isinstance(settings, Mapping):
        raise TypeError(
            f"settings of model.family={family.name!r} must be a {family.settings.__name__} or a mapping, got "
            f"{type(settings).__name__}"
        )
    return family.settings_from(dict(settings or {}))


def block_of(config: Any, path: str) -> Any:
    """The config section at a dotted path (e.g. 'model.vqvae'), None when absent."""
    node = config
    for part in path.split("."):
        if part not in node:
            return None
        node = node[part]
    return node.to_dict() if hasattr(node, "to_dict") else node


def model_from_config(config: Any, input_shape: tuple[int, ...]) -> nn.Module:
    """The configured model: `config.model` (shared settings) and its family's block."""
    spec = ModelSpec.from_mapping(config.model.to_dict())
    family = get_family(spec.family)
    return build_model(
        spec,
        input_shape,
        config.loss.reconstruction,
        config.loss.gaussian_scale,
        block_of(config, family.settings_block),
        config=config,
    )
