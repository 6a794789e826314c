"""ONNX import: the reference models of both PyTorch exporters against onnxruntime and PyTorch
(tools/export_reference.py + tools/parity.py), old-opset attributes, shape-subgraph folding, every
listed op against onnxruntime, train/eval modes."""
import os
import sys

import numpy as np
import pytest

import pycnn
import pycnn.onnx

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
from helpers.onnx_builders import make_initializer, make_model, run_onnxruntime  # noqa: E402
from onnx import helper  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))


def test_reference_models_both_exporters_match_onnxruntime_and_torch(tmp_path, capsys):
    pytest.importorskip("torch")
    pytest.importorskip("onnxscript")
    import export_reference
    import parity

    out = str(tmp_path)
    assert export_reference.main(["--out", out, "--models", "lenet5,resnet_small,alexnet_small,inception_small,"
                                  "dense_small", "--opsets", "13,21"]) == 0
    # Weights written apart from the model are named for the model itself, and the model points there.
    assert not [n for n in os.listdir(out) if "tmp" in n]
    locations = set()
    for name in (n for n in os.listdir(out) if n.endswith(".onnx")):
        proto = onnx.load(os.path.join(out, name), load_external_data=False)
        found = {e.value for t in proto.graph.initializer for e in t.external_data if e.key == "location"}
        assert found <= {name + ".data"} and all(os.path.isfile(os.path.join(out, f)) for f in found), found
        locations |= found
    assert locations  # the dynamo exporter's files do keep their weights apart
    code = parity.main([out])
    table = capsys.readouterr().out
    print(table)
    assert code == 0, table
    assert table.count("| ok") == 10 and "10/10 files" in table


def test_old_opset_attributes_from_caffe2_era_exports():
    """Opset 7-9: BatchNormalization spatial, Gemm broadcast, Dropout ratio, Reshape with a shape
    initializer, Sum of three inputs, Softmax's 2-d coercion, Add with the legacy broadcast attrs."""
    rng = np.random.default_rng(0)
    for opset in (7, 8, 9):
        nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
                 helper.make_node("BatchNormalization", ["c", "s", "bb", "m", "v"], ["bn"], spatial=1, epsilon=1e-3,
                                  momentum=0.9),
                 helper.make_node("Relu", ["bn"], ["r"]),
                 helper.make_node("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
                 helper.make_node("Dropout", ["p"], ["d"], ratio=0.3),
                 helper.make_node("Sum", ["d", "d", "p"], ["sum3"]),
                 helper.make_node("Reshape", ["sum3", "shape"], ["flat"]),
                 helper.make_node("Gemm", ["flat", "fw", "fb"], ["g"], transB=1, broadcast=1, alpha=0.5, beta=2.0),
                 helper.make_node("Softmax", ["g"], ["y"])]
        inits = [make_initializer("w", rng.standard_normal((4, 2, 3, 3)).astype(np.float32)),
                 make_initializer("b", rng.standard_normal(4).astype(np.float32)),
                 make_initializer("s", rng.random(4).astype(np.float32) + 0.5),
                 make_initializer("bb", rng.standard_normal(4).astype(np.float32)),
                 make_initializer("m", rng.standard_normal(4).astype(np.float32) * 0.1),
                 make_initializer("v", rng.random(4).astype(np.float32) + 0.5),
                 make_initializer("shape", np.array([2, 4 * 3 * 3], np.int64)),
                 make_initializer("fw", rng.standard_normal((5, 36)).astype(np.float32)),
                 make_initializer("fb", rng.standard_normal(5).astype(np.float32))]
        # At opset 7 (IR 3) the initializers are left out of the graph inputs; test_onnx_wild.py lists them.
        model = make_model(nodes, inits, {"x": [2, 2, 6, 6]}, opset, initializers_as_inputs=False)
        x = rng.standard_normal((2, 2, 6, 6)).astype(np.float32)
        graph = pycnn.onnx.load(model.SerializeToString()).eval()
        # Old tools wrote attributes that later schemas dropped (Gemm's broadcast: opset <= 6; spatial: <= 8);
        # onnxruntime validates against the declared opset, so it runs a copy without them.
        strict = onnx.ModelProto()
        strict.CopyFrom(model)
        for node in strict.graph.node:
            keep = [a for a in node.attribute if not (a.name == "broadcast" or (a.name == "spatial" and opset >= 9))]
            del node.attribute[:]
            node.attribute.extend(keep)
        np.testing.assert_allclose(graph(pycnn.tensor(x)).numpy(), run_onnxruntime(strict, x)[0], rtol=1e-5, atol=1e-6)
        assert sorted(n for n, _ in graph.named_parameters()) == ["b", "bb", "fb", "fw", "s", "w"]
        assert sorted(n for n, _ in graph.named_buffers()) == ["m", "v"]


