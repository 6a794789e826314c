"""ONNX files as other tools write them (Caffe2/old PyTorch opsets 7-9, tf2onnx, keras2onnx, hand-made
graphs) against onnxruntime, what pycnn does not support, and hostile files: every case either matches
onnxruntime at 1e-5 (and trains: backward reaches the input and every Parameter) or raises a clean
Python error that names the node, its op and what was expected."""
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import pycnn
import pycnn.onnx
from pycnn.onnx import OnnxImportError
from helpers.subprocess_env import PYCNN_PARENT
from helpers.tolerance import assert_close_float32, longest_reduction

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
from helpers.onnx_builders import (make_external_initializer, make_initializer, make_model, make_node,  # noqa: E402
                                   run_onnxruntime)
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

RNG = np.random.default_rng(20240611)


def _f32(*shape, scale=1.0, positive=False):
    a = RNG.random(shape) + 0.5 if positive else RNG.standard_normal(shape)
    return (a * scale).astype(np.float32)


def _strip(model, drop):
    """A copy without the attributes later schemas removed (onnxruntime validates them strictly)."""
    strict = onnx.ModelProto()
    strict.CopyFrom(model)
    for node in strict.graph.node:
        keep = [a for a in node.attribute if a.name not in drop]
        del node.attribute[:]
        node.attribute.extend(keep)
    return strict


def _compare(model, feeds, reference=None, train=True, linear=False, unused=()):
    """pycnn's outputs against onnxruntime's, within float32 tolerances scaled to the outputs and the
    longest reduction (helpers.tolerance); then one backward pass from a random projection of every
    output reaches each input and every Parameter with finite values. For a graph that is (piecewise)
    linear in its one input without a constant term (``linear``), the gradient g of <w, y(x)> must
    satisfy <x, g> = <w, y(x)>: the backward pass is exactly the adjoint. Parameters in ``unused`` do not
    take part (Gemm's C with beta=0). Returns the Graph."""
    expected = run_onnxruntime(reference or model, feeds)
    graph = pycnn.onnx.load(model.SerializeToString()).eval()
    xs = [pycnn.tensor(feeds[name], requires_grad=True) for name in graph.input_names]
    outs = graph(*xs)
    outs = outs if isinstance(outs, tuple) else (outs,)
    assert len(outs) == len(expected)
    for out, want in zip(outs, expected):
        assert tuple(out.shape) == want.shape
        assert_close_float32(out.numpy(), want, longest_reduction(model))
    if train:
        loss = None
        projected = 0.0
        for out, want in zip(outs, expected):
            w = _f32(*out.shape)
            projected += float(np.dot(want.reshape(-1).astype(np.float64), w.reshape(-1)))
            term = (out * pycnn.tensor(w)).sum()
            loss = term if loss is None else loss + term
        loss.backward()
        if linear:
            x, = xs
            adjoint = float(np.dot(x.numpy().reshape(-1).astype(np.float64), x.grad.numpy().reshape(-1)))
            np.testing.assert_allclose(adjoint, projected, rtol=1e-4)
        for x in xs:
            assert x.grad is not None and x.grad.shape == x.shape and np.isfinite(x.grad.numpy()).all()
        for name, p in graph.named_parameters():
            if name in unused:
                assert p.grad is None, name
                continue
            assert p.grad is not None and np.isfinite(p.grad.numpy()).all(), name
    return graph


