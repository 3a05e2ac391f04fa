"""A small builder of ONNX graphs: nodes, constants, and shapes whose first dimension is a symbolic batch."""

from __future__ import annotations

import numpy as np

from aejax.export.errors import ExportError

OPSET = 18  # ONNX operator set the converter writes (ReduceMax/ReduceSum/Split take axes and sizes as inputs)
IR_VERSION = 9  # the ONNX file format of opset 18 (onnx 1.13+, onnxruntime 1.14+)
BATCH = "batch"  # the name of the symbolic batch dimension in the graph's input and outputs
INT64_MAX = np.iinfo(np.int64).max


class GraphBuilder:
    """Collects nodes and initializers; `batch_dim` is the jax symbolic dimension that the input's first axis
    carries at run time (read once by a Shape node)."""

    def __init__(self, input_name: str, batch_dim):
        self.nodes, self.initializers = [], []
        self.input_name, self.batch_dim = input_name, batch_dim
        self._count = 0
        self._cache: dict = {}

    def fresh(self, prefix: str = "v") -> str:
        self._count += 1
        return f"{prefix}_{self._count}"

    def op(self, op_type: str, inputs, outputs: int = 1, **attributes):
        """Add a node; its output name, or a list of `outputs` names when outputs > 1."""
        from onnx import helper

        names = [self.fresh(op_type.lower()) for _ in range(outputs)]
        self.nodes.append(helper.make_node(op_type, list(inputs), names, **attributes))
        return names[0] if outputs == 1 else names

    def const(self, value, dtype=None) -> str:
        """An initializer holding `value` (kept once per distinct small value)."""
        from onnx import numpy_helper

        array = np.asarray(value, dtype=dtype)
        key = (array.dtype.str, array.shape, array.tobytes()) if array.size <= 16 else None
        if key is not None and key in self._cache:
            return self._cache[key]
        name = self.fresh("const")
        self.initializers.append(numpy_helper.from_array(array, name))
        if key is not None:
            self._cache[key] = name
        return name

    def used_initializers(self) -> list:
        """The initializers some node reads (a function's unused weights, e.g. the decoder's in `encode`, stay
        out of the file)."""
        used = {name for node in self.nodes for name in node.input}
        return [tensor for tensor in self.initializers if tensor.name in used]

    def batch(self) -> str:
        """The int64 [1] tensor holding the run-time batch size."""
        if "batch" not in self._cache:
            self._cache["batch"] = self.op("Shape", [self.input_name], start=0, end=1)
        return self._cache["batch"]

    def dim(self, d) -> str | int:
        """A dimension as an int, or as the name of an int64 [1] tensor computed from the batch size."""
        if isinstance(d, (int, np.integer)):
            return int(d)
        scale = d // self.batch_dim
        offset = d - scale * self.batch_dim if isinstance(scale, int) else None
        if not isinstance(offset, int):
            raise ExportError(
                f"dimension {d} is not a multiple of the batch {self.batch_dim} plus a constant"
            )
        value = self.batch()
        if scale != 1:
            value = self.op("Mul", [value, self.const([scale], np.int64)])
        if offset:
            value = self.op("Add", [value, self.const([offset], np.int64)])
        return value

    def shape(self, dims) -> str:
        """An int64 1-D tensor of the dimensions `dims` (constant unless one depends on the batch)."""
        parts = [self.dim(d) for d in dims]
        if all(isinstance(p, int) for p in parts):
            return self.const(parts, np.int64)
        pieces = [self.const([p], np.int64) if isinstance(p, int) else p for p in parts]
        return self.op("Concat", pieces, axis=0)

    def is_full(self, size, d) -> bool:
        """Whether `size` equals the dimension `d` (either may be symbolic)."""
        try:
            return bool(size == d)
        except Exception:
            return False


def onnx_dtype(dtype) -> int:
    from onnx import helper

    try:
        return helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    except (TypeError, KeyError, ValueError) as error:
        raise ExportError(f"ONNX has no tensor type for dtype {dtype}") from error
