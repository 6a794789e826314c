"""pycnn.onnx.InferenceSession against onnxruntime on the same files: pycnn's exported zoo, PyTorch's
exports of the reference models and torchvision architectures (random weights), dynamic batch, and
feeds with the wrong name, shape or dtype."""
import io
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
torch = pytest.importorskip("torch")

import pycnn  # noqa: E402
import pycnn.models as zoo  # noqa: E402
from pycnn.onnx import InferenceSession  # noqa: E402
from helpers.torchvision_import import import_torchvision  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import reference_models  # noqa: E402

RNG = np.random.default_rng(0)


def onnxruntime_run(data, feeds):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"]).run(None, feeds)


def assert_close(actual, expected, rtol=1e-4):
    """Relative to the output's scale (the acceptance: 1e-4 relative)."""
    np.testing.assert_allclose(actual, expected, rtol=0, atol=rtol * max(float(np.abs(expected).max()), 1e-6))


def torch_export(model, shape, opset=17):
    model.eval()
    buffer = io.BytesIO()
    torch.onnx.export(model, (torch.randn(*shape),), buffer, dynamo=False, opset_version=opset,
                      input_names=["input"], output_names=["logits"], do_constant_folding=False,
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    return buffer.getvalue()


def randomize_torch_batch_norm(model, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
    return model


def check_against_onnxruntime(data, shape, batches=(None,)):
    session = InferenceSession(data)
    name = session.get_inputs()[0].name
    for batch in batches:
        x = RNG.standard_normal(shape if batch is None else (batch,) + shape[1:]).astype(np.float32)
        ours = session.run(None, {name: x})
        theirs = onnxruntime_run(data, {name: x})
        assert len(ours) == len(theirs)
        for a, b in zip(ours, theirs):
            assert a.shape == b.shape and a.dtype == np.float32
            assert_close(a, b)
    return session


REFERENCE = [("lenet5", (2, 1, 28, 28), {}), ("resnet20", (2, 3, 32, 32), {}),
             ("alexnet", (1, 3, 224, 224), {"num_classes": 10}), ("resnet18", (1, 3, 64, 64), {"num_classes": 10}),
             ("googlenet", (1, 3, 96, 96), {"num_classes": 10, "torchvision": True})]


@pytest.mark.parametrize("name, shape, kwargs", REFERENCE, ids=[r[0] for r in REFERENCE])
def test_session_matches_onnxruntime_on_torch_exports(name, shape, kwargs):
    torch.manual_seed(0)
    model = randomize_torch_batch_norm(reference_models.MODELS[name](**kwargs), 1)
    data = torch_export(model, shape)
    check_against_onnxruntime(data, shape, batches=(None, 3) if shape[-1] <= 64 else (None,))


def test_session_matches_onnxruntime_on_pycnn_exports_and_names_its_inputs(tmp_path):
    model = zoo.resnet20(num_classes=10)
    path = str(tmp_path / "resnet20.onnx")
    pycnn.onnx.export(model, path, (2, 3, 32, 32))
    session = check_against_onnxruntime(Path(path).read_bytes(), (2, 3, 32, 32))
    (arg,) = session.get_inputs()
    assert (arg.name, arg.shape, arg.type) == ("input", ["N", 3, 32, 32], "tensor(float)")
    assert [o.name for o in session.get_outputs()] == ["output"]
    assert session.get_providers() == ["CPUExecutionProvider"]
    # From a path. (The same batch: pycnn's resnet20 pads its shortcut with zeros made for the batch it
    # was exported at, a constant in the file.)
    x = RNG.standard_normal((2, 3, 32, 32)).astype(np.float32)
    assert_close(InferenceSession(path).run(["output"], {"input": x})[0], onnxruntime_run(path, {"input": x})[0])


@pytest.mark.parametrize("arch", ["mobilenet_v2", "efficientnet_b0", "densenet121", "resnet50", "mnasnet0_5"])
def test_session_matches_onnxruntime_on_torchvision_architectures(arch):
    models = import_torchvision().models
    torch.manual_seed(0)
    model = randomize_torch_batch_norm(getattr(models, arch)(weights=None, num_classes=10), 2)
    check_against_onnxruntime(torch_export(model, (1, 3, 64, 64)), (1, 3, 64, 64))


def test_session_refuses_bad_feeds_naming_the_input():
    session = InferenceSession(torch_export(reference_models.MODELS["lenet5"](), (1, 1, 28, 28)))
    good = RNG.standard_normal((2, 1, 28, 28)).astype(np.float32)
    with pytest.raises(ValueError, match=r"unknown \['x'\].*missing \['input'\]"):
        session.run(None, {"x": good})
    with pytest.raises(TypeError, match=r"'input' has type tensor\(double\), expected tensor\(float\)"):
        session.run(None, {"input": good.astype(np.float64)})
    with pytest.raises(ValueError, match=r"'input' has shape \(2, 3, 28, 28\).*\('batch', 1, 28, 28\)"):
        session.run(None, {"input": np.zeros((2, 3, 28, 28), np.float32)})
    with pytest.raises(ValueError, match=r"'input' has shape \(2, 28, 28\)"):
        session.run(None, {"input": np.zeros((2, 28, 28), np.float32)})
    with pytest.raises(TypeError, match="numpy array"):
        session.run(None, {"input": good.tolist()})
    with pytest.raises(ValueError, match="unknown output names"):
        session.run(["nope"], {"input": good})
    with pytest.raises(TypeError, match="dict"):
        session.run(None, [good])
    assert session.run(None, {"input": good})[0].shape == (2, 10)


def test_session_reports_unsupported_and_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError):
        InferenceSession(str(tmp_path / "missing.onnx"))
    with pytest.raises(pycnn.onnx.OnnxImportError):
        InferenceSession(b"not an onnx file")
    with pytest.warns(RuntimeWarning, match="CUDAExecutionProvider"):
        InferenceSession(torch_export(reference_models.MODELS["lenet5"](), (1, 1, 28, 28)),
                         providers=["CUDAExecutionProvider", "CPUExecutionProvider"])


def test_session_runs_activations_in_cpp_and_matches_onnxruntime():
    """HardSigmoid with its own alpha and beta, HardSwish, Gelu (both forms, opset 20), Softplus: plan steps,
    not Python, and onnxruntime's values (NaN kept)."""
    from onnx import TensorProto, helper

    nodes = [helper.make_node("HardSigmoid", ["input"], ["a"], alpha=0.3, beta=0.4),
             helper.make_node("HardSwish", ["input"], ["b"]),
             helper.make_node("Gelu", ["input"], ["c"]),
             helper.make_node("Gelu", ["input"], ["d"], approximate="tanh"),
             helper.make_node("Softplus", ["input"], ["e"])]
    value = lambda name: helper.make_tensor_value_info(name, TensorProto.FLOAT, ["batch", 7, 9])  # noqa: E731
    graph = helper.make_graph(nodes, "acts", [value("input")], [value(n) for n in "abcde"])
    data = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)]).SerializeToString()
    x = (RNG.standard_normal((2, 7, 9)) * 5).astype(np.float32)
    x[0, 0, :4] = [np.nan, 3.0, -3.0, -2.5]
    session = InferenceSession(data)
    assert session._plan.python_nodes(x.shape) == []
    for ours, theirs in zip(session.run(None, {"input": x}), onnxruntime_run(data, {"input": x})):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=2e-6, equal_nan=True)
