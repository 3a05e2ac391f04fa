"""ONNX nodes for each covered jax primitive (ONNX operator set `onnx_graph.OPSET`).

Each rule takes the builder, the jaxpr equation and its inputs' tensor names and returns its outputs' names.
Shapes come from the equation's avals; a symbolic (batch) dimension becomes a tensor read from the input.
"""

from __future__ import annotations

import numpy as np

from aejax.export.errors import ExportError
from aejax.export.onnx_graph import INT64_MAX, GraphBuilder, onnx_dtype

_ELEMENTWISE = {
    "add": "Add", "add_any": "Add", "sub": "Sub", "mul": "Mul", "div": "Div", "max": "Max", "min": "Min",
    "pow": "Pow", "neg": "Neg", "exp": "Exp", "log": "Log", "tanh": "Tanh", "logistic": "Sigmoid", "abs": "Abs",
    "sqrt": "Sqrt", "erf": "Erf", "sign": "Sign", "floor": "Floor", "ceil": "Ceil", "sin": "Sin", "cos": "Cos",
    "gt": "Greater", "lt": "Less", "ge": "GreaterOrEqual", "le": "LessOrEqual", "eq": "Equal",
    "and": "And", "or": "Or", "not": "Not",
}  # fmt: skip
_PASS_THROUGH = ("optimization_barrier", "copy", "copy_p", "stop_gradient", "reduce_precision")


def _out(eqn, i: int = 0):
    return eqn.outvars[i].aval


def _elementwise(g: GraphBuilder, eqn, ins):
    return [g.op(_ELEMENTWISE[eqn.primitive.name], ins)]


def _ne(g, eqn, ins):
    return [g.op("Not", [g.op("Equal", ins)])]


def _rsqrt(g, eqn, ins):
    return [g.op("Reciprocal", [g.op("Sqrt", ins)])]


def _square(g, eqn, ins):
    return [g.op("Mul", [ins[0], ins[0]])]


def _log1p(g, eqn, ins):
    one = g.const(1, _out(eqn).dtype)
    return [g.op("Log", [g.op("Add", [ins[0], one])])]


def _expm1(g, eqn, ins):
    one = g.const(1, _out(eqn).dtype)
    return [g.op("Sub", [g.op("Exp", ins), one])]


def _integer_pow(g, eqn, ins):
    """x ** y by repeated squaring, the way XLA expands it (so that rounding matches)."""
    y, x = eqn.params["y"], ins[0]
    result, base, n = None, x, abs(y)
    while n:
        if n & 1:
            result = base if result is None else g.op("Mul", [result, base])
        n >>= 1
        if n:
            base = g.op("Mul", [base, base])
    if result is None:
        result = g.op("Expand", [g.const(1, _out(eqn).dtype), g.op("Shape", [x])])
    return [g.op("Reciprocal", [result]) if y < 0 else result]


def _convert(g, eqn, ins):
    return [g.op("Cast", ins, to=onnx_dtype(eqn.params["new_dtype"]))]


def _clamp(g, eqn, ins):
    low, x, high = ins
    return [g.op("Max", [g.op("Min", [x, high]), low])]


def _select_n(g, eqn, ins):
    """select_n(which, *cases): cases[which]; a boolean `which` picks cases[1] where true."""
    which, cases = ins[0], ins[1:]
    if eqn.invars[0].aval.dtype == np.bool_:
        return [g.op("Where", [which, cases[1], cases[0]])]
    result = cases[0]
    for i, case in enumerate(cases[1:], start=1):
        picked = g.op("Equal", [which, g.const(i, eqn.invars[0].aval.dtype)])
        result = g.op("Where", [picked, case, result])
    return [result]


def _reshape(g, eqn, ins):
    if eqn.params.get("dimensions") is not None:
        raise ExportError("reshape with a dimension permutation is not covered")
    return [g.op("Reshape", [ins[0], g.shape(_out(eqn).shape)])]


def _squeeze(g, eqn, ins):
    return [g.op("Squeeze", [ins[0], g.const(list(eqn.params["dimensions"]), np.int64)])]


def _expand_dims(g, eqn, ins):
    return [g.op("Unsqueeze", [ins[0], g.const(list(eqn.params["dimensions"]), np.int64)])]


def _broadcast_in_dim(g, eqn, ins):
    shape, dims = eqn.params["shape"], eqn.params["broadcast_dimensions"]
    operand = eqn.invars[0].aval.shape
    kept = [1] * len(shape)
    for source, target in enumerate(dims):
        kept[target] = operand[source]
    reshaped = g.op("Reshape", [ins[0], g.shape(kept)]) if len(operand) != len(shape) else ins[0]
    return [g.op("Expand", [reshaped, g.shape(shape)])]


def _transpose(g, eqn, ins):
    return [g.op("Transpose", ins, perm=list(eqn.params["permutation"]))]


def _reduce(onnx_op):
    def rule(g, eqn, ins):
        axes = g.const(list(eqn.params["axes"]), np.int64)
        return [g.op(onnx_op, [ins[0], axes], keepdims=0)]

    return rule


def _argmax(onnx_op):
    def rule(g, eqn, ins):
        (axis,) = eqn.params["axes"]
        index = g.op(onnx_op, ins, axis=int(axis), keepdims=0, select_last_index=0)
        return [g.op("Cast", [index], to=onnx_dtype(eqn.params["index_dtype"]))]

    return rule


def _concatenate(g, eqn, ins):
    return [g.op("Concat", ins, axis=int(eqn.params["dimension"]))]


def _stack(g, eqn, ins):
    axis = g.const([int(eqn.params["axis"])], np.int64)
    return [g.op("Concat", [g.op("Unsqueeze", [x, axis]) for x in ins], axis=int(eqn.params["axis"]))]


def _split(g, eqn, ins):
    sizes = g.const([int(s) for s in eqn.params["sizes"]], np.int64)
    outputs = g.op("Split", [ins[0], sizes], outputs=len(eqn.outvars), axis=int(eqn.params["axis"]))
    return outputs if isinstance(outputs, list) else [outputs]


def _slice(g, eqn, ins):
    shape = eqn.invars[0].aval.shape
    starts, ends, axes, steps = [], [], [], []
    strides = eqn.params["strides"] or (1,) * len(shape)
    for axis, (start, limit, stride) in enumerate(
        zip(eqn.params["start_indices"], eqn.params["limit_indices"], strides, strict=True)
    ):
        full = g.is_full(limit, shape[axis])
        if start == 0 and full and stride == 1:
            continue
        if not all(isinstance(v, (int, np.integer)) for v in (start, stride)):
            raise ExportError(f"slice with a symbolic start or stride on axis {axis}")
        if not full and not isinstance(limit, (int, np.integer)):
            raise ExportError(f"slice with a symbolic limit {limit} on axis {axis}")
        starts.append(int(start)), ends.append(INT64_MAX if full else int(limit))
        axes.append(axis), steps.append(int(stride))
    if not axes:
        return [g.op("Identity", ins)]
    args = [g.const(v, np.int64) for v in (starts, ends, axes, steps)]
    return [g.op("Slice", [ins[0], *args])]


def _iota(g, eqn, ins):
    aval = _out(eqn)
    if not all(isinstance(d, (int, np.integer)) for d in aval.shape):
        raise ExportError("iota over the batch dimension is not covered")
    d = eqn.params["dimension"]
    values = np.arange(aval.shape[d], dtype=aval.dtype).reshape(
        [-1 if i == d else 1 for i in range(len(aval.shape))]
    )
    return [g.const(np.broadcast_to(values, aval.shape).copy())]
