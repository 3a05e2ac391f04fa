"""A float32 batch function to a serialized `jax.export.Exported` (StableHLO) with a symbolic batch dimension."""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
from jax import export as jax_export

from aejax.export.errors import ExportError
from aejax.export.onnx_graph import BATCH
from aejax.training.metrics_log import write_atomic_bytes


def to_stablehlo(fn, input_shape: tuple[int, ...], out: Path, label: str, platforms=None) -> dict:
    """Write `fn` serialized (`Exported.serialize()`) to `out`: callable as `jax.export.deserialize(
    open(out, 'rb').read()).call(x)` for float32 x of shape (any batch, *input_shape)."""
    dims = ", ".join([BATCH, *map(str, input_shape)])
    spec = jax.ShapeDtypeStruct(jax_export.symbolic_shape(dims), jnp.float32)
    try:
        exported = jax_export.export(jax.jit(fn), platforms=platforms)(spec)
    except Exception as error:
        raise ExportError(
            f"cannot export {label} with a symbolic batch dimension: {type(error).__name__}: {error}"
        ) from error
    write_atomic_bytes(Path(out), bytes(exported.serialize()))
    return {
        "output_shape": [int(d) for d in exported.out_avals[0].shape[1:]],
        "platforms": list(exported.platforms),
    }