# ----- old opsets (Caffe2, PyTorch 0.4 - 1.2) --------------------------------------------------------
@pytest.mark.parametrize("opset", [7, 8, 9])
def test_old_opset_file_with_legacy_attributes_and_initializers_as_inputs(opset):
    """BatchNormalization with spatial/consumed_inputs/is_test, Dropout with ratio/is_test, Reshape with
    a shape initializer, Softmax coercing to 2-d at axis 1 of a 4-d tensor, IR 3 initializers listed as
    graph inputs."""
    nodes = [make_node("Conv", ["x", "w", "b"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[1, 1]),
             make_node("BatchNormalization", ["c", "s", "bb", "m", "v"], ["bn"], spatial=1, epsilon=1e-3, momentum=0.9,
                       is_test=1, consumed_inputs=[0, 0, 0, 1, 1]),
             make_node("Relu", ["bn"], ["r"]),
             make_node("Dropout", ["r"], ["d"], ratio=0.25, is_test=1),
             make_node("Softmax", ["d"], ["sm"], axis=1),
             make_node("Reshape", ["sm", "shape"], ["flat"]),
             make_node("Gemm", ["flat", "fw", "fb"], ["y"], transB=1)]
    inits = [make_initializer("w", _f32(4, 3, 3, 3)), make_initializer("b", _f32(4)),
             make_initializer("s", _f32(4, positive=True)), make_initializer("bb", _f32(4)),
             make_initializer("m", _f32(4, scale=0.1)), make_initializer("v", _f32(4, positive=True)),
             make_initializer("shape", np.array([2, -1], np.int64)), make_initializer("fw", _f32(5, 4 * 5 * 6)),
             make_initializer("fb", _f32(5))]
    model = make_model(nodes, inits, {"x": [2, 3, 5, 6]}, opset, initializers_as_inputs=True)
    strict = _strip(model, {"consumed_inputs", "is_test"} | ({"spatial"} if opset >= 9 else set()))
    graph = _compare(model, {"x": _f32(2, 3, 5, 6)}, strict)
    assert graph.input_names == ["x"]
    assert sorted(n for n, _ in graph.named_buffers()) == ["m", "v"]


@pytest.mark.parametrize("opset,axis", [(9, 1), (11, 2), (11, -1), (12, 0), (13, 1), (13, -2), (22, 1), (25, -3)])
def test_softmax_and_log_softmax_axis_semantics_per_opset(opset, axis):
    """Before opset 13 Softmax flattens to 2-d at ``axis``; from 13 it normalises along ``axis`` only."""
    nodes = [make_node("Softmax", ["x"], ["y"], axis=axis), make_node("LogSoftmax", ["x"], ["z"], axis=axis)]
    model = make_model(nodes, [], {"x": [2, 3, 4, 5]}, opset, outputs=("y", "z"))
    _compare(model, {"x": _f32(2, 3, 4, 5)})


# ----- padding, pooling -----------------------------------------------------------------------------
@pytest.mark.parametrize("auto_pad,stride,dilation", [(pad, s, 1) for pad in ("SAME_UPPER", "SAME_LOWER", "VALID")
                                                     for s in (1, 2, 3)] + [("VALID", 2, 2)])
def test_conv_auto_pad(auto_pad, stride, dilation):
    """(onnxruntime refuses SAME with dilations, so those are not compared.)"""
    nodes = [make_node("Conv", ["x", "w", "b"], ["y"], auto_pad=auto_pad, strides=[stride, stride],
                       dilations=[dilation, dilation], kernel_shape=[3, 2])]
    model = make_model(nodes, [make_initializer("w", _f32(4, 3, 3, 2)), make_initializer("b", _f32(4))],
                       {"x": ["N", 3, 8, 7]}, 11)
    _compare(model, {"x": _f32(2, 3, 8, 7)})


@pytest.mark.parametrize("op", ["MaxPool", "AveragePool"])
@pytest.mark.parametrize("auto_pad", ["SAME_UPPER", "SAME_LOWER", "VALID"])
@pytest.mark.parametrize("count_include_pad", [0, 1])
def test_pool_auto_pad(op, auto_pad, count_include_pad):
    """(onnxruntime leaves the dilations out of SAME padding, against the spec: only VALID is compared.)"""
    attrs = {"count_include_pad": count_include_pad} if op == "AveragePool" else {}
    if op == "MaxPool" and count_include_pad and auto_pad == "VALID":
        attrs["dilations"] = [2, 1]
    nodes = [make_node(op, ["x"], ["a"], auto_pad=auto_pad, kernel_shape=[3, 2], strides=[2, 2], **attrs),
             make_node(op, ["a"], ["y"], auto_pad=auto_pad, kernel_shape=[2, 3], strides=[1, 3], **attrs)]
    model = make_model(nodes, [], {"x": ["N", 2, 9, 8]}, 12)
    _compare(model, {"x": _f32(2, 2, 9, 8)}, linear=True)


POOL_CASES = [  # kernel, strides, pads (top, left, bottom, right), ceil_mode, count_include_pad, input hw
    ([3, 3], [2, 2], [0, 0, 1, 1], 0, 0, (7, 7)),
    ([3, 3], [2, 2], [1, 0, 0, 1], 0, 0, (8, 7)),
    ([3, 3], [2, 2], [1, 2, 0, 1], 0, 1, (8, 9)),
    ([2, 2], [2, 2], [0, 0, 0, 0], 1, 0, (7, 5)),
    ([3, 3], [2, 2], [1, 1, 1, 1], 1, 0, (8, 8)),
    ([3, 3], [2, 2], [1, 1, 1, 1], 1, 1, (8, 6)),
    ([3, 2], [3, 2], [0, 1, 1, 0], 1, 0, (10, 7)),
    ([3, 2], [3, 2], [0, 1, 1, 0], 1, 1, (10, 7)),
    ([3, 3], [1, 1], [2, 2, 2, 2], 0, 1, (5, 5)),
    ([3, 3], [1, 1], [2, 2, 2, 2], 0, 0, (5, 5)),
    ([5, 5], [3, 3], [2, 0, 1, 2], 1, 1, (11, 9)),
    ([2, 2], [3, 3], [1, 1, 1, 1], 1, 0, (4, 4)),  # ceil_mode's last window would start in the end pads
    ([2, 2], [3, 3], [1, 1, 1, 1], 1, 1, (4, 4)),
    ([2, 2], [3, 3], [1, 0, 0, 1], 1, 0, (4, 5)),
]


@pytest.mark.parametrize("kernel,strides,pads,ceil,include,hw", POOL_CASES)
@pytest.mark.parametrize("op", ["MaxPool", "AveragePool"])
def test_pool_asymmetric_pads_ceil_mode_and_count_include_pad(op, kernel, strides, pads, ceil, include, hw):
    """For MaxPool ``include`` picks dilations 2 instead."""
    attrs = {"count_include_pad": include} if op == "AveragePool" else {"dilations": [1 + include, 2 - include]}
    nodes = [make_node(op, ["x"], ["y"], kernel_shape=kernel, strides=strides, pads=pads, ceil_mode=ceil, **attrs)]
    model = make_model(nodes, [], {"x": ["N", 3, *hw]}, 12)
    _compare(model, {"x": _f32(2, 3, *hw)}, linear=True)


def test_conv_asymmetric_pads_grouped_and_global_pools():
    nodes = [make_node("Conv", ["x", "w"], ["c"], pads=[0, 1, 2, 0], group=2, strides=[2, 1]),
             make_node("GlobalAveragePool", ["c"], ["ga"]),
             make_node("GlobalMaxPool", ["c"], ["gm"]),
             make_node("Concat", ["ga", "gm"], ["y"], axis=-3)]
    for opset in (11, 22, 25):
        model = make_model(nodes, [make_initializer("w", _f32(6, 2, 3, 3))], {"x": ["N", 4, 7, 6]}, opset,
                           ir_version=10)
        _compare(model, {"x": _f32(3, 4, 7, 6)})


@pytest.mark.parametrize("mode", ["constant", "reflect", "edge"])
@pytest.mark.parametrize("opset", [2, 11, 13, 18, 19])
def test_pad_attribute_and_input_forms(mode, opset):
    if opset == 2:
        nodes = [make_node("Pad", ["x"], ["y"], mode=mode, pads=[0, 0, 1, 2, 0, 0, 2, 1],
                           **({"value": 0.75} if mode == "constant" else {}))]
        inits = []
        opset = 7  # the attribute form lives until opset 10
    else:
        names = ["x", "pads"] + (["value"] if mode == "constant" else [])
        if opset >= 18:
            names = ["x", "pads", "value" if mode == "constant" else "", "axes"]
        nodes = [make_node("Pad", names, ["y"], mode=mode)]
        pads = [1, 2, 2, 1] if opset >= 18 else [0, 0, 1, 2, 0, 0, 2, 1]
        inits = [make_initializer("pads", np.array(pads, np.int64)), make_initializer("value", np.float32(0.75)),
                 make_initializer("axes", np.array([2, -1], np.int64))]
        inits = [t for t in inits if t.name in names]
    model = make_model(nodes, inits, {"x": ["N", 2, 4, 5]}, opset)
    _compare(model, {"x": _f32(2, 2, 4, 5)}, linear=mode != "constant")


@pytest.mark.parametrize("mode", ["constant", "reflect", "edge", "wrap"])
def test_pad_with_negative_pads_crops(mode):
    nodes = [make_node("Pad", ["x", "pads"], ["y"], mode=mode)]
    model = make_model(nodes, [make_initializer("pads", np.array([0, 0, -1, 2, 0, 0, 1, -2], np.int64))],
                       {"x": ["N", 2, 4, 5]}, 19)
    _compare(model, {"x": _f32(2, 2, 4, 5)}, linear=True)


def test_pad_modes_the_opset_does_not_have_are_refused():
    model = make_model([make_node("Pad", ["x", "pads"], ["y"], name="wrap13", mode="wrap")],
                       [make_initializer("pads", np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64))],
                       {"x": ["N", 2, 4, 5]}, 13)
    with pytest.raises(OnnxImportError, match="node 'wrap13' \\(Pad, opset 13\\): mode 'wrap' is not supported at "
                                              "opset 13 \\(expected one of constant, reflect, edge\\)"):
        pycnn.onnx.load(model.SerializeToString())


def test_graph_with_explicit_padding_paths_exports_and_round_trips(tmp_path):
    """SAME_LOWER average pooling without the pads in the count, reflect padding and cropping run through
    pycnn's host padding; the imported graph exports again and onnxruntime agrees with the original."""
    nodes = [make_node("Pad", ["x", "pads"], ["p"], mode="reflect"),
             make_node("AveragePool", ["p"], ["a"], auto_pad="SAME_LOWER", kernel_shape=[3, 3], strides=[2, 2]),
             make_node("MaxPool", ["a"], ["y"], kernel_shape=[2, 2], pads=[1, 0, 0, 1], ceil_mode=1, strides=[2, 2])]
    model = make_model(nodes, [make_initializer("pads", np.array([0, 0, 2, -1, 0, 0, 1, 2], np.int64))],
                       {"x": ["N", 2, 9, 8]}, 13)
    graph = _compare(model, {"x": _f32(2, 2, 9, 8)}, linear=True)
    path = str(tmp_path / "again.onnx")
    pycnn.onnx.export(graph, path, (2, 2, 9, 8))
    x = _f32(3, 2, 9, 8)
    again = onnx.load(path)
    assert_close_float32(run_onnxruntime(again, {again.graph.input[0].name: x})[0], run_onnxruntime(model, {"x": x})[0],
                         longest_reduction(model))


