"""Issue 12's elementwise and MatMul imports as trainable nodes: forward and backward of one-node ONNX
graphs against PyTorch in float64, on random odd shapes with broadcasting (pycnn/onnx/ops/math.py,
MatMul of two computed operands in pycnn/onnx/ops/linear.py)."""
import numpy as np
import pytest

import pycnn
import pycnn.onnx

pytest.importorskip("onnx")
torch = pytest.importorskip("torch")
from helpers.onnx_builders import make_initializer, make_model, make_node  # noqa: E402
from helpers.onnx_torch import close, run_both  # noqa: E402


UNARY = {
    "Abs": (torch.abs, lambda r, s: r.standard_normal(s)),
    "Neg": (torch.neg, lambda r, s: r.standard_normal(s)),
    "Exp": (torch.exp, lambda r, s: r.standard_normal(s)),
    "Log": (torch.log, lambda r, s: r.random(s) + 0.1),
    "Sqrt": (torch.sqrt, lambda r, s: r.random(s) + 0.1),
    "Reciprocal": (torch.reciprocal, lambda r, s: r.random(s) + 0.5),
    "Erf": (torch.erf, lambda r, s: r.standard_normal(s)),
    "Softsign": (torch.nn.functional.softsign, lambda r, s: r.standard_normal(s)),
    "Selu": (torch.selu, lambda r, s: r.standard_normal(s)),
}


@pytest.mark.parametrize("op", sorted(UNARY))
def test_unary_forward_and_backward_match_torch(op):
    rng = np.random.default_rng(len(op))
    fn, sample = UNARY[op]
    run_both(op, [sample(rng, (3, 5, 7)).astype(np.float32)], fn)


def test_selu_with_the_files_alpha_and_gamma():
    x = np.random.default_rng(0).standard_normal((4, 9)).astype(np.float32)
    run_both("Selu", [x], lambda t: 1.5 * torch.where(t > 0, t, 0.7 * torch.expm1(t)), {"alpha": 0.7, "gamma": 1.5})


@pytest.mark.parametrize("shapes", [((3, 5, 7), (3, 5, 7)), ((2, 1, 7), (5, 1)), ((6,), (4, 1, 6))])
def test_pow_of_two_computed_tensors_broadcasts_with_both_gradients(shapes):
    rng = np.random.default_rng(3)
    base = (rng.random(shapes[0]) + 0.2).astype(np.float32)
    exponent = rng.standard_normal(shapes[1]).astype(np.float32)
    run_both("Pow", [base, exponent], torch.pow)


def test_pow_with_an_integer_constant_exponent_and_a_negative_base():
    x = np.random.default_rng(4).standard_normal((5, 3)).astype(np.float32)
    run_both("Pow", [x], lambda t, e: torch.pow(t, e.double()), initializers={"e": np.array(3, np.int64)})


def test_where_with_a_computed_condition_sends_each_branch_its_gradient():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((4, 1, 7)).astype(np.float32)
    a = rng.standard_normal((3, 7)).astype(np.float32)
    nodes = [make_node("Less", ["x0", "zero"], ["c"]), make_node("Where", ["c", "x0", "x1"], ["y"])]
    model = make_model(nodes, [make_initializer("zero", np.zeros(1, np.float32))], {"x0": [4, 1, 7], "x1": [3, 7]}, 17)
    graph = pycnn.onnx.load(model.SerializeToString())
    xs = [pycnn.tensor(x, requires_grad=True), pycnn.tensor(a, requires_grad=True)]
    y = graph(*xs)
    upstream = rng.standard_normal(tuple(y.shape)).astype(np.float32)
    y.backward(pycnn.tensor(upstream))
    ts = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (x, a)]
    yt = torch.where(ts[0] < 0, ts[0], ts[1])
    yt.backward(torch.tensor(upstream, dtype=torch.float64))
    close(y.numpy(), yt.detach().numpy(), "Where forward")
    close(xs[0].grad.numpy(), ts[0].grad.numpy(), "Where gradient of x")
    close(xs[1].grad.numpy(), ts[1].grad.numpy(), "Where gradient of a")


def test_where_with_a_constant_boolean_condition():
    rng = np.random.default_rng(6)
    cond = rng.random((3, 5)) > 0.5
    x, a = (rng.standard_normal((3, 5)).astype(np.float32) for _ in range(2))
    run_both("Where", [x, a], lambda t, u, c: torch.where(c, t, u), initializers={"c": cond}, order=["c", "x0", "x1"])


@pytest.mark.parametrize("shapes", [((2, 3, 5, 4), (2, 3, 4, 6)), ((3, 5, 4), (1, 4, 2)), ((5, 4), (7, 1, 4, 3)),
                                    ((4,), (2, 4, 3)), ((2, 3, 4), (4,)), ((4,), (4,))])