def test_shape_subgraphs_fold_and_any_batch_size_runs():
    torch = pytest.importorskip("torch")

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(1, 3, 3)
            self.fc = torch.nn.Linear(3 * 4 * 4, 5)

        def forward(self, x):
            x = torch.relu(self.conv(x))
            return self.fc(x.view(x.size(0), -1))

    torch.manual_seed(0)
    net = Net().eval()
    import io
    buffer = io.BytesIO()
    torch.onnx.export(net, (torch.randn(2, 1, 6, 6),), buffer, dynamo=False, opset_version=13, input_names=["x"],
                      dynamic_axes={"x": {0: "N"}}, do_constant_folding=False)
    model = onnx.load_from_string(buffer.getvalue())
    assert {"Shape", "Gather", "Unsqueeze", "Concat"} <= {n.op_type for n in model.graph.node}
    graph = pycnn.onnx.load(buffer.getvalue())
    network_ops = [node.op for node, kind in graph._plan if kind == "dynamic"]
    assert network_ops == ["Conv", "Relu", "Reshape", "Gemm"]
    assert "Constant" not in [node.op for node, _ in graph._plan]
    for batch in (1, 2, 5):
        x = np.random.default_rng(batch).standard_normal((batch, 1, 6, 6)).astype(np.float32)
        np.testing.assert_allclose(graph(pycnn.tensor(x)).numpy(), run_onnxruntime(model, x)[0], rtol=1e-5, atol=1e-6)


def test_every_listed_op_against_onnxruntime():
    rng = np.random.default_rng(1)
    c = 4
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["conv"], auto_pad="SAME_UPPER", kernel_shape=[2, 2]),
        helper.make_node("PRelu", ["conv", "slope"], ["prelu"]),
        helper.make_node("LRN", ["prelu"], ["lrn"], size=3, alpha=0.01, beta=0.75, bias=1.5),
        helper.make_node("LeakyRelu", ["lrn"], ["leaky"], alpha=0.2),
        helper.make_node("Pad", ["leaky", "pads", "pad_value"], ["pad"], mode="constant"),
        helper.make_node("AveragePool", ["pad"], ["avg"], kernel_shape=[3, 3], strides=[1, 1], pads=[1, 1, 1, 1],
                         count_include_pad=1),
        helper.make_node("MaxPool", ["avg"], ["maxp"], kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1),
        helper.make_node("Sigmoid", ["maxp"], ["sig"]),
        helper.make_node("Tanh", ["maxp"], ["tanh"]),
        helper.make_node("Sub", ["sig", "tanh"], ["sub"]),
        helper.make_node("Mul", ["sub", "scale"], ["mul"]),
        helper.make_node("Div", ["mul", "two"], ["div"]),
        helper.make_node("Clip", ["div", "lo", "hi"], ["clip"]),
        helper.make_node("Identity", ["clip"], ["ident"]),
        helper.make_node("GlobalMaxPool", ["ident"], ["gmax"]),
        helper.make_node("ReduceMean", ["ident"], ["rmean"], axes=[2, 3], keepdims=1),
        helper.make_node("Concat", ["gmax", "rmean"], ["cat"], axis=1),
        helper.make_node("Squeeze", ["cat", "axes23"], ["sq"]),
        helper.make_node("Unsqueeze", ["sq", "axes1"], ["unsq"]),
        helper.make_node("Flatten", ["unsq"], ["flat"], axis=1),
        helper.make_node("Transpose", ["flat"], ["tr"], perm=[1, 0]),
        helper.make_node("Transpose", ["tr"], ["tr2"], perm=[1, 0]),
        helper.make_node("ConstantOfShape", ["bias_shape"], ["zeros"], value=helper.make_tensor("v", 1, [1], [0.25])),
        helper.make_node("MatMul", ["tr2", "mw"], ["mm"]),
        helper.make_node("Add", ["mm", "zeros"], ["add"]),
        helper.make_node("LogSoftmax", ["add"], ["y"], axis=-1),
    ]
    inits = [make_initializer("w", rng.standard_normal((c, 3, 2, 2)).astype(np.float32)),
             make_initializer("slope", rng.random((c, 1, 1)).astype(np.float32)),
             make_initializer("pads", np.array([0, 0, 1, 0, 0, 0, 0, 2], np.int64)),
             make_initializer("pad_value", np.float32(0.5)),
             make_initializer("scale", rng.standard_normal((1, c, 1, 1)).astype(np.float32)),
             make_initializer("two", np.float32(2.0)),
             make_initializer("lo", np.float32(-0.3)), make_initializer("hi", np.float32(0.4)),
             make_initializer("axes23", np.array([2, 3], np.int64)), make_initializer("axes1", np.array([2], np.int64)),
             make_initializer("bias_shape", np.array([6], np.int64)),
             make_initializer("mw", rng.standard_normal((2 * c, 6)).astype(np.float32))]
    model = make_model(nodes, inits, {"x": ["N", 3, 7, 9]}, 13)
    x = rng.standard_normal((3, 3, 7, 9)).astype(np.float32)
    graph = pycnn.onnx.load(model.SerializeToString()).eval()
    xt = pycnn.tensor(x, requires_grad=True)
    out = graph(xt)
    np.testing.assert_allclose(out.numpy(), run_onnxruntime(model, x)[0], rtol=1e-5, atol=1e-6)
    out.sum().backward()
    assert xt.grad is not None and np.isfinite(xt.grad.numpy()).all()
    assert {"w", "slope", "scale", "mw"} <= {n for n, _ in graph.named_parameters()}
    assert all(p.grad is not None for p in graph.parameters())
    report = pycnn.onnx.check(model.SerializeToString())
    assert report.ok and not report.problems
    roles = {n["name"] or n["op"]: n["role"] for n in report.nodes}
    assert "folded" in roles.values() and "network" in roles.values()