# ----- dense layers -----------------------------------------------------------------------------------
def test_matmul_add_in_place_of_gemm_on_2d_and_3d_activations():
    nodes = [make_node("Flatten", ["x"], ["f"], axis=1),
             make_node("MatMul", ["f", "w1"], ["m1"]), make_node("Add", ["m1", "b1"], ["h"]),
             make_node("Relu", ["h"], ["r"]),
             make_node("Reshape", ["r", "shape3"], ["r3"]),  # (N, 2, 3): a sequence of 2 vectors of 3
             make_node("MatMul", ["r3", "w2"], ["m2"]), make_node("Add", ["b2", "m2"], ["y"])]
    inits = [make_initializer("w1", _f32(2 * 3 * 4, 6)), make_initializer("b1", _f32(6)),
             make_initializer("shape3", np.array([0, 2, 3], np.int64)),
             make_initializer("w2", _f32(3, 5)), make_initializer("b2", _f32(1, 5))]
    graph = _compare(make_model(nodes, inits, {"x": ["batch", 2, 3, 4]}, 13), {"x": _f32(4, 2, 3, 4)})
    assert {"w1", "b1", "w2", "b2"} == {n for n, _ in graph.named_parameters()}


@pytest.mark.parametrize("trans_a,trans_b,alpha,beta,c_shape", [
    (0, 0, 1.0, 1.0, (5,)), (0, 1, 0.5, 2.0, (5,)), (1, 0, 1.0, 1.0, (1, 5)), (1, 1, 1.5, 0.5, (3, 5)),
    (0, 1, 1.0, 1.0, ()), (0, 0, 1.0, 1.0, (3, 1)), (0, 1, 2.0, 0.0, (5,)), (0, 1, 1.0, 1.0, None)])
def test_gemm_transposes_alpha_beta_and_c_shapes(trans_a, trans_b, alpha, beta, c_shape):
    a_shape = (7, 3) if trans_a else (3, 7)
    b_shape = (5, 7) if trans_b else (7, 5)
    inputs = ["x", "b"] + ([] if c_shape is None else ["c"])
    inits = [make_initializer("b", _f32(*b_shape))] + ([] if c_shape is None else
                                                       [make_initializer("c", _f32(*c_shape))])
    nodes = [make_node("Gemm", inputs, ["y"], transA=trans_a, transB=trans_b, alpha=alpha, beta=beta)]
    _compare(make_model(nodes, inits, {"x": list(a_shape)}, 11), {"x": _f32(*a_shape)},
             unused=("c",) if beta == 0 else ())


@pytest.mark.parametrize("opset", [9, 13])
def test_weights_from_constant_nodes_and_identity_chains(opset):
    """Some exporters store weights as Constant nodes (or behind Identity) instead of initializers."""
    w = _f32(4, 6)
    nodes = [make_node("Constant", [], ["wc"], value=numpy_helper.from_array(w, "wc")),
             make_node("Identity", ["wc"], ["wi"]), make_node("Identity", ["wi"], ["wi2"]),
             make_node("Constant", [], ["bc"], value=numpy_helper.from_array(_f32(6), "bc")),
             make_node("Identity", ["x"], ["xi"]),
             make_node("MatMul", ["xi", "wi2"], ["m"]), make_node("Add", ["m", "bc"], ["g"]),
             make_node("Gemm", ["g", "wt", "zero"], ["y"], transB=0)]  # C is required before opset 11
    consts = [make_initializer("wt", _f32(6, 2)), make_initializer("zero", np.zeros(2, np.float32))]
    if opset >= 13:
        nodes.insert(0, make_node("Constant", [], ["scale"], value_float=0.5))
        nodes.insert(0, make_node("Constant", [], ["shape"], value_ints=[-1, 4]))
        nodes += [make_node("Mul", ["y", "scale"], ["y2"]), make_node("Reshape", ["y2", "shape"], ["y3"])]
    model = make_model(nodes, consts, {"x": ["N", 4]}, opset, outputs=("y3",) if opset >= 13 else ("y",))
    _compare(model, {"x": _f32(6, 4)})


def test_matmul_of_two_activations():
    nodes = [make_node("Transpose", ["x"], ["xt"], perm=[1, 0]), make_node("MatMul", ["x", "xt"], ["y"])]
    _compare(make_model(nodes, [], {"x": [3, 5]}, 13), {"x": _f32(3, 5)})


@pytest.mark.parametrize("axis", [0, 1, 2, 3, -1])
def test_flatten_axis(axis):
    nodes = [make_node("Flatten", ["x"], ["y"], axis=axis)]
    _compare(make_model(nodes, [], {"x": [2, 3, 4, 5]}, 11), {"x": _f32(2, 3, 4, 5)})


# ----- activations, elementwise ---------------------------------------------------------------------
@pytest.mark.parametrize("slope_shape", [(3, 1, 1), (1, 3, 1, 1), (5,), (1,), (), (4, 5), (3, 4, 1)])
def test_prelu_slope_broadcasting_and_leaky_relu(slope_shape):
    nodes = [make_node("PRelu", ["x", "slope"], ["p"]), make_node("LeakyRelu", ["p"], ["y"], alpha=0.3)]
    model = make_model(nodes, [make_initializer("slope", _f32(*slope_shape))], {"x": ["N", 3, 4, 5]}, 9)
    graph = _compare(model, {"x": _f32(2, 3, 4, 5)})
    if slope_shape:
        assert tuple(graph.slope.shape) == slope_shape


@pytest.mark.parametrize("opset", [7, 8, 13])
def test_sum_mean_max_min_of_several_inputs(opset):
    """(Max/Min broadcast from opset 8.)"""
    nodes = [make_node("Relu", ["x"], ["r"]), make_node("Sigmoid", ["x"], ["s"]),
             make_node("Sum", ["x", "r", "s"], ["sum3"]), make_node("Mean", ["x", "r", "s"], ["mean3"]),
             make_node("Max", ["x", "s", "row" if opset >= 8 else "r"], ["max3"]),
             make_node("Min", ["x", "r"], ["min2"]),
             make_node("Max", ["x"], ["max1"]),
             make_node("Sum", ["sum3", "mean3", "max3", "min2", "max1", "relu6"], ["y"])]
    if opset >= 8:  # ReLU6 as Max(x, 0) -> Min(., 6)
        nodes += [make_node("Max", ["x", "zero"], ["relu"]), make_node("Min", ["relu", "six"], ["relu6"])]
    else:
        nodes += [make_node("Relu", ["x"], ["relu6"])]
    model = make_model(nodes,
                       [make_initializer("row", _f32(6)), make_initializer("zero", np.float32(0.0)),
                        make_initializer("six", np.float32(0.6))],
                       {"x": ["N", 6]}, opset)
    _compare(model, {"x": _f32(4, 6)})


@pytest.mark.parametrize("opset", [6, 11, 12, 13])
def test_clip_bounds_as_attributes_and_optional_inputs(opset):
    if opset < 11:
        nodes = [make_node("Clip", ["x"], ["a"], min=-0.5, max=0.7), make_node("Clip", ["a"], ["b"], min=-0.2),
                 make_node("Clip", ["b"], ["y"])]
        inits = []
    else:
        nodes = [make_node("Clip", ["x", "lo", "hi"], ["a"]), make_node("Clip", ["a", "", "hi2"], ["b"]),
                 make_node("Clip", ["b", "lo2"], ["c"]), make_node("Clip", ["c"], ["y"])]
        inits = [make_initializer("lo", np.float32(-0.5)), make_initializer("hi", np.float32(0.7)),
                 make_initializer("hi2", np.float32(0.6)), make_initializer("lo2", np.float32(-0.2))]
    model = make_model(nodes, inits, {"x": ["N", 3, 4]}, max(opset, 7))
    _compare(model, {"x": _f32(2, 3, 4)})


