"""Model families as records: the one registry the trunk dispatches on (see `Family`).

Importing this package registers the built-in families; `register_family` adds a user's own.
"""

from aejax.families import builtin
from aejax.families.build import build_model, checked_settings, model_from_config
from aejax.families.record import BuildContext, Family, family_names, get_family, register_family

__all__ = [
    "BuildContext",
    "Family",
    "build_model",
    "builtin",
    "checked_settings",
    "family_names",
    "get_family",
    "model_from_config",
    "register_family",
]
