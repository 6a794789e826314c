"""Issue 12's normalisations: F.layer_norm/group_norm/instance_norm and nn.LayerNorm/GroupNorm/
InstanceNorm1d/2d against PyTorch in float64 (forward and every gradient, odd shapes), ONNX
LayerNormalization/GroupNormalization/InstanceNormalization imported from PyTorch's exporter against
onnxruntime, and pycnn's exports read back by onnxruntime."""
import io

import numpy as np
import pytest

import pycnn
import pycnn.onnx
from pycnn import nn

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
torch = pytest.importorskip("torch")
from helpers.onnx_builders import make_initializer, make_model, make_node, run_onnxruntime  # noqa: E402
from helpers.onnx_torch import check_export, close  # noqa: E402


def _copy_parameters(ours, theirs):
    with pycnn.no_grad():
        for name, p in theirs.named_parameters():
            getattr(ours, name).copy_(p.detach().numpy().astype(np.float32))


MODULES = [
    (lambda: nn.LayerNorm(7), lambda: torch.nn.LayerNorm(7), (3, 5, 7)),
    (lambda: nn.LayerNorm((5, 7), eps=1e-3), lambda: torch.nn.LayerNorm((5, 7), eps=1e-3), (2, 3, 5, 7)),
    (lambda: nn.GroupNorm(3, 9), lambda: torch.nn.GroupNorm(3, 9), (2, 9, 5, 3)),
    (lambda: nn.GroupNorm(1, 4, affine=False), lambda: torch.nn.GroupNorm(1, 4, affine=False), (3, 4, 7)),
    (lambda: nn.InstanceNorm2d(5, affine=True), lambda: torch.nn.InstanceNorm2d(5, affine=True), (2, 5, 7, 3)),
    (lambda: nn.InstanceNorm1d(4), lambda: torch.nn.InstanceNorm1d(4), (3, 4, 11)),
    # rows of one element: x - mean is 0, the output the bias, every input gradient 0
    (lambda: nn.LayerNorm(1), lambda: torch.nn.LayerNorm(1), (3, 5, 1)),
    (lambda: nn.GroupNorm(4, 4), lambda: torch.nn.GroupNorm(4, 4), (2, 4)),
]


@pytest.mark.parametrize("index", range(len(MODULES)))
def test_modules_match_torch_forward_and_backward(index):
    make_ours, make_theirs, shape = MODULES[index]
    ours, theirs = make_ours(), make_theirs().double()
    rng = np.random.default_rng(index)
    with torch.no_grad():
        for p in theirs.parameters():
            p.copy_(torch.tensor(rng.standard_normal(tuple(p.shape))))
    _copy_parameters(ours, theirs)
    x = (rng.standard_normal(shape) * 3 + 1).astype(np.float32)
    xp = pycnn.tensor(x, requires_grad=True)
    y = ours(xp)
    w = rng.standard_normal(tuple(y.shape)).astype(np.float32)
    y.backward(pycnn.tensor(w))
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    yt = theirs(xt)
    yt.backward(torch.tensor(w, dtype=torch.float64))
    close(y.numpy(), yt.detach().numpy(), "forward")
    close(xp.grad.numpy(), xt.grad.numpy(), "input gradient")
    for name, p in theirs.named_parameters():
        close(getattr(ours, name).grad.numpy(), p.grad.numpy(), f"{name} gradient")


def test_bad_arguments_name_what_was_expected():
    with pytest.raises(ValueError, match="divisible by num_groups"):
        nn.GroupNorm(4, 6)
    with pytest.raises(ValueError, match="trailing dimensions"):
        nn.LayerNorm(5)(pycnn.tensor(np.ones((2, 4), np.float32)))
    with pytest.raises(ValueError, match="expected 4D input"):
        nn.InstanceNorm2d(3)(pycnn.tensor(np.ones((2, 3, 4), np.float32)))


