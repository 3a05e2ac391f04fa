"""What an artifact computes: one of `Trained`'s array methods as a float32 function of a batch, weights baked in."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from aejax.export.errors import ExportError

WHATS = ("encode", "decode", "reconstruct", "score")


def describe(trained) -> str:
    """'family (config name)' for error messages."""
    name = trained.config.get("name", None) if hasattr(trained.config, "get") else None
    return f"{trained.family.name!r}" + (f" (config {name!r})" if name else "")


def _float32(tree):
    return jax.tree.map(
        lambda a: np.asarray(a, np.float32) if jnp.issubdtype(jnp.asarray(a).dtype, jnp.floating) else a,
        tree,
    )


def exported_function(trained, what: str) -> tuple[Callable, tuple[int, ...]]:
    """(fn, input shape without the batch): `fn(x_BxI)` computes what `trained.<what>(x)` computes, with the
    trained variables as constants.

    `trained` is duck-typed (an `aejax.trained.Trained`): the function is the very jitted one its method runs
    (`trained._fns[what]`), so an artifact cannot drift from the method it stands for.
    """
    if what not in WHATS:
        raise ExportError(f"cannot export {what!r}: valid: {', '.join(WHATS)}")
    if not callable(getattr(trained.model, what if what in ("encode", "decode") else "__call__", None)):
        raise ExportError(f"the {describe(trained)} model has no {what!r} method to export")
    fn = trained._fns[what]
    variables = _float32(trained._variables())
    shape = (int(trained.model.latent_dim),) if what == "decode" else tuple(trained.input_shape)

    def batch_fn(x):
        return jnp.asarray(fn(variables, x), jnp.float32)

    return batch_fn, shape
