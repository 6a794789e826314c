"""InferenceSession on models whose inputs are not float32, against onnxruntime: integer and bool inputs
(computed on the host, the model run by the imported Graph's executor), double and float16 inputs
(computed in float32 by the plan, with a warning). Each feed must have its input's declared type, as
onnxruntime requires, and each output comes back in its declared type."""
import io

import numpy as np
import pytest

import pycnn.onnx
from pycnn.onnx import InferenceSession

onnx = pytest.importorskip("onnx")
torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")
from helpers.onnx_builders import make_initializer, make_node, make_typed_model, run_onnxruntime  # noqa: E402
from helpers.onnx_torch import relative_error  # noqa: E402
from onnx import TensorProto  # noqa: E402

RNG = np.random.default_rng(21)


def _both(model, feeds, tol):
    """pycnn's session and onnxruntime's on ``feeds``: the same output types, values within ``tol``
    (relative to each output's scale; exact for integer and bool outputs)."""
    ours = InferenceSession(model).run(None, feeds)
    theirs = run_onnxruntime(model, feeds)
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        assert a.dtype == b.dtype and a.shape == b.shape, (a.dtype, a.shape, b.dtype, b.shape)
        if a.dtype.kind in "biu":
            assert np.array_equal(a, b)
        else:
            assert relative_error(a, b) < tol, relative_error(a, b)
    return ours


def test_session_runs_an_embedding_of_int64_ids_as_onnxruntime_does():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Embedding(11, 5), torch.nn.Flatten(), torch.nn.Linear(15, 4)).eval()
    buffer = io.BytesIO()
    torch.onnx.export(net, (torch.zeros(2, 3, dtype=torch.long),), buffer, opset_version=13, dynamo=False,
                      input_names=["ids"], dynamic_axes={"ids": {0: "N"}})
    model = buffer.getvalue()
    session = InferenceSession(model)
    assert [(a.name, a.type, a.shape) for a in session.get_inputs()] == [("ids", "tensor(int64)", ["N", 3])]
    with pytest.raises(ValueError, match=r"cannot be compiled into a plan: its input\(s\) 'ids' hold integer data"):
        pycnn.optimize_for_inference(pycnn.onnx.load(model), np.zeros((2, 3), np.int64))
    assert session.get_outputs()[0].type == "tensor(float)"
    for batch in (2, 5):
        ids = RNG.integers(0, 11, size=(batch, 3)).astype(np.int64)
        [out] = _both(model, {"ids": ids}, 1e-6)
        with torch.no_grad():
            np.testing.assert_allclose(out, net(torch.tensor(ids)).numpy(), rtol=1e-5, atol=1e-6)
    with pytest.raises(TypeError, match=r"input 'ids' has type tensor\(int32\), expected tensor\(int64\)"):
        session.run(None, {"ids": np.zeros((2, 3), np.int32)})
    with pytest.raises(TypeError, match=r"input 'ids' has type tensor\(float\), expected tensor\(int64\)"):
        session.run(None, {"ids": np.zeros((2, 3), np.float32)})