def test_input_normalisation_with_constant_broadcasting():
    """(x - mean) / std * scale + shift with (1, C, 1, 1), (C, 1, 1) and scalar constants, constants first."""
    nodes = [make_node("Sub", ["x", "mean"], ["centred"]), make_node("Div", ["centred", "std"], ["normed"]),
             make_node("Mul", ["scale", "normed"], ["scaled"]), make_node("Add", ["scaled", "shift"], ["shifted"]),
             make_node("Sub", ["one", "shifted"], ["flipped"]), make_node("Div", ["flipped", "two"], ["y"])]
    inits = [make_initializer("mean", _f32(1, 3, 1, 1)), make_initializer("std", _f32(3, 1, 1, positive=True)),
             make_initializer("scale", np.float32(1.7)), make_initializer("shift", _f32(4)),
             make_initializer("one", np.float32(1.0)), make_initializer("two", np.array([2.0], np.float32))]
    _compare(make_model(nodes, inits, {"x": ["N", 3, 5, 4]}, 13), {"x": _f32(2, 3, 5, 4)})


def test_lrn_concat_negative_axis_and_identity_to_the_output():
    nodes = [make_node("LRN", ["x"], ["l3"], size=3, alpha=1e-3, beta=0.75, bias=2.0),
             make_node("LRN", ["x"], ["l4"], size=5, alpha=2e-3, beta=0.5),
             make_node("Concat", ["l3", "l4", "x"], ["cat"], axis=-3),
             make_node("Concat", ["cat", "cat"], ["cat2"], axis=1),
             make_node("Identity", ["cat2"], ["i1"]), make_node("Identity", ["i1"], ["y"])]
    _compare(make_model(nodes, [], {"x": ["N", 5, 3, 4]}, 13), {"x": _f32(2, 5, 3, 4)})


# ----- shapes: dynamic flatten, squeeze, NHWC ---------------------------------------------------------
def test_pytorch_04_dynamic_flatten_chain_with_constant_nodes():
    """x.view(x.size(0), -1) as PyTorch 0.4 wrote it at opset 9: Shape -> Gather -> Unsqueeze(axes attr)
    -> Concat with a Constant -> Reshape."""
    nodes = [make_node("Conv", ["x", "w"], ["c"], kernel_shape=[3, 3]),
             make_node("Shape", ["c"], ["shape"]),
             make_node("Constant", [], ["zero"], value=numpy_helper.from_array(np.array(0, np.int64), "zero")),
             make_node("Gather", ["shape", "zero"], ["batch"], axis=0),
             make_node("Constant", [], ["minus1"], value=numpy_helper.from_array(np.array(-1, np.int64), "m1")),
             make_node("Unsqueeze", ["batch"], ["batch1"], axes=[0]),
             make_node("Unsqueeze", ["minus1"], ["minus1_1"], axes=[0]),
             make_node("Concat", ["batch1", "minus1_1"], ["target"], axis=0),
             make_node("Reshape", ["c", "target"], ["flat"]),
             make_node("Gemm", ["flat", "fw", "fb"], ["y"], transB=1)]
    inits = [make_initializer("w", _f32(2, 1, 3, 3)), make_initializer("fw", _f32(3, 2 * 3 * 4)),
             make_initializer("fb", _f32(3))]
    model = make_model(nodes, inits, {"x": ["batch", 1, 5, 6]}, 9)
    for batch in (1, 3):
        _compare(model, {"x": _f32(batch, 1, 5, 6)})


@pytest.mark.parametrize("opset", [11, 13])
def test_tf2onnx_nhwc_graph(opset):
    """tf2onnx: NHWC input, Transpose to NCHW, SAME convolutions, Transpose back, Squeeze of the pooled
    spatial axes (attribute before 13, input from 13), MatMul + Add, a second output."""
    squeeze_axes = {"axes": [1, 2]} if opset < 13 else {}
    nodes = [make_node("Transpose", ["input:0"], ["nchw"], perm=[0, 3, 1, 2]),
             make_node("Conv", ["nchw", "conv/kernel:0", "conv/bias:0"], ["conv"], auto_pad="SAME_UPPER",
                       strides=[2, 2], kernel_shape=[3, 3]),
             make_node("Relu", ["conv"], ["relu"]),
             make_node("Transpose", ["relu"], ["features:0"], perm=[0, 2, 3, 1]),
             make_node("ReduceMean", ["features:0"], ["pooled"], axes=[1, 2], keepdims=1),
             make_node("Squeeze", ["pooled"] + (["sq_axes"] if opset >= 13 else []), ["flat"], **squeeze_axes),
             make_node("MatMul", ["flat", "dense/kernel:0"], ["mm"]),
             make_node("Add", ["mm", "dense/bias:0"], ["logits:0"])]
    inits = [make_initializer("conv/kernel:0", _f32(4, 3, 3, 3)), make_initializer("conv/bias:0", _f32(4)),
             make_initializer("dense/kernel:0", _f32(4, 2)), make_initializer("dense/bias:0", _f32(2)),
             make_initializer("sq_axes", np.array([1, 2], np.int64))]
    inits = [t for t in inits if t.name != "sq_axes" or opset >= 13]
    model = make_model(nodes, inits, {"input:0": ["unk__0", 7, 6, 3]}, opset, outputs=("logits:0", "features:0"))
    _compare(model, {"input:0": _f32(2, 7, 6, 3)})


@pytest.mark.parametrize("opset", [11, 13])
def test_squeeze_unsqueeze_axes_attribute_and_input(opset):
    def axes(name, values):
        return ({"axes": values}, []) if opset < 13 else ({}, [name])
    a1, i1 = axes("ax_u", [0, -1])
    a2, i2 = axes("ax_s", [0, 4])
    nodes = [make_node("Unsqueeze", ["x"] + i1, ["u"], **a1), make_node("Relu", ["u"], ["r"]),
             make_node("Squeeze", ["r"] + i2, ["s"], **a2), make_node("Squeeze", ["s"], ["y"])]
    inits = [make_initializer("ax_u", np.array([0, -1], np.int64)),
             make_initializer("ax_s", np.array([0, 4], np.int64))]
    model = make_model(nodes, inits if opset >= 13 else [], {"x": ["N", 1, 5]}, opset)
    _compare(model, {"x": _f32(3, 1, 5)})


@pytest.mark.parametrize("axes,keepdims,opset", [([1], 1, 13), ([1, 3], 0, 13), ([-1, 0], 1, 13), (None, 0, 13),
                                                  ([2, 3], 0, 18), ([1, 2], 1, 18), (None, 1, 18)])
def test_reduce_mean_over_any_axes(axes, keepdims, opset):
    if opset >= 18:
        names, inits, attrs = (["x", "axes"] if axes else ["x"]), ([make_initializer("axes", np.array(axes, np.int64))]
                                                                   if axes else []), {}
    else:
        names, inits, attrs = ["x"], [], ({"axes": axes} if axes else {})
    nodes = [make_node("ReduceMean", names, ["y"], keepdims=keepdims, **attrs)]
    _compare(make_model(nodes, inits, {"x": ["N", 3, 4, 5]}, opset), {"x": _f32(2, 3, 4, 5)}, linear=True)


def test_max_min_backward_and_export(tmp_path):
    """|x|-like piecewise-linear Max/Min: the backward pass is the adjoint; the graph exports again."""
    nodes = [make_node("Mul", ["x", "minus_half"], ["neg"]), make_node("Max", ["x", "neg", "neg"], ["m"]),
             make_node("Min", ["m", "x"], ["y"])]
    model = make_model(nodes, [make_initializer("minus_half", np.float32(-0.5))], {"x": ["N", 3, 4]}, 13)
    graph = _compare(model, {"x": _f32(2, 3, 4)}, linear=True)
    path = str(tmp_path / "again.onnx")
    pycnn.onnx.export(graph, path, (2, 3, 4))
    again, x = onnx.load(path), _f32(5, 3, 4)
    np.testing.assert_allclose(run_onnxruntime(again, {again.graph.input[0].name: x})[0],
                               run_onnxruntime(model, {"x": x})[0], rtol=1e-6)


