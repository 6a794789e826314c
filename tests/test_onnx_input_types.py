"""Graph inputs other than float32: integer and bool inputs (an embedding's indices) are computed on
the host in their own type, and the float values derived from them enter the network; double and
float16 inputs are computed in float32, pycnn's float type, and ``load`` warns so. What no input may
be (bfloat16, strings) is refused by name. InferenceSession takes the same models with the feeds
onnxruntime takes (each of its input's declared type) and gives outputs of the declared types
(test_onnx_session_input_types.py)."""
import io
import warnings

import numpy as np
import pytest

import pycnn
import pycnn.onnx
from pycnn.onnx import OnnxImportError

onnx = pytest.importorskip("onnx")
torch = pytest.importorskip("torch")
from helpers.onnx_builders import make_initializer, make_node, make_typed_model, run_onnxruntime  # noqa: E402
from helpers.onnx_torch import close  # noqa: E402
from onnx import TensorProto  # noqa: E402

RNG = np.random.default_rng(12)


class Bag(torch.nn.Module):
    """An embedding of int64 token ids, flattened into a linear classifier."""

    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Embedding(11, 5)
        self.fc = torch.nn.Linear(3 * 5, 4)

    def forward(self, ids):
        return self.fc(self.embed(ids).flatten(1))


@pytest.mark.parametrize("opset", [9, 13, 17])
def test_embedding_of_int64_indices_matches_torch_forward_and_weight_gradients(opset):
    torch.manual_seed(opset)
    net = Bag().eval()
    ids = RNG.integers(0, 11, size=(6, 3)).astype(np.int64)
    ids[0] = [4, 4, 4]  # repeated indices: their gradients add up
    buffer = io.BytesIO()
    torch.onnx.export(net, (torch.tensor(ids),), buffer, opset_version=opset, dynamo=False,
                      dynamic_axes={"ids": {0: "N"}}, input_names=["ids"])
    graph = pycnn.onnx.load(buffer.getvalue())
    other = RNG.integers(0, 11, size=(2, 3)).astype(np.int64)  # another batch size than the export's
    for batch in (ids, other):
        y = graph(pycnn.tensor(batch))
        close(y.numpy(), run_onnxruntime(buffer.getvalue(), {"ids": batch})[0], "embedding forward", 1e-6)
    upstream = RNG.standard_normal((6, 4))
    y = graph(pycnn.tensor(ids))
    (y * pycnn.tensor(upstream.astype(np.float32))).sum().backward()
    reference = net.double()
    (reference(torch.tensor(ids)) * torch.tensor(upstream)).sum().backward()
    grads = graph.onnx_arrays(grads=True)
    weights = {name: p for name, p in reference.named_parameters()}
    assert "embed.weight" in grads, f"the embedding table is not a trainable weight: {sorted(grads)}"
    for name in ("embed.weight", "fc.weight", "fc.bias"):
        close(grads[name], weights[name].grad.numpy(), f"gradient of {name}", 1e-5)


def test_integer_inputs_compute_on_the_host_in_their_type():
    """int64 arithmetic stays int64 (PyTorch's non-float parameters); an int32 input cast to float meets a
    float input in the network, which keeps its gradient."""
    inputs = {"a": (TensorProto.INT64, [2, 3]), "n": (TensorProto.INT32, [3]), "x": (TensorProto.FLOAT, [2, 3])}
    nodes = [make_node("Add", ["a", "k"], ["s"]), make_node("Mul", ["a", "s"], ["i"]),
             make_node("Cast", ["n"], ["nf"], to=TensorProto.FLOAT), make_node("Mul", ["x", "nf"], ["y"])]
    k = np.array([[1, -2, 3], [4, 5, -6]], np.int64)
    model = make_typed_model(nodes, inputs, {"i": (TensorProto.INT64, [2, 3]), "y": (TensorProto.FLOAT, [2, 3])},
                   [make_initializer("k", k)])
    graph = pycnn.onnx.load(model)
    a = np.array([[3, 1 << 40, -7], [0, 2, 9]], np.int64)  # beyond float32's exact integers: kept exact
    n = np.array([2, -3, 5], np.int32)
    x = RNG.standard_normal((2, 3)).astype(np.float32)
    xp = pycnn.tensor(x, requires_grad=True)
    i, y = graph(pycnn.tensor(a), pycnn.tensor(n.astype(np.int64)), xp)
    assert i.dtype == "int64" and np.array_equal(i.numpy(), a * (a + k))
    np.testing.assert_allclose(y.numpy(), x * n, rtol=1e-6)
    y.sum().backward()
    np.testing.assert_allclose(xp.grad.numpy(), np.broadcast_to(n, (2, 3)).astype(np.float32), rtol=1e-6)