def test_session_computes_integer_and_bool_inputs_in_their_types_with_outputs_of_the_declared_types():
    """int64 arithmetic beyond float32's exact integers, an int8 and a bool input cast into the network,
    a float input beside them; an int64, a bool and a float output."""
    inputs = {"a": (TensorProto.INT64, [2, 3]), "n": (TensorProto.INT8, [3]), "b": (TensorProto.BOOL, [2, 3]),
              "x": (TensorProto.FLOAT, [2, 3])}
    nodes = [make_node("Add", ["a", "k"], ["s"]), make_node("Mul", ["a", "s"], ["i"]),
             make_node("Cast", ["n"], ["nf"], to=TensorProto.FLOAT),
             make_node("Cast", ["b"], ["bf"], to=TensorProto.FLOAT),
             make_node("Mul", ["x", "nf"], ["xn"]), make_node("Add", ["xn", "bf"], ["y"]),
             make_node("Not", ["b"], ["nb"])]
    k = np.array([[1, -2, 3], [4, 5, -6]], np.int64)
    model = make_typed_model(nodes, inputs, {"i": (TensorProto.INT64, [2, 3]), "y": (TensorProto.FLOAT, [2, 3]),
                                   "nb": (TensorProto.BOOL, [2, 3])}, [make_initializer("k", k)])
    feeds = {"a": np.array([[3, 1 << 40, -7], [0, 2, 9]], np.int64), "n": np.array([2, -128, 127], np.int8),
             "b": RNG.random((2, 3)) < 0.5, "x": RNG.standard_normal((2, 3)).astype(np.float32)}
    i, y, nb = _both(model, feeds, 1e-6)
    assert np.array_equal(i, feeds["a"] * (feeds["a"] + k)) and np.array_equal(nb, ~feeds["b"])
    session = InferenceSession(model)
    assert [a.type for a in session.get_inputs()] == ["tensor(int64)", "tensor(int8)", "tensor(bool)", "tensor(float)"]
    assert [a.type for a in session.get_outputs()] == ["tensor(int64)", "tensor(float)", "tensor(bool)"]
    for name, wrong, expected in (("n", np.int64, "int8"), ("b", np.uint8, "bool"), ("x", np.float64, "float")):
        with pytest.raises(TypeError, match=rf"input '{name}' has type tensor\(\w+\), expected tensor\({expected}\)"):
            session.run(None, {**feeds, name: feeds[name].astype(wrong)})


@pytest.mark.parametrize("elem,dtype,tol", [(TensorProto.DOUBLE, np.float64, 1e-5),
                                            (TensorProto.FLOAT16, np.float16, 2e-3)])
def test_session_computes_double_and_float16_models_in_float32_with_a_warning(elem, dtype, tol):
    """MatMul, Add, Relu, Softmax in the model's float type (which onnxruntime runs in it): pycnn's float32
    result, returned in that type, within float32's (or float16's) rounding of onnxruntime's."""
    w, c = RNG.standard_normal((6, 4)).astype(dtype), RNG.standard_normal(4).astype(dtype)
    nodes = [make_node("MatMul", ["x", "w"], ["h"]), make_node("Add", ["h", "c"], ["z"]),
             make_node("Relu", ["z"], ["r"]), make_node("Softmax", ["r"], ["y"], axis=-1)]
    model = make_typed_model(nodes, {"x": (elem, ["N", 6])}, {"y": (elem, ["N", 4])},
                   [make_initializer("w", w), make_initializer("c", c)])
    with pytest.warns(UserWarning, match=r"InferenceSession: input\(s\) 'x' \(\w+\) are computed in float32.*"
                                         "converted to their declared types"):
        session = InferenceSession(model)
    declared = f"tensor({'double' if elem == TensorProto.DOUBLE else 'float16'})"
    assert session.get_inputs()[0].type == session.get_outputs()[0].type == declared
    for batch in (1, 7):
        x = RNG.standard_normal((batch, 6)).astype(dtype)
        [y] = _both(model, {"x": x}, tol)
        assert y.dtype == dtype
    with pytest.raises(TypeError, match=r"input 'x' has type tensor\(float\), expected tensor\((double|float16)\)"):
        session.run(None, {"x": x.astype(np.float32)})


def test_session_and_load_agree_on_a_graph_with_an_integer_input():
    """The session's outputs are the trainable Graph's in eval mode."""
    net = torch.nn.Sequential(torch.nn.Embedding(7, 3), torch.nn.Flatten(), torch.nn.Linear(6, 2), torch.nn.ReLU())
    buffer = io.BytesIO()
    torch.onnx.export(net.eval(), (torch.zeros(4, 2, dtype=torch.long),), buffer, opset_version=17, dynamo=False)
    ids = RNG.integers(0, 7, size=(4, 2)).astype(np.int64)
    graph = pycnn.onnx.load(buffer.getvalue()).eval()
    session = InferenceSession(buffer.getvalue())
    [out] = session.run(None, {session.get_inputs()[0].name: ids})
    np.testing.assert_array_equal(out, graph(pycnn.tensor(ids)).numpy())