def test_matmul_of_two_computed_operands_batched_and_broadcasting(shapes):
    rng = np.random.default_rng(7)
    a, b = (rng.standard_normal(s).astype(np.float32) for s in shapes)
    run_both("MatMul", [a, b], torch.matmul)


def test_matmul_with_a_batched_constant_operand_keeps_it_trainable():
    rng = np.random.default_rng(8)
    x = rng.standard_normal((2, 3, 5)).astype(np.float32)
    w = rng.standard_normal((2, 5, 4)).astype(np.float32)
    model = make_model([make_node("MatMul", ["x", "w"], ["y"])], [make_initializer("w", w)], {"x": [2, 3, 5]}, 17)
    graph = pycnn.onnx.load(model.SerializeToString())
    y = graph(pycnn.tensor(x))
    y.sum().backward()
    close(y.numpy(), x.astype(np.float64) @ w, "batched constant MatMul")
    (grad,) = graph.onnx_arrays(grads=True).values()
    close(grad, np.swapaxes(x, -1, -2).astype(np.float64) @ np.ones((2, 3, 4)), "its weight's gradient")


def test_comparisons_and_hardmax_in_the_network_are_float_masks_without_gradient():
    x = np.array([[1.0, 3.0, 3.0], [-2.0, -1.0, -5.0]], np.float32)
    for op, want in (("Hardmax", [[0, 1, 0], [0, 1, 0]]),):
        model = make_model([make_node(op, ["x"], ["y"])], [], {"x": [2, 3]}, 13)
        got = pycnn.onnx.load(model.SerializeToString())(pycnn.tensor(x))
        assert got.dtype == "float32" and np.array_equal(got.numpy(), want)
    nodes = [make_node("Greater", ["x", "x1"], ["y"])]
    model = make_model(nodes, [], {"x": [2, 3], "x1": [2, 3]}, 13)
    got = pycnn.onnx.load(model.SerializeToString())(pycnn.tensor(x), pycnn.tensor(x[::-1].copy()))
    assert np.array_equal(got.numpy(), (x > x[::-1]).astype(np.float32))


def test_imported_graph_of_the_new_ops_exports_and_runs_in_onnxruntime(tmp_path):
    """The new ops' import Functions export again (Elementwise, Mask, MatMul, Select, Expand): the file
    onnxruntime runs gives pycnn's output, at another batch size too."""
    pytest.importorskip("onnxruntime")
    from helpers.onnx_builders import run_onnxruntime

    def i64(name, values):
        return make_initializer(name, np.asarray(values, np.int64))

    nodes = [make_node("Erf", ["x"], ["e"]), make_node("Less", ["x", "zero"], ["neg"]),
             make_node("Where", ["neg", "e", "x"], ["w"]), make_node("Pow", ["w", "two"], ["p"]),
             make_node("Slice", ["p", "st", "en", "ax", "sp"], ["s"]),
             make_node("Gather", ["s", "idx"], ["g"], axis=2),
             make_node("Split", ["g", "parts"], ["a", "b"], axis=1),
             make_node("Transpose", ["b"], ["bt"], perm=[0, 1, 3, 2]),
             make_node("MatMul", ["a", "bt"], ["m"]), make_node("Tile", ["m", "reps"], ["t"]),
             make_node("Hardmax", ["t"], ["h"], axis=-1), make_node("Cast", ["t"], ["ti"], to=7),
             make_node("Cast", ["ti"], ["tf"], to=1), make_node("Add", ["h", "tf"], ["y0"]),
             make_node("Abs", ["y0"], ["y"])]
    inits = [make_initializer("zero", np.float32(0)), make_initializer("two", np.float32(2)),
             i64("st", [-1, 1]), i64("en", [-100, 5]), i64("ax", [3, 2]), i64("sp", [-2, 1]),
             i64("idx", [2, 0, 3]), i64("parts", [2, 1]), i64("reps", [1, 1, 2, 1])]
    model = make_model(nodes, inits, {"x": ["N", 3, 6, 7]}, 13)
    graph = pycnn.onnx.load(model.SerializeToString())
    path = pycnn.onnx.export(graph, tmp_path / "again.onnx", (2, 3, 6, 7))
    for batch in (2, 3):
        x = (np.random.default_rng(batch).standard_normal((batch, 3, 6, 7)) * 2).astype(np.float32)
        np.testing.assert_allclose(run_onnxruntime(path, x)[0], graph(pycnn.tensor(x)).numpy(), rtol=1e-5, atol=1e-5)
