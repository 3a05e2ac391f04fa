"""A float32 batch function to an ONNX model, through its jaxpr: one rule per primitive (onnx_ops, onnx_linear),
calls (jit, custom_jvp/vjp, remat) inlined, the constants (trained weights) as initializers, a symbolic batch."""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from jax import export as jax_export
from jax.extend.core import Literal

from aejax.export import onnx_linear, onnx_ops
from aejax.export.errors import ExportError
from aejax.export.onnx_graph import BATCH, IR_VERSION, OPSET, GraphBuilder
from aejax.training.metrics_log import write_atomic_bytes

RULES = {
    **dict.fromkeys(onnx_ops._ELEMENTWISE, onnx_ops._elementwise),
    "ne": onnx_ops._ne,
    "rsqrt": onnx_ops._rsqrt,
    "square": onnx_ops._square,
    "log1p": onnx_ops._log1p,
    "expm1": onnx_ops._expm1,
    "integer_pow": onnx_ops._integer_pow,
    "convert_element_type": onnx_ops._convert,
    "clamp": onnx_ops._clamp,
    "select_n": onnx_ops._select_n,
    "reshape": onnx_ops._reshape,
    "squeeze": onnx_ops._squeeze,
    "expand_dims": onnx_ops._expand_dims,
    "broadcast_in_dim": onnx_ops._broadcast_in_dim,
    "transpose": onnx_ops._transpose,
    "reduce_sum": onnx_ops._reduce("ReduceSum"),
    "reduce_max": onnx_ops._reduce("ReduceMax"),
    "reduce_min": onnx_ops._reduce("ReduceMin"),
    "argmax": onnx_ops._argmax("ArgMax"),
    "argmin": onnx_ops._argmax("ArgMin"),
    "concatenate": onnx_ops._concatenate,
    "stack": onnx_ops._stack,
    "split": onnx_ops._split,
    "slice": onnx_ops._slice,
    "iota": onnx_ops._iota,
    "dot_general": onnx_linear.dot_general,
    "pad": onnx_linear.pad,
    "gather": onnx_linear.gather,
    "conv_general_dilated": onnx_linear.conv_general_dilated,
}
CALLS = (
    "pjit",
    "jit",
    "closed_call",
    "core_call",
    "custom_jvp_call",
    "custom_vjp_call",
    "remat",
    "checkpoint",
)


def covered_primitives() -> list[str]:
    return sorted([*RULES, *onnx_ops._PASS_THROUGH, *CALLS])


def _called(eqn):
    """(jaxpr, consts) of a call equation's body."""
    for key in ("jaxpr", "call_jaxpr", "fun_jaxpr"):
        body = eqn.params.get(key)
        if body is not None:
            return (body.jaxpr, body.consts) if hasattr(body, "consts") else (body, ())
    raise ExportError(f"{eqn.primitive.name} without a body jaxpr")


def emit(g: GraphBuilder, jaxpr, consts, inputs: list[str]) -> list[str]:
    """Add `jaxpr`'s equations to the graph; the names of its outputs."""
    env = {}

    def read(atom):
        if isinstance(atom, Literal):
            return g.const(np.asarray(atom.val, dtype=atom.aval.dtype))
        return env[atom]

    for var, value in zip(jaxpr.constvars, consts, strict=True):
        env[var] = g.const(np.asarray(value))
    env.update(zip(jaxpr.invars, inputs, strict=True))
    for eqn in jaxpr.eqns:
        ins, name = [read(atom) for atom in eqn.invars], eqn.primitive.name
        if name in onnx_ops._PASS_THROUGH:
            outs = ins
        elif name in CALLS:
            outs = emit(g, *_called(eqn), ins)
        elif name in RULES:
            outs = RULES[name](g, eqn, ins)
        else:
            raise ExportError(
                f"primitive {name!r} is not covered by aejax's ONNX converter (it covers "
                f"{', '.join(covered_primitives())})"
            )
        for var, out in zip(eqn.outvars, outs, strict=True):
            env[var] = out
    return [read(atom) for atom in jaxpr.outvars]


def to_onnx(fn, input_shape: tuple[int, ...], out: Path, label: str) -> dict:
    """Write `fn`'s ONNX model (input 'x' float32 (batch, *input_shape), output 'y') to `out`; its output
    shape without the batch and the opset."""
    import onnx
    from onnx import TensorProto, helper

    batch_dim = jax_export.symbolic_shape(BATCH)[0]
    spec = jax.ShapeDtypeStruct((batch_dim, *input_shape), jnp.float32)
    try:
        closed = jax.make_jaxpr(fn)(spec)
        g = GraphBuilder("x", batch_dim)
        (result,) = emit(g, closed.jaxpr, closed.consts, ["x"])
    except ExportError as error:
        raise ExportError(f"cannot export {label} to ONNX: {error}; format 'stablehlo' can") from error
    out_shape = closed.out_avals[0].shape
    g.nodes.append(helper.make_node("Identity", [result], ["y"]))
    graph = helper.make_graph(
        g.nodes,
        f"aejax_{label}",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [BATCH, *input_shape])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [str(d) for d in out_shape])],
        initializer=g.used_initializers(),
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="aejax", ir_version=IR_VERSION
    )
    onnx.checker.check_model(model)
    write_atomic_bytes(Path(out), model.SerializeToString())
    return {"output_shape": [int(d) for d in out_shape[1:]], "onnx_opset": OPSET}