@pytest.mark.parametrize("opset", [13, 17, 18, 21])
def test_torch_exported_norms_import_and_match_onnxruntime(opset):
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.GroupNorm(4, 8),
                              torch.nn.InstanceNorm2d(8, affine=True), torch.nn.Flatten(2),
                              torch.nn.LayerNorm(36)).eval()
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.3)
    x = np.random.default_rng(0).standard_normal((2, 3, 8, 8)).astype(np.float32)
    buffer = io.BytesIO()
    torch.onnx.export(net, (torch.tensor(x),), buffer, dynamo=False, opset_version=opset)
    data = buffer.getvalue()
    graph = pycnn.onnx.load(data)
    xp = pycnn.tensor(x, requires_grad=True)
    y = graph(xp)
    close(y.numpy(), run_onnxruntime(data, x)[0], "torch export vs onnxruntime", tol=1e-4)
    y.sum().backward()
    xt = torch.tensor(x, requires_grad=True)
    net(xt).sum().backward()
    close(xp.grad.numpy(), xt.grad.numpy(), "input gradient vs torch", tol=1e-3)


def test_onnx_norm_ops_with_their_opset_rules():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 6, 5)).astype(np.float32)
    scale, bias = rng.standard_normal(3).astype(np.float32), rng.standard_normal(3).astype(np.float32)
    node = make_node("GroupNormalization", ["x", "s", "b"], ["y"], num_groups=3, epsilon=1e-4)
    for opset in (18, 21):
        s, b = (scale, bias) if opset == 18 else (np.repeat(scale, 2), np.repeat(bias, 2))
        model = make_model([node], [make_initializer("s", s), make_initializer("b", b)], {"x": [2, 6, 5]}, opset)
        s64, b64 = (torch.tensor(np.repeat(v, 2), dtype=torch.float64) for v in (scale, bias))
        ref = torch.nn.functional.group_norm(torch.tensor(x, dtype=torch.float64), 3, s64, b64, 1e-4)
        close(pycnn.onnx.load(model.SerializeToString())(pycnn.tensor(x)).numpy(), ref.numpy(), f"opset {opset}")
    model = make_model([make_node("LayerNormalization", ["x", "s"], ["y", "m", "r"], axis=1)],
                       [make_initializer("s", np.ones((6, 5), np.float32))], {"x": [2, 6, 5]}, 17,
                       outputs=("y", "m", "r"))
    y, mean, inv = pycnn.onnx.load(model.SerializeToString())(pycnn.tensor(x))
    close(mean.numpy(), x.astype(np.float64).mean(axis=(1, 2), keepdims=True), "LayerNormalization Mean")
    close(inv.numpy(), 1 / np.sqrt(x.astype(np.float64).var(axis=(1, 2), keepdims=True) + 1e-5), "InvStdDev")


def test_exported_norms_run_in_onnxruntime_and_come_back(tmp_path):
    model = nn.Sequential(nn.Conv2d(3, 6, 3), nn.GroupNorm(3, 6), nn.InstanceNorm2d(6, affine=True),
                          nn.LayerNorm(6))
    x = np.random.default_rng(2).standard_normal((2, 3, 8, 8)).astype(np.float32)
    check_export(model, tmp_path / "norms.onnx", x)


def test_batch_norm_training_mode_in_the_file_uses_the_batch_and_outputs_the_updated_statistics():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 3, 5, 2)).astype(np.float32) * 2 + 1
    stats = [rng.standard_normal(3).astype(np.float32) for _ in range(3)] + [rng.random(3).astype(np.float32) + 0.5]
    node = make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y", "rm", "rv"], training_mode=1,
                     momentum=0.8, epsilon=1e-3)
    model = make_model([node], [make_initializer(n, v) for n, v in zip("sbmv", stats)], {"x": [4, 3, 5, 2]}, 15,
                       outputs=("y", "rm", "rv"))
    graph = pycnn.onnx.load(model.SerializeToString()).eval()  # the file's mode wins over eval()
    xp = pycnn.tensor(x, requires_grad=True)
    y, rm, rv = graph(xp)
    w = rng.standard_normal(x.shape).astype(np.float32)
    y.backward(pycnn.tensor(w))
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    s, b = (torch.tensor(v, dtype=torch.float64) for v in stats[:2])
    yt = torch.nn.functional.batch_norm(xt, None, None, s, b, True, 0.0, 1e-3)
    yt.backward(torch.tensor(w, dtype=torch.float64))
    close(y.numpy(), yt.detach().numpy(), "training-mode output")
    close(xp.grad.numpy(), xt.grad.numpy(), "its input gradient", 1e-4)
    x64 = x.astype(np.float64)
    close(rm.numpy(), 0.8 * stats[2] + 0.2 * x64.mean(axis=(0, 2, 3)), "running mean")
    close(rv.numpy(), 0.8 * stats[3] + 0.2 * x64.var(axis=(0, 2, 3)), "running var")