def test_train_mode_uses_batch_statistics_and_dropout():
    rng = np.random.default_rng(2)
    nodes = [helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["bn"], momentum=0.8),
             helper.make_node("Dropout", ["bn", "ratio"], ["y"])]
    inits = [make_initializer("s", np.ones(3, np.float32)), make_initializer("b", np.zeros(3, np.float32)),
             make_initializer("m", np.full(3, 5.0, np.float32)), make_initializer("v", np.full(3, 4.0, np.float32)),
             make_initializer("ratio", np.float32(0.5))]
    model = make_model(nodes, inits, {"x": ["N", 3, 4, 4]}, 13)
    graph = pycnn.onnx.load(model.SerializeToString())
    x = rng.standard_normal((4, 3, 4, 4)).astype(np.float32)
    eval_out = graph.eval()(pycnn.tensor(x)).numpy()
    np.testing.assert_allclose(eval_out, (x - 5.0) / np.sqrt(4.0 + 1e-5), rtol=1e-5)
    graph.train()
    out = graph(pycnn.tensor(x)).numpy()
    kept = out != 0
    assert 0.3 < kept.mean() < 0.7  # dropout is active
    normalized = (x - x.mean(axis=(0, 2, 3), keepdims=True)) / np.sqrt(x.var(axis=(0, 2, 3), keepdims=True) + 1e-5)
    np.testing.assert_allclose(out[kept], 2 * normalized[kept], rtol=1e-4, atol=1e-5)
    # ONNX momentum 0.8 weighs the old statistics: running = 0.8 * old + 0.2 * batch
    np.testing.assert_allclose(graph.m.numpy(), 0.8 * 5.0 + 0.2 * x.mean(axis=(0, 2, 3)), rtol=1e-5)


def test_dynamo_pytorch_export_runs_with_pycnn_tensor_call():
    """DESIGN.md: pycnn.onnx.load(...)(pycnn.tensor(x)) returns the graph output."""
    nodes = [helper.make_node("Relu", ["x"], ["y"])]
    model = make_model(nodes, [], {"x": ["N", 4]}, 13)
    x = np.array([[-1.0, 2.0, -3.0, 4.0]], np.float32)
    np.testing.assert_array_equal(pycnn.onnx.load(model.SerializeToString())(pycnn.tensor(x)).numpy(),
                                  np.maximum(x, 0))


def test_graph_runs_and_trains_on_each_device(device):
    """The same imported graph (including the host-computed Pad and Transpose) on CPU and CUDA."""
    rng = np.random.default_rng(3)
    nodes = [helper.make_node("Pad", ["x", "pads"], ["p"]),
             helper.make_node("Conv", ["p", "w", "b"], ["c"], kernel_shape=[3, 3]),
             helper.make_node("BatchNormalization", ["c", "s", "bb", "m", "v"], ["bn"]),
             helper.make_node("Relu", ["bn"], ["r"]),
             helper.make_node("GlobalAveragePool", ["r"], ["g"]),
             helper.make_node("Flatten", ["g"], ["f"]),
             helper.make_node("Transpose", ["f"], ["t"], perm=[1, 0]),
             helper.make_node("Transpose", ["t"], ["t2"], perm=[1, 0]),
             helper.make_node("Gemm", ["t2", "fw", "fb"], ["y"], transB=1)]
    inits = [make_initializer("pads", np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64)),
             make_initializer("w", rng.standard_normal((4, 2, 3, 3)).astype(np.float32)),
             make_initializer("b", rng.standard_normal(4).astype(np.float32)),
             make_initializer("s", rng.random(4).astype(np.float32) + 0.5),
             make_initializer("bb", rng.standard_normal(4).astype(np.float32)),
             make_initializer("m", rng.standard_normal(4).astype(np.float32)),
             make_initializer("v", rng.random(4).astype(np.float32) + 0.5),
             make_initializer("fw", rng.standard_normal((3, 4)).astype(np.float32)),
             make_initializer("fb", np.zeros(3, np.float32))]
    model = make_model(nodes, inits, {"x": ["N", 2, 5, 5]}, 13)
    x = rng.standard_normal((2, 2, 5, 5)).astype(np.float32)
    expected = run_onnxruntime(model, x)[0]
    graph = pycnn.onnx.load(model.SerializeToString()).eval().to(device)
    out = graph(pycnn.tensor(x, device=device))
    assert out.device == device
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-5, atol=1e-6)
    out.sum().backward()
    grads = graph.onnx_arrays(grads=True)
    assert set(grads) == {"w", "b", "s", "bb", "fw", "fb"}
    np.testing.assert_allclose(grads["fb"], np.full(3, 2.0), rtol=1e-6)
