"""Name lookup shared by every registry: errors list the valid names."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

T = TypeVar("T")


def lookup(table: Mapping[str, T], name: str, what: str) -> T:
    if name not in table:
        raise ValueError(f"unknown {what} {name!r}; valid names: {', '.join(sorted(table))}")
    return table[name]