# ----- graph structure and names ----------------------------------------------------------------------
def test_odd_names_unused_initializer_several_outputs_and_outputs_that_are_not_computed():
    """Value names with '/', ':', '.', spaces, unicode, Python and Module attribute names; an unused
    initializer; outputs that are the input, an initializer, and the same value twice."""
    nodes = [make_node("Conv", ["x", "forward", "training"], ["conv/out:0"], name="", kernel_shape=[1, 1]),
             make_node("Mul", ["conv/out:0", "a.b"], ["mul 1"], name="mul 1"),
             make_node("Add", ["mul 1", "a_b"], ["säule"], name="säule"),
             make_node("Gemm", ["flat", "parameters"], ["gemm"], name="", transB=1),
             make_node("Flatten", ["säule"], ["flat"])]
    inits = [make_initializer("forward", _f32(2, 3, 1, 1)), make_initializer("training", _f32(2)),
             make_initializer("a.b", _f32(2, 1, 1)), make_initializer("a_b", _f32(2, 1, 1)),
             make_initializer("parameters", _f32(3, 2 * 4 * 5)), make_initializer("unused", _f32(7)),
             make_initializer("1st", _f32(3))]
    model = make_model(nodes, inits, {"x": ["N", 3, 4, 5]}, 13, outputs=("gemm", "säule", "x", "1st", "gemm"))
    graph = _compare(model, {"x": _f32(2, 3, 4, 5)})
    params = dict(graph.named_parameters())  # '1st' only feeds an output: a constant
    assert {graph.onnx_names[n][0] for n in params} == {"forward", "training", "a.b", "a_b", "parameters"}
    assert callable(graph.forward) and isinstance(graph.training, bool) and callable(graph.parameters)


def test_input_without_declared_shape_and_nodes_out_of_topological_order():
    """The spec asks for topologically sorted nodes, but onnxruntime sorts them itself; pycnn does too."""
    nodes = [make_node("Gemm", ["r", "w", "b"], ["y"], transB=1), make_node("Relu", ["s"], ["r"]),
             make_node("Sigmoid", ["x"], ["s"])]
    model = make_model(nodes, [make_initializer("w", _f32(3, 4)), make_initializer("b", _f32(3))], {"x": None}, 13,
                       name="unsorted")
    _compare(model, {"x": _f32(5, 4)})
    assert pycnn.onnx.check(model.SerializeToString()).runs["cpu"].startswith("skipped")


# ----- what pycnn does not support: a clear error naming the node --------------------------------------
def _load_error(model):
    """load and check both refuse ``model``; returns load's message."""
    data = model.SerializeToString()
    with pytest.raises(OnnxImportError) as info:
        pycnn.onnx.load(data)
    report = pycnn.onnx.check(data)
    assert not report.ok and report.problems
    return str(info.value)


def _subgraph(op="Identity"):
    return helper.make_graph([make_node(op, ["x"], ["z"], name=f"inner_{op}")], "branch", [],
                             [helper.make_tensor_value_info("z", TensorProto.FLOAT, None)])


UNSUPPORTED = {
    "Einsum": ([make_node("Einsum", ["x", "x"], ["y"], name="ein", equation="nchw,nchw->nchw")], [],
               "node 'ein' \\(Einsum, opset 13\\): op Einsum is not supported"),
    "QLinearConv": ([make_node("QLinearConv", ["x", "s", "z", "w", "s", "z", "s", "z"], ["y"], name="qconv")],
                    [make_initializer("s", np.float32(0.1)), make_initializer("z", np.uint8(0)),
                     make_initializer("w", np.ones((2, 3, 1, 1), np.uint8))], "'qconv' \\(QLinearConv.*not supported"),
    "If": ([make_node("Constant", [], ["c"], value=numpy_helper.from_array(np.array(True), "c")),
            make_node("If", ["c"], ["y"], name="branchy", then_branch=_subgraph("NonZero"),
                      else_branch=_subgraph())], [],
           "'branchy' \\(If, opset 13\\): then_branch: node 'inner_NonZero': op NonZero is not supported"),
    "Resize lanczos": ([make_node("Resize", ["x", "", "scales"], ["y"], name="up", mode="lanczos")],
                       [make_initializer("scales", np.float32([1, 1, 2, 2]))],
                       "'up' \\(Resize, opset 13\\): mode 'lanczos' is not supported \\(nearest, linear and "
                       "cubic are\\)"),
    "Resize tf_crop_and_resize": ([make_node("Resize", ["x", "", "scales"], ["y"], name="crop",
                                             coordinate_transformation_mode="tf_crop_and_resize")],
                                  [make_initializer("scales", np.float32([1, 1, 2, 2]))],
                                  "'crop' \\(Resize.*tf_crop_and_resize' is not supported"),
    "custom domain": ([helper.make_node("Relu", ["x"], ["y"], name="ms", domain="com.microsoft")], [],
                      "'ms' \\(Relu, opset 13\\): domain 'com.microsoft' is not supported"),
    "float16 weight": ([make_node("Conv", ["x", "w"], ["y"], name="c16")],
                       [make_initializer("w", _f32(2, 3, 1, 1).astype(np.float16))],
                       "'c16' \\(Conv, opset 13\\): input 1 \\('w'\\) is float16.*float32"),
    "double weight": ([make_node("Conv", ["x", "w"], ["y"], name="c64")],
                      [make_initializer("w", RNG.standard_normal((2, 3, 1, 1)))],
                      "'c64' \\(Conv, opset 13\\): input 1 \\('w'\\) is double; pycnn computes in float32"),
    "int8 weight": ([make_node("Conv", ["x", "w"], ["y"], name="c8")],
                    [make_initializer("w", np.ones((2, 3, 1, 1), np.int8))],
                    "'c8' \\(Conv, opset 13\\): input 1 \\('w'\\) is int8.*float32"),
    "string tensor": ([make_node("Identity", ["x"], ["y"])],
                      [helper.make_tensor("names", TensorProto.STRING, [1], [b"cat"])], "data type string"),
    "4-d conv transpose": ([make_node("ConvTranspose", ["x", "w"], ["y"], name="c4d", kernel_shape=[1, 1, 1, 1])],
                           [make_initializer("w", _f32(3, 2, 1, 1, 1, 1))],
                           "'c4d' \\(ConvTranspose, opset 13\\): kernel_shape \\[1, 1, 1, 1\\] is 4-d; pycnn "
                           "transposes convolutions of \\(N, C, L\\), \\(N, C, H, W\\) and \\(N, C, D, H, W\\) tensors "
                           "only"),
}


@pytest.mark.parametrize("case", sorted(UNSUPPORTED))
def test_unsupported_content_names_the_node_and_what_is_supported(case):
    nodes, inits, message = UNSUPPORTED[case]
    _load_error(make_model(nodes, inits, {"x": ["N", 3, 4, 4]}, 13))
    with pytest.raises(OnnxImportError, match=message):
        pycnn.onnx.load(make_model(nodes, inits, {"x": ["N", 3, 4, 4]}, 13).SerializeToString())


