"""ONNX Gemm and MatMul <-> pycnn linear. The weight B is kept as Linear's (N, K): a (K, N) initializer
is transposed once at import (layout "transposed"), a Gemm with transB=1 is stored as it is."""
from ... import tensor_ops
from ...nn import functional as F
from ...nn.functional.linear import LinearFunction
from .common import shape_of
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


@importer("MatMul", ranks={0: (1, None)}, weights={1: "transposed"}, check_constants=_matrix_problems(1), inputs=(2, 2))
def import_matmul(node, inputs, training):
    """numpy's matmul with B arriving as (N, K): A (..., K) @ B (K, N) is Linear's A @ W.T."""
    a, w = inputs
    if w.ndim != 2 or a.ndim < 1:
        raise ValueError(f"MatMul {node.name!r}: pycnn multiplies (..., K) by a 2-d (K, N) matrix, got shapes "
                         f"{shape_of(a)} and {shape_of(w)[::-1]}")
    return (F.linear(a, w),)


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
