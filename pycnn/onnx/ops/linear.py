"""ONNX Gemm and MatMul <-> pycnn linear. The weight B is kept as Linear's (N, K): a (K, N) initializer
is transposed once at import (layout "transposed"), a Gemm with transB=1 is stored as it is. A MatMul
of two computed values (batched, broadcasting, vectors) runs as :class:`MatMulFunction`."""
import numpy as np

from ... import tensor_ops
from ...nn import functional as F
from ...nn.functional.linear import LinearFunction
from ...tensor_ops.common import from_host
from .common import shape_of
from ...tensor_ops.arithmetic import BatchedMatmulFunction, MatmulFunction
from .registry import exporter, importer


def _matrix_problems(index):
    def check(node, values):
        b = values[index] if len(values) > index else None
        if b is not None and b.ndim != 2:
            return [f"input {index} ({node.inputs[index]!r}) has shape {b.shape}; pycnn multiplies by 2-d matrices"]
        return []
    return check


def _gemm_weights(node):
    """B as Linear's (N, K) weight (transposed unless transB), C as a bias vector when it is one."""
    layout = {1: "as_is" if node.attr("transB", 0) else "transposed"}
    if len(node.inputs) > 2 and node.inputs[2]:
        layout[2] = "vector"
    return layout


@importer("Gemm", ranks={0: 2}, weights=_gemm_weights, check_constants=_matrix_problems(1), inputs=(2, 3),
          attrs=("alpha", "beta", "transA", "transB", "broadcast"))
def import_gemm(node, inputs, training):
    """Y = alpha * A' B' + beta * C; B arrives as (N, K) (see ``_gemm_weights``), C broadcasts to (M, N)."""
    a, w = inputs[0], inputs[1]
    c = inputs[2] if len(inputs) > 2 else None
    alpha, beta = node.attr("alpha", 1.0), node.attr("beta", 1.0)
    if a.ndim != 2 or w.ndim != 2:
        raise ValueError(f"Gemm {node.name!r}: expected 2-d A and B, got shapes {shape_of(a)} and {shape_of(w)} "
                         "(B as (N, K))")
    if node.attr("transA", 0):
        a = tensor_ops.permute(a, (1, 0))
    n = w.shape[0]
    fused = c is not None and alpha == 1.0 and beta == 1.0 and c.ndim == 1 and c.shape[0] == n and n > 1
    y = F.linear(a, w, c if fused else None)
    if alpha != 1.0:
        y = y * alpha
    if c is not None and not fused and beta != 0.0:
        y = y + (c * beta if beta != 1.0 else c)
    return (y,)


class MatMulFunction(BatchedMatmulFunction):
    """numpy's matmul of two computed Tensors (batch dimensions broadcast, a 1-d operand a vector), with
    B given with its last two axes swapped (the "transposed" layout MatMul's second input arrives in),
    on the host (tensor_ops' BatchedMatmulFunction's arrays). Batched MatMuls of activations
    (attention, a channel mix) are small next to the network's convolutions."""

    def forward(self, a, bt):
        self.device = a.device
        bt = bt.to("cpu").numpy()
        b = bt if bt.ndim == 1 else np.swapaxes(bt, -1, -2)
        return from_host(self._forward_arrays(a.to("cpu").numpy(), b), self.device, np.float32)

    def backward(self, grad):
        da, db = self._gradient_arrays(grad)
        if db is not None:
            db = db[:, 0] if len(self.b_shape) == 1 else np.swapaxes(db, -1, -2)
        return (None if da is None else from_host(da, self.device, np.float32),
                None if db is None else from_host(db, self.device, np.float32))


@importer("MatMul", ranks={0: (1, None)}, weights={1: "transposed"}, inputs=(2, 2))
def import_matmul(node, inputs, training):
    """numpy's matmul with B arriving with its last two axes swapped: a 2-d B is Linear's (N, K) weight
    (A (..., K) @ B (K, N) is Linear's A @ W.T); any other (both operands computed, batched,
    broadcasting, a vector) runs as :class:`MatMulFunction`."""
    a, w = inputs
    k = a.shape[-1]
    if w.shape[-1 if w.ndim >= 2 else 0] != k:
        raise ValueError(f"MatMul {node.name!r}: shapes {shape_of(a)} and "
                         f"{shape_of(w)[:-2] + shape_of(w)[-2:][::-1]} cannot be multiplied")
    if w.ndim == 2 and a.ndim >= 2:
        return (F.linear(a, w),)
    a_batch, w_batch = shape_of(a)[:-2], shape_of(w)[:-2]
    try:
        np.broadcast_shapes(a_batch, w_batch)
    except ValueError:
        raise ValueError(f"MatMul {node.name!r}: batch dimensions {a_batch} and {w_batch} do not broadcast") from None
    return (MatMulFunction.apply(a, w),)


@exporter(LinearFunction)
def export_linear(trace, out, x, w, b):
    if x.ndim == 2:
        inputs = [trace.name_of(x), trace.name_of(w)] + ([trace.name_of(b)] if b is not None else [])
        trace.node("Gemm", inputs, out, transB=1)
        return
    wt = trace.node("Transpose", [trace.name_of(w)], perm=[1, 0])
    if b is None:
        trace.node("MatMul", [trace.name_of(x), wt], out)
    else:
        trace.node("Add", [trace.node("MatMul", [trace.name_of(x), wt]), trace.name_of(b)], out)


@exporter(MatMulFunction)
def export_matmul(trace, out, a, bt):
    """B arrives with its last two axes swapped: Transpose them back, then MatMul."""
    b = trace.name_of(bt)
    if bt.ndim >= 2:
        perm = list(range(bt.ndim))
        perm[-2:] = perm[-1], perm[-2]
        b = trace.node("Transpose", [b], perm=perm)
    trace.node("MatMul", [trace.name_of(a), b], out)


@exporter(BatchedMatmulFunction, MatmulFunction)
def export_batched_matmul(trace, out, a, b):
    """Tensor.matmul (2-d operands, and stacks of matrices): ONNX's MatMul has numpy's (and torch's)
    semantics."""
    trace.node("MatMul", [trace.name_of(a), trace.name_of(b)], out)
