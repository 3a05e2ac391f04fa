"""The one error of model export."""

from __future__ import annotations


class ExportError(ValueError):
    """A model, a `what` or a primitive that cannot be exported in the asked format; the message says why."""
