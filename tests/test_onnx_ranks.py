"""Every imported network op checks the rank and dtype of what reaches it: a graph that wires a value
of the wrong rank into an op (an AveragePool after a Flatten) gets a ValueError naming the node, at
load where the file declares the shape, else when it runs; never an IndexError, KeyError or
AttributeError from inside the handler, and never a silent reading of (N, C, L) as (C, H, W)."""
import numpy as np
import pytest

import pycnn
import pycnn.onnx
from pycnn.onnx import OnnxImportError

pytest.importorskip("onnx")
from helpers.onnx_builders import make_initializer, make_model, make_node  # noqa: E402
from onnx import helper  # noqa: E402
from pycnn.onnx.ops import IMPORTERS  # noqa: E402

C = 3
F32 = np.float32
SHAPES = {0: (), 1: (2,), 2: (2, C), 3: (2, C, 4), 4: (2, C, 4, 4), 5: (2, C, 4, 4, 4)}


def _const(name, shape=(C, 1, 1)):
    return make_initializer(name, np.ones(shape, F32))


# op -> (nodes reading "x" and writing "y", initializers): one case for each op pycnn runs on Tensors.
CASES = {
    **{op: ([make_node(op, ["x"], ["y"])], []) for op in (
        "Relu", "LeakyRelu", "Elu", "Softplus", "Gelu", "HardSigmoid", "HardSwish", "Sigmoid", "Tanh", "Dropout",
        "Identity", "GlobalAveragePool", "GlobalMaxPool", "Abs", "Neg", "Exp", "Log", "Sqrt", "Reciprocal", "Erf",
        "Softsign", "Selu", "Not", "Hardmax", "Cast")},
    **{op: ([make_node(op, ["x"], ["y"], axis=1)], []) for op in ("Softmax", "LogSoftmax", "Flatten")},
    **{op: ([make_node(op, ["x", "c"], ["y"])], [_const("c")]) for op in (
        "Add", "Sub", "Mul", "Div", "Sum", "Mean", "Max", "Min", "PRelu", "Pow", "Equal", "Less", "Greater",
        "LessOrEqual", "GreaterOrEqual", "And", "Or", "Xor")},
    "Where": ([make_node("Where", ["c", "x", "x"], ["y"])], [make_initializer("c", np.ones((C, 1, 1), bool))]),
    "Clip": ([make_node("Clip", ["x", "lo", "hi"], ["y"])],
             [make_initializer("lo", np.array(0, F32)), make_initializer("hi", np.array(6, F32))]),
    "Conv": ([make_node("Conv", ["x", "w", "b"], ["y"], kernel_shape=[3, 3], pads=[1, 1, 1, 1])],
             [_const("w", (4, C, 3, 3)), _const("b", (4,))]),
    "ConvTranspose": ([make_node("ConvTranspose", ["x", "w"], ["y"], strides=[2, 2])], [_const("w", (C, 2, 3, 3))]),
    "Gemm": ([make_node("Gemm", ["x", "w", "b"], ["y"], transB=1)], [_const("w", (4, C)), _const("b", (4,))]),
    "MatMul": ([make_node("MatMul", ["x", "w"], ["y"])], [_const("w", (C, 4))]),
    "BatchNormalization": ([make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"])],
                           [_const(n, (C,)) for n in "sbmv"]),
    "LRN": ([make_node("LRN", ["x"], ["y"], size=3)], []),
    "Pad": ([make_node("Pad", ["x", "p"], ["y"])], [make_initializer("p", np.array([0, 0, 1, 1] * 2, np.int64))]),
    "MaxPool": ([make_node("MaxPool", ["x"], ["y"], kernel_shape=[2, 2])], []),
    # count_include_pad with pads took the path that indexed the spatial dims before anything checked them
    "AveragePool": ([make_node("AveragePool", ["x"], ["y"], kernel_shape=[2, 2], pads=[1, 1, 1, 1],
                               count_include_pad=1)], []),
    "ReduceMean": ([make_node("ReduceMean", ["x"], ["y"], axes=[2, 3])], []),
    **{op: ([make_node(op, ["x"], ["y"], keepdims=0)], []) for op in ("ReduceMax", "ReduceMin")},
    "ReduceSum": ([make_node("ReduceSum", ["x", "a"], ["y"])], [make_initializer("a", np.array([-1], np.int64))]),
    "Reshape": ([make_node("Reshape", ["x", "s"], ["y"])], [make_initializer("s", np.array([2, -1], np.int64))]),
    "Unsqueeze": ([make_node("Unsqueeze", ["x", "a"], ["y"])], [make_initializer("a", np.array([4], np.int64))]),
    "Squeeze": ([make_node("Squeeze", ["x", "a"], ["y"])], [make_initializer("a", np.array([3], np.int64))]),
    "Concat": ([make_node("Concat", ["x", "x"], ["y"], axis=1)], []),
    "Resize": ([make_node("Resize", ["x", "", "s"], ["y"], mode="linear")],
               [make_initializer("s", np.array([1.0], F32))]),
    "Upsample": ([make_node("Upsample", ["x", "s"], ["y"])], [make_initializer("s", np.array([1.0], F32))]),
    "DepthToSpace": ([make_node("DepthToSpace", ["x"], ["y"], blocksize=1)], []),
    "SpaceToDepth": ([make_node("SpaceToDepth", ["x"], ["y"], blocksize=1)], []),
    "If": ([make_node("If", ["c"], ["y"], then_branch=helper.make_graph(
        [make_node("Neg", ["x"], ["t"])], "then", [], [helper.make_tensor_value_info("t", 1, None)]),
        else_branch=helper.make_graph([make_node("Abs", ["x"], ["e"])], "else", [],
                                      [helper.make_tensor_value_info("e", 1, None)]))],
           [make_initializer("c", np.array(True))]),
    "InstanceNormalization": ([make_node("InstanceNormalization", ["x", "s", "b"], ["y"])],
                              [_const("s", (C,)), _const("b", (C,))]),
    "GroupNormalization": ([make_node("GroupNormalization", ["x", "s", "b"], ["y"], num_groups=1)],
                           [_const("s", (1,)), _const("b", (1,))]),
    "LayerNormalization": ([make_node("LayerNormalization", ["x", "s"], ["y"], axis=-1)], [_const("s", (1,))]),
    "Slice": ([make_node("Slice", ["x", "s", "e", "a"], ["y"])], [make_initializer("s", np.array([1], np.int64)),
                                                               make_initializer("e", np.array([3], np.int64)),
                                                               make_initializer("a", np.array([1], np.int64))]),
    "Split": ([make_node("Split", ["x"], ["y", "z"], axis=-1)], []),
    "Gather": ([make_node("Gather", ["x", "i"], ["y"], axis=1)], [make_initializer("i", np.array([0, 1], np.int64))]),
    "Expand": ([make_node("Expand", ["x", "s"], ["y"])], [make_initializer("s", np.array([2, 1, 1, 1], np.int64))]),
    "Tile": ([make_node("Tile", ["x", "r"], ["y"])], [make_initializer("r", np.array([1, 2, 1, 1], np.int64))]),
    "Transpose": ([make_node("Transpose", ["x"], ["y"], perm=[0, 2, 3, 1])], []),
}


# Ops whose result has no gradient (masks, a one-hot): what runs is not run backward.
NO_GRADIENT = {"Not", "Hardmax", "Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "And", "Or", "Xor"}


def test_every_network_op_has_a_case():
    network_ops = {name for name, op in IMPORTERS.items() if op.on_tensors is not None}
    assert network_ops == set(CASES)


def _load(op, declared=None):
    nodes, initializers = CASES[op]
    return pycnn.onnx.load(make_model(nodes, initializers, {"x": declared}, 13).SerializeToString())


@pytest.mark.parametrize("op", sorted(CASES))
@pytest.mark.parametrize("rank", sorted(SHAPES))
def test_wrong_rank_is_a_value_error_naming_the_node(op, rank):
    graph = _load(op)
    node = graph._ir.nodes[-1]
    rule = IMPORTERS[op].rank_problem(node, 0, SHAPES[rank])  # the op's own rank rule, if this breaks it
    x = pycnn.tensor(np.linspace(-2, 2, int(np.prod(SHAPES[rank]))).reshape(SHAPES[rank]).astype(F32),
                     requires_grad=True)
    try:
        out = graph(x)
    except ValueError as error:
        assert repr(node.name) in str(error)
        if rule is not None:  # the rank it needs and the shape that came
            assert str(error).endswith(rule)
        return
    assert rule is None, f"{op} ran on a {rank}-d input its rule refuses"
    if op in NO_GRADIENT:  # nothing flows back through a mask
        (out * 1.0).sum().backward()
        assert x.grad is None or not np.any(x.grad.numpy())
        return
    (out * 1.0).sum().backward()  # what runs must also run backward
    assert x.grad is not None and x.grad.shape == x.shape


@pytest.mark.parametrize("op", sorted(CASES))
def test_integer_input_is_a_value_error_naming_the_node(op):
    graph = _load(op)
    with pytest.raises(ValueError, match=rf"{graph._ir.nodes[-1].name}.*must be float32, got int64"):
        graph(pycnn.tensor(np.ones(SHAPES[4], np.int64)))


@pytest.mark.parametrize("op, rank", [("MaxPool", 2), ("AveragePool", 2), ("GlobalAveragePool", 5),
                                      ("Conv", 2), ("Gemm", 4), ("BatchNormalization", 1), ("LRN", 2)])
def test_declared_wrong_rank_is_refused_at_load(op, rank):
    with pytest.raises(OnnxImportError, match=r"input 0 \('x'\) must be .*-d, got shape \(2,"):
        _load(op, declared=list(SHAPES[rank]))


def test_average_pool_after_flatten_names_the_node_the_rank_and_the_shape():
    """The hostile file of the issue: Flatten then AveragePool, the input's shape not declared."""
    model = make_model([make_node("Flatten", ["x"], ["f"]),
                        make_node("AveragePool", ["f"], ["y"], name="/5/AveragePool", kernel_shape=[2, 2],
                                  pads=[1, 1, 1, 1], count_include_pad=1)], [], {"x": None}, 13)
    graph = pycnn.onnx.load(model.SerializeToString())
    with pytest.raises(ValueError, match=r"'/5/AveragePool' \(AveragePool.*must be 3-d to 5-d, got shape \(2, 48\)"):
        graph(pycnn.tensor(np.ones((2, 3, 4, 4), F32)))
