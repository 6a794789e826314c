"""ONNX If whose condition the network computes (pycnn/onnx/ops/control.py): the condition is read when
the graph runs and the branch it picks runs, gradients flowing through that branch to the input and to
the weights it reads from the outer graph. Graphs built with onnx.helper, checked against onnxruntime
(forward) and torch float64 (gradients), batch by batch as the condition changes."""
import numpy as np
import pytest

import pycnn
import pycnn.onnx

onnx = pytest.importorskip("onnx")
torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")
from helpers.onnx_builders import make_initializer, make_model, make_node, run_onnxruntime  # noqa: E402
from helpers.onnx_torch import close  # noqa: E402
from onnx import TensorProto, helper  # noqa: E402

RNG = np.random.default_rng(5)
W1, W2 = RNG.standard_normal((3, 4)).astype(np.float32), RNG.standard_normal((3, 4)).astype(np.float32)


def _branch(name, nodes, output, inits=()):
    return helper.make_graph(nodes, name, [], [helper.make_tensor_value_info(output, TensorProto.FLOAT, None)],
                             list(inits))


def _model(condition_nodes, opset=13):
    """y = If(condition) then Relu(x @ w1) else 3 * (x @ w2); w1, w2 outer initializers (trainable weights)."""
    then_branch = _branch("then", [make_node("MatMul", ["x", "w1"], ["m1"]), make_node("Relu", ["m1"], ["t"])], "t")
    else_branch = _branch("else", [make_node("MatMul", ["x", "w2"], ["m2"]), make_node("Mul", ["m2", "three"], ["e"])],
                          "e", [make_initializer("three", np.float32(3.0))])
    nodes = condition_nodes + [helper.make_node("If", ["c"], ["y"], name="if", then_branch=then_branch,
                                                else_branch=else_branch)]
    inits = [make_initializer("w1", W1), make_initializer("w2", W2), make_initializer("zero", np.float32(0))]
    return make_model(nodes, inits, {"x": ["N", 3]}, opset).SerializeToString()


CONDITIONS = {  # name: (ONNX nodes computing "c" from x, the same in torch)
    "sum > 0": ([make_node("ReduceSum", ["x"], ["s"], keepdims=0), make_node("Greater", ["s", "zero"], ["c"])],
                lambda x: bool(x.sum() > 0)),
    "max of the first column, cast to bool": ([make_node("Slice", ["x", "start", "end", "axis"], ["col"]),
                                               make_node("ReduceMax", ["col"], ["mx"], keepdims=0),
                                               make_node("Relu", ["mx"], ["r"]),
                                               make_node("Cast", ["r"], ["c"], to=TensorProto.BOOL)],
                                              lambda x: bool(torch.relu(x[:, 0].max()) != 0)),
}


def _with_slice_constants(model):
    m = onnx.load_from_string(model)
    m.graph.initializer.extend([make_initializer("start", np.array([0], np.int64)),
                                make_initializer("end", np.array([1], np.int64)),
                                make_initializer("axis", np.array([1], np.int64))])
    return m.SerializeToString()


@pytest.mark.parametrize("name", sorted(CONDITIONS))
def test_if_on_a_computed_condition_runs_the_branch_it_picks_with_gradients(name):
    nodes, torch_condition = CONDITIONS[name]
    model = _with_slice_constants(_model(nodes))
    graph = pycnn.onnx.load(model)
    taken = set()
    for batch, shift in ((2, 1.0), (5, -1.0), (3, 1.0), (4, -1.0)):  # the condition changes between runs
        x = (RNG.standard_normal((batch, 3)) + 2 * shift).astype(np.float32)
        xp = pycnn.tensor(x, requires_grad=True)
        y = graph(xp)
        close(y.numpy(), run_onnxruntime(model, x)[0], f"If ({name}) vs onnxruntime", 1e-6)
        upstream = RNG.standard_normal(tuple(y.shape))
        for p in graph.parameters():
            p.grad = None
        y.backward(pycnn.tensor(upstream.astype(np.float32)))
        xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
        w1, w2 = (torch.tensor(w, dtype=torch.float64, requires_grad=True) for w in (W1, W2))
        branch = torch_condition(xt.detach())
        taken.add(branch)
        yt = torch.relu(xt @ w1) if branch else 3 * (xt @ w2)
        yt.backward(torch.tensor(upstream))
        close(xp.grad.numpy(), xt.grad.numpy(), "input gradient", 1e-5)
        grads = graph.onnx_arrays(grads=True)
        used, unused = ("w1", "w2") if branch else ("w2", "w1")
        close(grads[used], (w1 if branch else w2).grad.numpy(), f"gradient of {used}", 1e-5)
        assert unused not in grads or not np.any(grads[unused]), f"the branch not taken gave {unused} a gradient"
    assert taken == {True, False}


def test_branches_of_different_shapes_and_the_inference_session():
    """then: x (N, 3); else: Concat(x, -x) (N, 6), as onnxruntime allows."""
    then_branch = _branch("then", [make_node("Identity", ["x"], ["t"])], "t")
    else_branch = _branch("else", [make_node("Neg", ["x"], ["n"]), make_node("Concat", ["x", "n"], ["e"], axis=1)],
                          "e")
    nodes = [make_node("ReduceMean", ["x"], ["s"], keepdims=0), make_node("Less", ["s", "zero"], ["c"]),
             helper.make_node("If", ["c"], ["y"], name="if", then_branch=then_branch, else_branch=else_branch)]
    model = make_model(nodes, [make_initializer("zero", np.float32(0))], {"x": ["N", 3]}, 17).SerializeToString()
    graph = pycnn.onnx.load(model)
    session = pycnn.onnx.InferenceSession(model)
    shapes = set()
    for shift in (-1.0, 1.0):
        x = (RNG.standard_normal((2, 3)) + 3 * shift).astype(np.float32)
        want = run_onnxruntime(model, x)[0]
        shapes.add(want.shape)
        xp = pycnn.tensor(x, requires_grad=True)
        y = graph(xp)
        np.testing.assert_array_equal(y.numpy(), want)
        [got] = session.run(None, {"x": x})
        np.testing.assert_array_equal(got, want)
        y.sum().backward()
        np.testing.assert_array_equal(xp.grad.numpy(), np.ones_like(x) if y.shape[1] == 3 else np.zeros_like(x))
    assert shapes == {(2, 3), (2, 6)}
    # A compiled plan fixes its shapes per input shape: it refuses such a graph by name.
    with pytest.raises(ValueError, match=r"cannot be compiled into a plan: If node\(s\) 'if' pick their branch"):
        pycnn.optimize_for_inference(graph, np.zeros((2, 3), np.float32))


def test_a_condition_of_several_values_is_refused_when_it_runs():
    nodes = [make_node("Greater", ["x", "zero"], ["c"])]  # (N, 3) booleans: ONNX wants one
    graph = pycnn.onnx.load(_model(nodes))
    with pytest.raises(ValueError, match="If 'if': the condition has 6 elements, expected 1"):
        graph(pycnn.tensor(np.ones((2, 3), np.float32)))