@pytest.mark.parametrize("elem_type", [TensorProto.BFLOAT16, TensorProto.STRING, TensorProto.COMPLEX64])
def test_graph_input_of_another_type_is_refused(elem_type):
    """(double, float16 and integer inputs load: tests/test_onnx_input_types.py)"""
    model = make_model([make_node("Relu", ["x"], ["y"])], [], {"x": [2]}, 13, ir_version=onnx.IR_VERSION,
                       elem_type=elem_type)
    with pytest.raises(OnnxImportError, match="graph input 'x' is (bfloat16|string|14); pycnn takes float, double"):
        pycnn.onnx.load(model.SerializeToString())


def test_float16_and_double_weights_behind_a_cast_load():
    """How fp16-compressed models keep fp32 compute: the Cast folds at import, as onnxruntime computes it."""
    nodes = [make_node("Cast", ["w16"], ["w"], to=TensorProto.FLOAT),
             make_node("Cast", ["b64"], ["b"], to=TensorProto.FLOAT),
             make_node("Conv", ["x", "w", "b"], ["y"])]
    inits = [make_initializer("w16", _f32(2, 3, 1, 1).astype(np.float16)),
             make_initializer("b64", RNG.standard_normal(2))]
    _compare(make_model(nodes, inits, {"x": ["N", 3, 4, 4]}, 13), {"x": _f32(2, 3, 4, 4)})


# ----- hostile files --------------------------------------------------------------------------------
BIG = 1 << 40


def _conv_model(**attrs):
    return make_model([make_node("Conv", ["x", "w"], ["y"], name="conv", **attrs)],
                      [make_initializer("w", _f32(4, 2, 3, 3))],
                      {"x": ["N", 2, 6, 6]}, 13)


def _one(op, inputs, inits, opset=13, shape=("N", 2, 6, 6), **attrs):
    return make_model([make_node(op, ["x"] + inputs, ["y"], name="bad", **attrs)], inits, {"x": list(shape)}, opset)


def _raw(name, dims, nbytes):
    return onnx.TensorProto(name=name, data_type=TensorProto.FLOAT, dims=dims, raw_data=b"\0" * nbytes)


# name -> (model, message the error must match: an OnnxImportError from load, or a ValueError naming the
# node from the first call)
HOSTILE_AT_LOAD = {
    "negative kernel": (_one("MaxPool", [], [], kernel_shape=[-1, 3]),
                        "'bad' \\(MaxPool.*kernel_shape \\[-1, 3\\] must be positive"),
    "zero stride": (_conv_model(strides=[0, 1]), "'conv' \\(Conv.*strides \\[0, 1\\] must be positive"),
    "pads too long": (_conv_model(pads=[1, 1, 1, 1, 1, 1]), "'conv'.*pads \\[1, 1, 1, 1, 1, 1\\] are not 4"),
    "negative pads": (_conv_model(pads=[1, -1, 1, 1]), "pads \\[1, -1, 1, 1\\] are not 4 non-negative"),
    "group": (_conv_model(group=3), "'conv'.*group 3 does not divide the 4 output channels"),
    "kernel_shape disagrees": (_conv_model(kernel_shape=[5, 5]), "kernel_shape \\[5, 5\\] does not match the weight"),
    "absurd kernel": (_one("MaxPool", [], [], kernel_shape=[BIG, 1]),
                      f"kernel_shape \\[{BIG}, 1\\] is larger than 2\\^31"),
    "absurd dilation": (_conv_model(dilations=[BIG, 1]), f"dilations \\[{BIG}, 1\\] is larger than 2\\^31"),
    "string kernel": (_one("MaxPool", [], [], kernel_shape="3"),
                      "attribute 'kernel_shape' must be a list of ints, got a string"),
    "string alpha": (_one("LeakyRelu", [], [], alpha="x"), "attribute 'alpha' must be a float, got a string"),
    "unknown auto_pad": (_conv_model(auto_pad="SAME"), "auto_pad 'SAME' is not an ONNX value"),
    "initializer 2^40": (_one("Add", ["b"], [_raw("b", [BIG], 0)]),
                         "tensor 'b': shape \\[1099511627776\\] has more than 2\\^31"),
    "raw data short": (_one("Add", ["b"], [_raw("b", [2, 6], 20)]),
                       "tensor 'b': raw data has 20 bytes, shape \\[2, 6\\] needs 48"),
    "constant 2^40": (make_model([make_node("Constant", [], ["c"], value=_raw("c", [BIG, BIG], 0)),
                                  make_node("Add", ["x", "c"], ["y"])],
                                 [], {"x": [2]}, 13), "more than 2\\^31"),
    "constant of shape 2^40": (make_model([make_node("ConstantOfShape", ["s"], ["c"]),
                                           make_node("Add", ["x", "c"], ["y"])],
                                          [make_initializer("s", np.array([BIG, BIG], np.int64))], {"x": [2]}, 13),
                               "ConstantOfShape.*too large"),
    "expand 2^40": (make_model([make_node("Expand", ["one", "s"], ["c"]), make_node("Add", ["x", "c"], ["y"])],
                               [make_initializer("one", np.float32([1])),
                                make_initializer("s", np.array([BIG, 4], np.int64))], {"x": [4]}, 13),
                    "Expand.*too large"),
    "missing weight name": (make_model([make_node("Conv", ["x", ""], ["y"], name="conv")], [],
                                       {"x": ["N", 2, 6, 6]}, 13),
                            "'conv'.*input 1 is required but its name is empty"),
    "empty name in Max": (_one("Max", ["", "x"], []), "'bad' \\(Max.*input 1 is required but its name is empty"),
    "too many inputs": (_one("Relu", ["x", "x"], []), "'bad' \\(Relu.*expected 1 inputs, got 3"),
    "no output": (make_model([helper.make_node("Relu", ["x"], [], name="mute"), make_node("Relu", ["x"], ["y"])], [],
                             {"x": [2]}, 13), "'mute'.*expected 1 to 1 outputs"),
    "cycle": (make_model([make_node("Add", ["x", "c"], ["a"], name="n1"), make_node("Relu", ["a"], ["b"], name="n2"),
                          make_node("Relu", ["b"], ["c"], name="n3"), make_node("Relu", ["c"], ["y"], name="n4")], [],
                         {"x": [2]}, 13),
              "cycle .*through nodes n1, n2, n3"),
    "self loop": (make_model([make_node("Add", ["x", "y"], ["y"], name="loop")], [], {"x": [2]}, 13), "cycle"),
    "duplicate output": (make_model([make_node("Relu", ["x"], ["y"], name="r1"),
                                     make_node("Sigmoid", ["x"], ["y"], name="r2")],
                                    [], {"x": [2]}, 13), "'r2' \\(Sigmoid.*output 'y' is produced twice"),
    "output overwrites input": (make_model([make_node("Relu", ["x"], ["x"], name="r1"),
                                            make_node("Relu", ["x"], ["y"])], [],
                                           {"x": [2]}, 13), "output 'x' is produced twice"),
    "missing output producer": (make_model([make_node("Relu", ["x"], ["z"])], [], {"x": [2]}, 13),
                                "graph output 'y' is not produced by any node"),
    "initializer twice": (_one("Add", ["b"], [make_initializer("b", _f32(6)), make_initializer("b", _f32(6))]),
                          "initializer 'b' is given twice"),
    "opset 99": (_one("Relu", [], [], opset=99), "opset 99 is not supported"),
    "two value attributes": (make_model([make_node("Constant", [], ["c"], value_float=1.0, value_ints=[1]),
                                         make_node("Add", ["x", "c"], ["y"])], [], {"x": [2]}, 13),
                             "exactly one of value"),
    "reshape overflow": (_one("Reshape", ["s"],
                          [make_initializer("s", np.array([(1 << 62) + 3, 4, 1, 1], np.int64))], shape=(3, 2, 1, 2)),
                         "cannot view shape"),
    "pad 2^40": (_one("Pad", ["p"], [make_initializer("p", np.array([0, 0, 0, BIG, 0, 0, 0, 0], np.int64))]),
                 "larger than 2\\^31 elements"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_AT_LOAD))
