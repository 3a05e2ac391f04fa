"""ONNX nodes for the structured jax primitives: dot_general, conv_general_dilated and pad."""

from __future__ import annotations

import string

import numpy as np

from aejax.export.errors import ExportError
from aejax.export.onnx_graph import INT64_MAX, GraphBuilder, onnx_dtype


def _cast_to(g: GraphBuilder, name: str, eqn) -> str:
    out, lhs = eqn.outvars[0].aval.dtype, eqn.invars[0].aval.dtype
    return name if out == lhs else g.op("Cast", [name], to=onnx_dtype(out))


def dot_general(g: GraphBuilder, eqn, ins):
    """MatMul for the plain `x @ W` case, else an Einsum spelling out the contracting and batch dimensions."""
    (lc, rc), (lb, rb) = eqn.params["dimension_numbers"]
    lhs_rank, rhs_rank = len(eqn.invars[0].aval.shape), len(eqn.invars[1].aval.shape)
    if not lb and tuple(lc) == (lhs_rank - 1,) and tuple(rc) == (0,) and rhs_rank == 2:
        return [_cast_to(g, g.op("MatMul", ins), eqn)]
    letters = iter(string.ascii_letters)
    lhs = [next(letters) for _ in range(lhs_rank)]
    rhs = [next(letters) for _ in range(rhs_rank)]
    for left, right in (*zip(lc, rc, strict=True), *zip(lb, rb, strict=True)):
        rhs[right] = lhs[left]
    free_lhs = [lhs[i] for i in range(lhs_rank) if i not in lc and i not in lb]
    free_rhs = [rhs[i] for i in range(rhs_rank) if i not in rc and i not in rb]
    output = [lhs[i] for i in lb] + free_lhs + free_rhs
    equation = f"{''.join(lhs)},{''.join(rhs)}->{''.join(output)}"
    return [_cast_to(g, g.op("Einsum", ins, equation=equation), eqn)]


def pad_tensor(g: GraphBuilder, x: str, value: str, shape, config) -> str:
    """lax.pad: interior padding first, then negative edges cut off (Slice), then positive edges (Pad)."""
    dims = list(shape)
    for axis, (_, _, interior) in enumerate(config):
        if interior:
            x = _interior_pad(g, x, value, dims, axis, int(interior))
            dims[axis] = dims[axis] + (dims[axis] - 1) * interior
    cuts = [(axis, max(0, -lo), hi if hi < 0 else INT64_MAX) for axis, (lo, hi, _) in enumerate(config)]
    cuts = [c for c in cuts if c[1] or c[2] != INT64_MAX]
    if cuts:
        starts, ends, axes = ([c[i] for c in cuts] for i in (1, 2, 0))
        x = g.op("Slice", [x, *(g.const(v, np.int64) for v in (starts, ends, axes))])
    pads = [max(0, lo) for lo, _, _ in config] + [max(0, hi) for _, hi, _ in config]
    if any(pads):
        x = g.op("Pad", [x, g.const(pads, np.int64), value], mode="constant")
    return x


def _interior_pad(g: GraphBuilder, x: str, value: str, dims, axis: int, interior: int) -> str:
    """`interior` copies of `value` between neighbours along `axis`: each element gets a trailing block of
    them (a new axis padded, then merged), and the last block is cut off."""
    if not isinstance(dims[axis], (int, np.integer)):
        raise ExportError("interior padding of the batch dimension is not covered")
    rank = len(dims)
    x = g.op("Unsqueeze", [x, g.const([axis + 1], np.int64)])
    pads = [0] * (2 * (rank + 1))
    pads[rank + 1 + axis + 1] = interior
    x = g.op("Pad", [x, g.const(pads, np.int64), value], mode="constant")
    merged = [*dims[:axis], dims[axis] * (interior + 1), *dims[axis + 1 :]]
    x = g.op("Reshape", [x, g.shape(merged)])
    keep = dims[axis] + (dims[axis] - 1) * interior
    return g.op("Slice", [x, *(g.const(v, np.int64) for v in ([0], [keep], [axis]))])


