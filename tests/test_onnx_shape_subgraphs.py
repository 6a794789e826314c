"""Issue 12's shape subgraphs: PyTorch's exports of nn.LocalResponseNorm (Pow, a 3-d AveragePool, Slice,
If on a dimension), nn.ZeroPad2d and F.pad (a Pad whose pads come from a Slice/Concat subgraph) import
and match onnxruntime and PyTorch's gradients; If with a constant condition folds, with a condition from
shapes runs its branch in the network, with one from the network's values is refused; a Shape reaching
the user is a Tensor."""
import io

import numpy as np
import pytest

import pycnn
import pycnn.onnx

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
torch = pytest.importorskip("torch")
from helpers.onnx_builders import make_initializer, make_model, make_node, run_onnxruntime  # noqa: E402
from helpers.onnx_torch import close  # noqa: E402
from onnx import helper  # noqa: E402

NETS = {
    "lrn": lambda: torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.LocalResponseNorm(3)),
    "lrn_even": lambda: torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.LocalResponseNorm(4, 2e-2, 0.7, 1.5)),
    "zero_pad": lambda: torch.nn.Sequential(torch.nn.ZeroPad2d((1, 2, 0, 3)), torch.nn.Conv2d(3, 4, 3)),
    "f_pad_reflect": lambda: torch.nn.Sequential(torch.nn.ReflectionPad2d((2, 1, 1, 2)), torch.nn.Conv2d(3, 4, 3)),
}


@pytest.mark.parametrize("opset", [9, 13, 17])
@pytest.mark.parametrize("name", sorted(NETS))
def test_torch_exports_match_onnxruntime_and_torch_gradients(name, opset):
    torch.manual_seed(0)
    net = NETS[name]().eval()
    x = np.random.default_rng(1).standard_normal((2, 3, 9, 10)).astype(np.float32)
    buffer = io.BytesIO()
    torch.onnx.export(net, (torch.tensor(x),), buffer, dynamo=False, opset_version=opset)
    graph = pycnn.onnx.load(buffer.getvalue())
    xp = pycnn.tensor(x, requires_grad=True)
    y = graph(xp)
    close(y.numpy(), run_onnxruntime(buffer.getvalue(), x)[0], f"{name} opset {opset} vs onnxruntime", 1e-4)
    w = np.random.default_rng(2).standard_normal(tuple(y.shape)).astype(np.float32)
    y.backward(pycnn.tensor(w))
    xt = torch.tensor(x, requires_grad=True)
    net(xt).backward(torch.tensor(w))
    close(xp.grad.numpy(), xt.grad.numpy(), f"{name} opset {opset} input gradient vs torch", 1e-3)
    conv = next(name for name, m in net.named_modules() if isinstance(m, torch.nn.Conv2d))
    grads = graph.onnx_arrays(grads=True)
    close(grads[f"{conv}.weight"], net.get_submodule(conv).weight.grad.numpy(), "the conv's weight gradient", 1e-3)


def _if_model(condition_nodes, condition, inits=()):
    then_branch = helper.make_graph([make_node("Mul", ["x", "two"], ["t"])], "then", [],
                                    [helper.make_tensor_value_info("t", onnx.TensorProto.FLOAT, None)],
                                    [make_initializer("two", np.float32(2.0))])
    else_branch = helper.make_graph([make_node("Neg", ["x"], ["e"])], "else", [],
                                    [helper.make_tensor_value_info("e", onnx.TensorProto.FLOAT, None)])
    nodes = condition_nodes + [helper.make_node("If", [condition], ["y"], name="if", then_branch=then_branch,
                                                else_branch=else_branch)]
    return make_model(nodes, list(inits), {"x": [2, 3]}, 13).SerializeToString()


def test_if_on_a_constant_or_shape_condition_runs_the_branch_with_gradients():
    x = np.arange(6, dtype=np.float32).reshape(2, 3) - 2
    for value, want, slope in ((True, 2 * x, 2.0), (False, -x, -1.0)):
        graph = pycnn.onnx.load(_if_model([], "c", [make_initializer("c", np.array(value))]))
        xp = pycnn.tensor(x, requires_grad=True)
        y = graph(xp)
        np.testing.assert_array_equal(y.numpy(), want)
        y.sum().backward()
        np.testing.assert_array_equal(xp.grad.numpy(), np.full_like(x, slope))
    # the condition from the input's shape: dimension 1 equals 3
    nodes = [make_node("Shape", ["x"], ["s"]), make_node("Gather", ["s", "one"], ["d"]),
             make_node("Equal", ["d", "three"], ["c"])]
    inits = [make_initializer("one", np.array(1, np.int64)), make_initializer("three", np.array(3, np.int64))]
    graph = pycnn.onnx.load(_if_model(nodes, "c", inits))
    np.testing.assert_array_equal(graph(pycnn.tensor(x)).numpy(), 2 * x)


def test_a_shape_output_reaches_the_user_as_an_int64_tensor():
    model = make_model([make_node("Shape", ["x"], ["y"])], [], {"x": ["N", 3]}, 13)
    out = pycnn.onnx.load(model.SerializeToString())(pycnn.tensor(np.ones((5, 3), np.float32)))
    assert isinstance(out, pycnn.Tensor) and out.dtype == "int64" and out.numpy().tolist() == [5, 3]