def test_inputs_of_the_wrong_dtype_or_range_are_refused_by_name():
    inputs = {"i": (TensorProto.INT8, [3]), "x": (TensorProto.FLOAT, [3])}
    nodes = [make_node("Cast", ["i"], ["f"], to=TensorProto.FLOAT), make_node("Add", ["x", "f"], ["y"])]
    graph = pycnn.onnx.load(make_typed_model(nodes, inputs, {"y": (TensorProto.FLOAT, [3])}))
    ok = graph(pycnn.tensor(np.array([1, -2, 127])), pycnn.tensor(np.zeros(3, np.float32)))
    assert np.array_equal(ok.numpy(), [1, -2, 127])
    with pytest.raises(TypeError, match="input 'i' is int8 in the model .* got a float32 Tensor"):
        graph(pycnn.tensor(np.zeros(3, np.float32)), pycnn.tensor(np.zeros(3, np.float32)))
    with pytest.raises(ValueError, match="add_y.*must be float32, got int64"):
        graph(pycnn.tensor(np.zeros(3, np.int64)), pycnn.tensor(np.zeros(3, np.int64)))
    with pytest.raises(ValueError, match="input 'i' holds values outside the range of its type int8"):
        graph(pycnn.tensor(np.array([1, 300, 2])), pycnn.tensor(np.zeros(3, np.float32)))


class DoubleNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.fc = torch.nn.Linear(4, 2)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x) + 0.5).mean((2, 3)))


def test_double_model_is_computed_in_float32_with_a_warning_and_trains():
    torch.manual_seed(0)
    net = DoubleNet().double().eval()
    x = RNG.standard_normal((2, 3, 6, 7))
    buffer = io.BytesIO()
    torch.onnx.export(net, (torch.tensor(x),), buffer, opset_version=13, dynamo=False)
    with pytest.warns(UserWarning, match="input\\(s\\) .*\\(double\\) are computed in float32"):
        graph = pycnn.onnx.load(buffer.getvalue())
    assert all(p.dtype == "float32" for p in graph.parameters()) and len(list(graph.parameters())) == 4
    xp = pycnn.tensor(x, requires_grad=True)
    y = graph(xp)
    assert y.dtype == "float32"
    xt = torch.tensor(x, requires_grad=True)
    yt = net(xt)  # the float64 reference (onnxruntime has no double Conv)
    close(y.numpy(), yt.detach().numpy(), "double model forward", 1e-5)
    y.sum().backward()
    yt.sum().backward()
    close(xp.grad.numpy(), xt.grad.numpy(), "double model input gradient", 1e-5)
    close(graph.onnx_arrays(grads=True)["conv.weight"], net.conv.weight.grad.numpy(), "conv weight gradient", 1e-5)


def test_a_float32_model_still_refuses_double_weights_and_odd_input_types():
    """Double constants are read as float32 only in a model whose inputs are double; inputs pycnn cannot
    hold are refused by name."""
    nodes = [make_node("Conv", ["x", "w"], ["y"], name="c64")]
    model = make_typed_model(nodes, {"x": (TensorProto.FLOAT, [1, 3, 4, 4])}, {"y": (TensorProto.FLOAT, None)},
                   [make_initializer("w", RNG.standard_normal((2, 3, 1, 1)))])
    with pytest.raises(OnnxImportError, match="'c64' \\(Conv, opset 13\\): input 1 \\('w'\\) is double"):
        pycnn.onnx.load(model)
    for elem, name in ((TensorProto.BFLOAT16, "bfloat16"), (TensorProto.STRING, "string")):
        model = make_typed_model([make_node("Identity", ["x"], ["y"])], {"x": (elem, [2])}, {"y": (elem, [2])})
        with pytest.raises(OnnxImportError, match=f"graph input 'x' is {name}; pycnn takes float, double, float16, "
                                                  "integer and bool inputs"):
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                pycnn.onnx.load(model)


def test_check_summary_and_export_of_a_graph_with_integer_inputs():
    """check runs it on zero indices, summary feeds int64 zeros, export says what it cannot write."""
    net = torch.nn.Sequential(torch.nn.Embedding(11, 5), torch.nn.Flatten(), torch.nn.Linear(15, 3))
    buffer = io.BytesIO()
    torch.onnx.export(net, (torch.zeros(2, 3, dtype=torch.long),), buffer, opset_version=13, dynamo=False)
    report = str(pycnn.onnx.check(buffer.getvalue()))
    assert "run on cpu: forward and backward ok (input (2, 3) -> output (2, 3))" in report, report
    graph = pycnn.onnx.load(buffer.getvalue())
    assert graph.input_dtype(graph.input_names[0]) == "int64"
    summary = pycnn.summary(graph, (3,))
    assert [row.output_shape for row in summary.rows] == [(1, 3, 5), (1, 15), (1, 3)] and summary.total_params == 103
    with pytest.raises(pycnn.onnx.OnnxExportError, match="export: writes models with one float32 input.*int64"):
        pycnn.onnx.export(graph, "unused.onnx", (2, 3))