def pad(g: GraphBuilder, eqn, ins):
    return [pad_tensor(g, ins[0], ins[1], eqn.invars[0].aval.shape, eqn.params["padding_config"])]


def conv_general_dilated(g: GraphBuilder, eqn, ins):
    """Conv in NC(spatial) layout: inputs transposed by the dimension numbers, lhs dilation and padding done
    by `pad_tensor` (zeros), the output transposed back to the equation's layout."""
    p = eqn.params
    if p["batch_group_count"] != 1:
        raise ExportError("conv_general_dilated with batch_group_count > 1 is not covered")
    lhs_spec, rhs_spec, out_spec = p["dimension_numbers"]
    lhs_shape = eqn.invars[0].aval.shape
    x = g.op("Transpose", [ins[0]], perm=list(lhs_spec))
    kernel = g.op("Transpose", [ins[1]], perm=list(rhs_spec))
    spatial = len(lhs_spec) - 2
    config = [(0, 0, 0), (0, 0, 0)] + [
        (lo, hi, dilation - 1) for (lo, hi), dilation in zip(p["padding"], p["lhs_dilation"], strict=True)
    ]
    if any(c != (0, 0, 0) for c in config):
        zero = g.const(0, eqn.invars[0].aval.dtype)
        x = pad_tensor(g, x, zero, [lhs_shape[i] for i in lhs_spec], config)
    y = g.op(
        "Conv",
        [x, kernel],
        strides=[int(s) for s in p["window_strides"]],
        dilations=[int(d) for d in p["rhs_dilation"]],
        group=int(p["feature_group_count"]),
        pads=[0] * (2 * spatial),
    )
    back = [0] * len(out_spec)
    for i, axis in enumerate(out_spec):
        back[axis] = i
    return [_cast_to(g, g.op("Transpose", [y], perm=back), eqn)]


def gather(g: GraphBuilder, eqn, ins):
    """The gathers jnp indexing makes (strided slices of a symbolic-batch array among them): single elements
    of the indexed dimensions, whole other dimensions; GatherND over the operand with those dimensions first,
    then the result's dimensions put where the equation has them."""
    p, shape = eqn.params, eqn.invars[0].aval.shape
    dn = p["dimension_numbers"]
    indexed = list(dn.start_index_map)
    others = [d for d in range(len(shape)) if d not in indexed]
    mode = str(p["mode"]).rsplit(".", 1)[-1]
    supported = (
        not dn.operand_batching_dims
        and sorted(dn.collapsed_slice_dims) == sorted(indexed)
        and all(p["slice_sizes"][d] == 1 for d in indexed)
        and all(g.is_full(p["slice_sizes"][d], shape[d]) for d in others)
        and mode in ("PROMISE_IN_BOUNDS", "CLIP")
        and all(isinstance(shape[d], (int, np.integer)) for d in indexed)
    )
    if not supported:
        raise ExportError(f"this form of gather is not covered ({dn}, mode {mode})")
    indices = g.op("Cast", [ins[1]], to=onnx_dtype(np.int64))
    if mode == "CLIP":
        top = g.const([int(shape[d]) - 1 for d in indexed], np.int64)
        indices = g.op("Max", [g.op("Min", [indices, top]), g.const(0, np.int64)])
    data = g.op("Transpose", [ins[0]], perm=indexed + others)
    picked = g.op("GatherND", [data, indices])  # (*index batch, *others)
    index_rank = len(eqn.invars[1].aval.shape) - 1
    rank = index_rank + len(others)
    source = [0] * rank  # output axis -> axis of `picked`
    batch_axes = iter(range(index_rank))
    for axis in range(rank):
        source[axis] = -1 if axis in dn.offset_dims else next(batch_axes)
    for k, axis in enumerate(sorted(dn.offset_dims)):
        source[axis] = index_rank + k
    return [g.op("Transpose", [picked], perm=source)]