def test_hostile_model_is_refused_quickly_with_the_reason(case):
    model, message = HOSTILE_AT_LOAD[case]
    data = model.SerializeToString()
    start = time.perf_counter()
    with pytest.raises(ValueError, match=message):
        graph = pycnn.onnx.load(data)
        graph(pycnn.tensor(_f32(*[d if isinstance(d, int) else 2 for d in _declared(model)])))
    report = pycnn.onnx.check(data)
    assert not report.ok
    assert time.perf_counter() - start < 1.0


def _declared(model):
    return [d.dim_value or d.dim_param for d in model.graph.input[0].type.tensor_type.shape.dim]


HOSTILE_AT_LOAD.update({
    "unsqueeze axis out of range": (_one("Unsqueeze", ["a"], [make_initializer("a", np.array([7], np.int64))]),
                                    "'bad' \\(Unsqueeze.*axis 7 is out of range for rank 5"),
    "squeeze of a wide axis": (_one("Squeeze", ["a"], [make_initializer("a", np.array([1], np.int64))]),
                               "'bad' \\(Squeeze.*axis 1 of shape \\(2, 2, 6, 6\\) is not 1"),
    "transpose perm": (_one("Transpose", [], [], perm=[0, 0, 1, 2]), "'bad' \\(Transpose.*not a permutation"),
    "concat axis": (_one("Concat", ["x"], [], axis=4), "'bad' \\(Concat.*axis 4 is out of range for rank 4"),
    "softmax axis": (_one("Softmax", [], [], axis=-5), "'bad' \\(Softmax.*axis -5 is out of range"),
    "flatten axis": (_one("Flatten", [], [], axis=9), "'bad' \\(Flatten.*axis 9 out of range"),
    "gather index": (make_model([make_node("Shape", ["x"], ["s"]), make_node("Gather", ["s", "i"], ["n"], name="bad"),
                                 make_node("Reshape", ["x", "n"], ["y"])],
                                [make_initializer("i", np.array([4], np.int64))], {"x": ["N", 2, 6, 6]}, 13),
                     "'bad' \\(Gather.*indices \\[4\\] out of range for size 4"),
    "kernel larger than input": (_one("MaxPool", [], [], kernel_shape=[9, 9]),
                                 "'bad' \\(MaxPool.*does not fit the input"),
    "weight channels vs input": (make_model([make_node("Conv", ["x", "w"], ["y"], name="conv")],
                                            [make_initializer("w", _f32(4, 3, 3, 3))],
                                            {"x": ["N", 2, 6, 6]}, 13), "'conv' \\(Conv.*"),
    "input shape differs from declared": (
        make_model([make_node("Relu", ["x"], ["y"])], [], {"x": ["N", 2, 6, 7]}, 13),
        "input 'x' has shape \\(2, 2, 6, 6\\), the model declares \\('N', 2, 6, 7\\)"),
})


def test_hostile_model_is_refused_quickly_with_the_reason_at_run_time():
    """(The cases added to HOSTILE_AT_LOAD above run with test_hostile_model_is_refused_quickly_with_the_reason;
    this one runs the declared-shape case with a mismatching input.)"""
    graph = pycnn.onnx.load(HOSTILE_AT_LOAD["input shape differs from declared"][0].SerializeToString())
    with pytest.raises(ValueError, match="input 'x' has shape \\(2, 2, 6, 6\\), the model declares"):
        graph(pycnn.tensor(_f32(2, 2, 6, 6)))


def test_check_does_not_allocate_an_absurd_declared_input():
    model = make_model([make_node("Relu", ["x"], ["y"])], [], {"x": [1, 3, 1 << 20, 1 << 20]}, 13)
    start = time.perf_counter()
    report = pycnn.onnx.check(model.SerializeToString())
    assert report.runs["cpu"].startswith("skipped (the declared input (1, 3, 1048576, 1048576) is larger than")
    assert time.perf_counter() - start < 1.0


@pytest.mark.parametrize("garbage", ["tensor bytes", "graph without output", "deep chain"])
def test_odd_but_parseable_files(garbage):
    if garbage == "tensor bytes":  # parses as a ModelProto with nonsense fields
        data = make_initializer("w", _f32(3, 4)).SerializeToString()
        with pytest.raises(OnnxImportError, match="not an ONNX model"):
            pycnn.onnx.load(data)
    elif garbage == "graph without output":
        model = make_model([make_node("Relu", ["x"], ["y"])], [], {"x": [2]}, 13)
        del model.graph.output[:]
        with pytest.raises(OnnxImportError, match="the graph has no output"):
            pycnn.onnx.load(model.SerializeToString())
    else:  # 20,000 nodes: sorted and run without recursion
        nodes = [make_node("Identity", ["x" if i == 0 else f"v{i - 1}"], ["y" if i == 19999 else f"v{i}"])
                 for i in range(20000)]
        model = make_model(nodes[::-1], [], {"x": [2]}, 13)
        start = time.perf_counter()
        graph = pycnn.onnx.load(model.SerializeToString())
        np.testing.assert_array_equal(graph(pycnn.tensor(np.float32([1, 2]))).numpy(), [1, 2])
        assert time.perf_counter() - start < 3.0


def test_external_data_missing_or_outside_the_folder(tmp_path):
    folder = tmp_path / "m"
    folder.mkdir()

    def external(location, length="48"):
        t = make_external_initializer("w", [3, 4], location, length)
        path = folder / "model.onnx"
        path.write_bytes(make_model([make_node("Gemm", ["x", "w"], ["y"], transB=1)], [t], {"x": ["N", 4]}, 13)
                         .SerializeToString())
        return str(path)

    with pytest.raises(OnnxImportError, match="external data file 'absent.bin' is missing"):
        pycnn.onnx.load(external("absent.bin"))
    (tmp_path / "secret.bin").write_bytes(b"\0" * 48)
    for location in ("../secret.bin", str(tmp_path / "secret.bin"), "..\\secret.bin", ""):
        with pytest.raises(OnnxImportError, match="not a relative path inside the model's folder"):
            pycnn.onnx.load(external(location))
    (folder / "w.bin").write_bytes(b"\0" * 48)
    with pytest.raises(OnnxImportError, match="external length 40 bytes does not match shape \\[3, 4\\] \\(48 "):
        pycnn.onnx.load(external("w.bin", "40"))
    with pytest.raises(OnnxImportError, match="offset/length are not integers"):
        pycnn.onnx.load(external("w.bin", "lots"))
    assert pycnn.onnx.load(external("w.bin")).w.shape == (3, 4)


MUTATE = textwrap.dedent("""
    import sys, time
    import numpy as np
    sys.path.insert(0, sys.argv[1])
    import onnx
    import pycnn, pycnn.onnx
    seed = onnx.load_from_string(open(sys.argv[2], "rb").read())
    values = [-(1 << 40), -1, 0, 1, 2, 5, (1 << 31) - 1, 1 << 40]
    clean = (ValueError, TypeError, RuntimeError)
    rng = np.random.default_rng(0)
    outcomes = {"ran": 0, "refused": 0}
    slowest = 0.0
    for trial in range(int(sys.argv[3])):
        model = onnx.ModelProto()
        model.CopyFrom(seed)
        for _ in range(int(rng.integers(1, 3))):  # one or two attributes, one value or the whole list
            attrs = [a for n in model.graph.node for a in n.attribute if a.type in (2, 7)]
            a = attrs[rng.integers(len(attrs))]
            if a.type == 2:
                a.i = int(rng.choice(values))
            elif rng.integers(2) and len(a.ints):
                a.ints[rng.integers(len(a.ints))] = int(rng.choice(values))
            else:
                del a.ints[:]
                a.ints.extend(int(rng.choice(values)) for _ in range(rng.integers(0, 7)))
        start = time.perf_counter()
        try:
            graph = pycnn.onnx.load(model.SerializeToString())
            graph(pycnn.randn(2, 3, 9, 8, seed=trial)).sum().backward()
            outcomes["ran"] += 1
        except clean as error:
            assert "node '" in str(error) or "pycnn cannot load" in str(error), repr(error)
            outcomes["refused"] += 1
        slowest = max(slowest, time.perf_counter() - start)
    print(outcomes["ran"], outcomes["refused"], slowest)
""")


