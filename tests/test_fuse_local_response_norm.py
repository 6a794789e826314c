"""pycnn.graph.passes.fuse_local_response_norm: PyTorch's LocalResponseNorm export (Mul, Reshape or
Unsqueeze, Pad, 3-d AveragePool, Squeeze or If, Reshape, Mul, Add, Pow, Div) becomes one LRN node. The
fused graph must equal the graph run op by op (the pass switched off) and torch.nn.LocalResponseNorm in
float64, forward and input gradient, for odd and even sizes (PyTorch's window is not ONNX's for even
sizes), 3-d to 5-d inputs, opsets 9, 13 and 17 and the dynamo exporter; what differs from the pattern
anywhere must stay op by op and still compute what onnxruntime computes."""
import io

import numpy as np
import pytest

import pycnn
import pycnn.onnx
from pycnn.graph import passes

onnx = pytest.importorskip("onnx")
torch = pytest.importorskip("torch")
from helpers.onnx_builders import run_onnxruntime  # noqa: E402
from helpers.onnx_torch import close  # noqa: E402
from onnx import helper  # noqa: E402

RNG = np.random.default_rng(21)


def _export(size, shape, opset, dynamo=False, alpha=0.05, beta=0.75, k=1.5):
    buffer = io.BytesIO()
    torch.onnx.export(torch.nn.LocalResponseNorm(size, alpha=alpha, beta=beta, k=k), (torch.randn(*shape),), buffer,
                      opset_version=opset, dynamo=dynamo)
    return buffer.getvalue()


def _load(model, fuse=True, monkeypatch=None):
    if not fuse:
        monkeypatch.setattr(passes, "fuse_local_response_norm", lambda ir: 0)
    graph = pycnn.onnx.load(model)
    if not fuse:
        monkeypatch.undo()
    return graph


def _run(graph, x, upstream):
    xp = pycnn.tensor(x, requires_grad=True)
    y = graph(xp)
    (y * pycnn.tensor(upstream)).sum().backward()
    return y.numpy(), xp.grad.numpy()


def _torch(x, upstream, size, alpha=0.05, beta=0.75, k=1.5):
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    y = torch.nn.functional.local_response_norm(xt, size, alpha, beta, k)
    (y * torch.tensor(upstream, dtype=torch.float64)).sum().backward()
    return y.detach().numpy(), xt.grad.numpy()


@pytest.mark.parametrize("opset", [9, 13, 17])
@pytest.mark.parametrize("size", [1, 2, 3, 4])
@pytest.mark.parametrize("shape", [(2, 6, 5), (2, 7, 4, 3), (1, 5, 3, 2, 3)])
def test_fused_equals_op_by_op_and_torch(opset, size, shape, monkeypatch):
    model = _export(size, shape, opset)
    fused, plain = _load(model), _load(model, fuse=False, monkeypatch=monkeypatch)
    assert [n.op for n in fused._ir.nodes] == ["LRN"]
    assert "LRN" not in [n.op for n in plain._ir.nodes] and len(plain._ir.nodes) >= 8
    x = (3 * RNG.standard_normal(shape)).astype(np.float32)
    upstream = RNG.standard_normal(shape).astype(np.float32)
    y, g = _run(fused, x, upstream)
    y_plain, g_plain = _run(plain, x, upstream)
    y_torch, g_torch = _torch(x, upstream, size)
    close(y, y_plain, "fused vs op by op, forward", 1e-6)
    close(g, g_plain, "fused vs op by op, input gradient", 1e-5)
    close(y, y_torch, "fused vs torch float64, forward", 1e-6)
    close(g, g_torch, "fused vs torch float64, input gradient", 1e-5)


@pytest.mark.parametrize("size", [2, 5])
def test_dynamo_export_fuses_too(size):
    pytest.importorskip("onnxscript")
    shape = (2, 6, 4, 3)
    fused = _load(_export(size, shape, 18, dynamo=True))
    assert [n.op for n in fused._ir.nodes] == ["LRN"]
    x, upstream = RNG.standard_normal(shape).astype(np.float32), RNG.standard_normal(shape).astype(np.float32)
    for got, want, what in zip(_run(fused, x, upstream), _torch(x, upstream, size), ("forward", "input gradient")):
        close(got, want, f"dynamo export fused, {what}", 1e-5)


def test_the_fused_node_keeps_the_shape_the_export_fixed(monkeypatch):
    """The export's Reshapes hold its batch size; another one fails fused as it does op by op."""
    model = _export(3, (2, 6, 4, 4), 13)
    other = pycnn.tensor(RNG.standard_normal((3, 6, 4, 4)).astype(np.float32))
    with pytest.raises(ValueError, match="LRN .*input of shape \\(3, 6, 4, 4\\), the exported LocalResponseNorm "
                                         "reshapes for \\(2, 6, 4, 4\\)"):
        _load(model)(other)
    with pytest.raises(ValueError):
        _load(model, fuse=False, monkeypatch=monkeypatch)(other)


def test_inference_session_runs_the_fused_node_with_torchs_window():
    """An even size: the plan's LRN step takes PyTorch's window too."""
    model = _export(4, (2, 6, 4, 4), 13)
    x = RNG.standard_normal((2, 6, 4, 4)).astype(np.float32)
    [got] = pycnn.onnx.InferenceSession(model).run(None, {"input": x})
    close(got, run_onnxruntime(model, x)[0], "InferenceSession vs onnxruntime", 1e-6)


def _mutate(model, edit):
    proto = onnx.load_from_string(model)
    edit(proto)
    return proto.SerializeToString()


def _set_attribute(op, name, value):
    def edit(proto):
        node = next(n for n in proto.graph.node if n.op_type == op)
        kept = [a for a in node.attribute if a.name != name]
        del node.attribute[:]
        node.attribute.extend(kept + [helper.make_attribute(name, value)])
    return edit


def _set_constant(index, value):
    """The value of the index-th scalar float Constant (alpha, k, beta in the export's order)."""
    def edit(proto):
        scalars = [n for n in proto.graph.node if n.op_type == "Constant"
                   and onnx.numpy_helper.to_array(n.attribute[0].t).dtype == np.float32]
        scalars[index].attribute[0].t.CopyFrom(onnx.numpy_helper.from_array(np.asarray(value, np.float32)))
    return edit


@pytest.mark.parametrize("case,edit", [
    ("a pad value of 0.5", _set_attribute("Pad", "value", 0.5)),
    ("a pool over the height too", lambda proto: [_set_attribute("AveragePool", "kernel_shape", [3, 3, 1])(proto),
                                                  _set_attribute("AveragePool", "pads", [0, 1, 0, 0, 1, 0])(proto)]),
    ("an alpha per column", _set_constant(0, [0.05, 0.1, 0.02, 0.07])),
    ("the square of another value", lambda proto: proto.graph.node[0].input.__setitem__(1, "input_sq")),
])
def test_what_differs_from_the_pattern_runs_op_by_op(case, edit):
    model = _export(3, (2, 6, 5, 4), 9)
    if case == "the square of another value":  # Mul(input, Relu(input)): not x * x
        def edit(proto):  # noqa: F811
            proto.graph.node.insert(0, helper.make_node("Relu", ["input"], ["input_sq"]))
            proto.graph.node[1].input[1] = "input_sq"
    model = _mutate(model, edit)
    graph = pycnn.onnx.load(model)
    assert "LRN" not in [n.op for n in graph._ir.nodes], case
    x = RNG.standard_normal((2, 6, 5, 4)).astype(np.float32)
    close(graph(pycnn.tensor(x)).numpy(), run_onnxruntime(model, x)[0], case, 1e-5)
