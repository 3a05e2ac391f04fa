"""Name lookup shared by every registry: errors list the valid names."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import TypeVar

T = TypeVar("T")


def lookup(table: Mapping[str, T], name: str, what: str) -> T:
    if name not in table:
        raise ValueError(f"unknown {what} {name!r}; valid names: {', '.join(sorted(table))}")
    return table[name]


def import_object(path: str, what: str, kind: str = "attribute", check=None) -> object:
    """The object at an import path 'package.module:name'; errors name `what` (e.g. "regularizer 'p:f'") and
    the `kind` of object expected, which `check(obj)` (when given) confirms."""
    module_name, _, attr = path.partition(":")
    if not module_name or not attr:
        raise ValueError(f"{what}: an import path looks like 'package.module:name'")
    try:
        module = importlib.import_module(module_name)
    except Exception as err:  # ImportError, or whatever the user's module raised while importing
        raise ValueError(f"{what}: importing module {module_name!r} failed ({err!r})") from err
    obj = getattr(module, attr, None)
    if obj is None or (check is not None and not check(obj)):
        raise ValueError(f"{what}: module {module_name!r} has no {kind} {attr!r}")
    return obj