def test_mutated_attributes_give_clean_errors_naming_the_node(tmp_path):
    """400 copies of a valid model with integer attributes set to hostile values (negative, zero, 2^31,
    2^40, lists of the wrong length), in a subprocess: each loads and trains, or raises a Python error
    naming the node, within a second; a crash fails the subprocess, a hang its time limit."""
    nodes = [make_node("Conv", ["x", "w", "b"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[1, 1],
                       dilations=[1, 1], group=1),
             make_node("MaxPool", ["c"], ["m"], kernel_shape=[2, 2], strides=[2, 2], pads=[0, 0, 1, 0], ceil_mode=0),
             make_node("AveragePool", ["m"], ["a"], kernel_shape=[2, 2], strides=[1, 1], pads=[0, 1, 1, 0],
                       count_include_pad=0),
             make_node("Pad", ["a", "pads"], ["p"]),
             make_node("Flatten", ["p"], ["f"], axis=1),
             make_node("Gemm", ["f", "fw"], ["g"], transB=1, transA=0),
             make_node("Softmax", ["g"], ["y"], axis=1)]
    inits = [make_initializer("w", _f32(4, 3, 3, 3)), make_initializer("b", _f32(4)),
             make_initializer("pads", np.array([0, 0, 1, 0, 0, 0, 0, 1], np.int64)),
             make_initializer("fw", _f32(5, 4 * 6 * 5))]
    model = make_model(nodes, inits, {"x": ["N", 3, 9, 8]}, 13)
    _compare(model, {"x": _f32(2, 3, 9, 8)})
    seed = tmp_path / "seed.onnx"
    seed.write_bytes(model.SerializeToString())
    script = tmp_path / "mutate.py"
    script.write_text(MUTATE)
    result = subprocess.run([sys.executable, str(script), PYCNN_PARENT, str(seed), "400"], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    ran, refused, slowest = result.stdout.split()
    print(f"\nmutations: {ran} ran, {refused} refused, slowest {float(slowest):.3f} s")
    assert int(ran) + int(refused) == 400 and int(ran) > 20 and int(refused) > 200
    assert float(slowest) < 1.0


def test_new_paths_run_and_train_on_each_device(device):
    """The host-computed and composed paths (explicit pool padding, reflect Pad, Max, per-element PRelu,
    ReduceMean over other axes, Gemm transA, MatMul of activations) on CPU and CUDA alike."""
    nodes = [make_node("Pad", ["x", "pads"], ["p"], mode="reflect"),
             make_node("Conv", ["p", "w"], ["c"], kernel_shape=[3, 3]),
             make_node("AveragePool", ["c"], ["a"], kernel_shape=[3, 3], strides=[2, 2], auto_pad="SAME_LOWER"),
             make_node("MaxPool", ["a"], ["m"], kernel_shape=[2, 2], pads=[1, 0, 0, 1], ceil_mode=1),
             make_node("PRelu", ["m", "slope"], ["pr"]),
             make_node("Max", ["pr", "row"], ["mx"]),
             make_node("ReduceMean", ["mx"], ["rm"], axes=[1], keepdims=0),
             make_node("Flatten", ["rm"], ["f"]),
             make_node("Gemm", ["f", "gw"], ["g"], transA=1),
             make_node("Transpose", ["g"], ["gt"], perm=[1, 0]),
             make_node("MatMul", ["g", "gt"], ["y"])]
    inits = [make_initializer("pads", np.array([0, 0, 1, 2, 0, 0, 2, 1], np.int64)),
             make_initializer("w", _f32(4, 2, 3, 3)), make_initializer("slope", _f32(4)),
             make_initializer("row", _f32(4)), make_initializer("gw", _f32(2, 5))]
    model = make_model(nodes, inits, {"x": [2, 2, 7, 6]}, 13)
    x = _f32(2, 2, 7, 6)
    expected = run_onnxruntime(model, {"x": x})[0]
    graph = pycnn.onnx.load(model.SerializeToString()).to(device)
    xt = pycnn.tensor(x, device=device, requires_grad=True)
    out = graph(xt)
    assert out.device == device
    assert_close_float32(out.numpy(), expected, longest_reduction(model))
    out.sum().backward()
    assert xt.grad.device == device and np.isfinite(xt.grad.numpy()).all()
    assert all(p.grad is not None for p in graph.parameters())


def test_truncated_and_random_bytes_fail_fast():
    data = _conv_model().SerializeToString()
    cases = [data[:cut] for cut in (1, 7, len(data) // 2, len(data) - 1)] + \
        [RNG.bytes(n) for n in (0, 1, 100, 100_000)] + [b"\x0a" + b"\xff" * 20]
    for blob in cases:
        start = time.perf_counter()
        with pytest.raises(OnnxImportError):
            pycnn.onnx.load(blob)
        with pytest.raises(OnnxImportError):
            pycnn.onnx.check(blob)
        assert time.perf_counter() - start < 1.0


@pytest.mark.parametrize("bound_shape", [(), (1,), (1, 1, 1, 1)])
def test_relu6_from_max_min_runs_on_the_device_with_bound_gradients(bound_shape, monkeypatch):
    """Max(x, 0) -> Min(., 6) with one-element bounds, 0-d or stored as (1,) Parameters: never a host
    round trip (training or inference), the output within an ulp of onnxruntime's, and the bounds'
    gradients the number of positions each one wins."""
    from pycnn.onnx.ops import elementwise

    inits = [numpy_helper.from_array(np.zeros(bound_shape, np.float32), "zero"),
             numpy_helper.from_array(np.full(bound_shape, 6.0, np.float32), "six")]
    model = make_model([make_node("Max", ["x", "zero"], ["a"]), make_node("Min", ["a", "six"], ["y"])], inits,
                       {"x": [2, 3, 4, 4]}, 13)
    data = (np.random.default_rng(6).standard_normal((2, 3, 4, 4)) * 5).astype(np.float32)
    expected = run_onnxruntime(model, {"x": data})[0]
    monkeypatch.setattr(elementwise, "extremum", lambda *a, **k: pytest.fail("Max/Min went to the host"))
    graph = pycnn.onnx.load(model.SerializeToString())
    x = pycnn.tensor(data, requires_grad=True)
    out = graph(x)
    out.sum().backward()
    assert np.abs(out.numpy() - expected).max() <= 1e-6 * np.abs(expected).max()
    assert np.array_equal(x.grad.numpy(), ((data > 0) & (data < 6)).astype(np.float32))
    params = dict(graph.named_parameters())
    if params:
        assert params["zero"].grad.numpy().ravel().tolist() == [float((data <= 0).sum())]
        assert params["six"].grad.numpy().ravel().tolist() == [float((data >= 6).sum())]
    with pycnn.no_grad():
        assert np.array_equal(graph(pycnn.tensor(data)).numpy(), expected)
