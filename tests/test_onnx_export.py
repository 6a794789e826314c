"""ONNX export: pycnn models written by tracing pass onnx.checker's full check and give the same
outputs in onnxruntime, for any batch size; imported graphs round-trip; what cannot be written is
refused without leaving a file."""
import numpy as np
import pytest

import pycnn
import pycnn.onnx
from pycnn import nn
from pycnn.nn import functional as F

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
from helpers.onnx_builders import run_onnxruntime  # noqa: E402


def _randomize_bn(model, seed):
    rng = np.random.default_rng(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(rng.standard_normal(m.num_features).astype(np.float32) * 0.1)
            m.running_var.copy_(rng.random(m.num_features).astype(np.float32) + 0.5)
            with pycnn.no_grad():  # a parameter is written in place only outside the tape, as in torch
                m.weight.copy_(rng.random(m.num_features).astype(np.float32) + 0.5)


class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(6, 6, 3, padding=1)
        self.b = nn.Conv2d(6, 2, 1)
        self.prelu_weight = nn.Parameter(np.full(8, 0.1, np.float32))

    def forward(self, x):
        y = F.relu(self.a(x)) + x
        y = pycnn.cat([y, self.b(x)], 1)
        return F.prelu(y * 0.5 - 0.1, self.prelu_weight)


def _zoo_like():
    return nn.Sequential(
        nn.Conv2d(3, 6, 5, stride=2, padding=2), nn.BatchNorm2d(6), nn.ReLU(),
        nn.LocalResponseNorm(3, alpha=1e-3, beta=0.75, k=2.0),
        nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True),
        Residual(),
        nn.Conv2d(8, 8, 3, padding=1, groups=2), nn.LeakyReLU(0.1), nn.Tanh(),
        nn.AvgPool2d(3, stride=2, ceil_mode=True),
        nn.Sigmoid(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.5),
        nn.Linear(8, 5), nn.Softmax(dim=1))


def test_hand_built_model_matches_onnxruntime_at_any_batch(tmp_path):
    pycnn.manual_seed(0)
    model = _zoo_like()
    _randomize_bn(model, 0)
    model.train()
    path = tmp_path / "model.onnx"
    assert pycnn.onnx.export(model, str(path), (1, 3, 19, 17)) == str(path)
    assert model.training  # modes restored after tracing in eval mode
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    ops = {n.op_type for n in proto.graph.node}
    assert {"Conv", "BatchNormalization", "LRN", "MaxPool", "Concat", "PRelu", "AveragePool", "GlobalAveragePool",
            "Gemm", "Softmax", "Tanh", "Sigmoid", "LeakyRelu", "Add", "Mul", "Sub", "Reshape"} <= ops
    assert "ceil_mode" not in str(proto.graph)  # ceil_mode is written as explicit end padding
    model.eval()
    for batch in (1, 4):
        x = np.random.default_rng(batch).standard_normal((batch, 3, 19, 17)).astype(np.float32)
        with pycnn.no_grad():
            ours = model(pycnn.tensor(x)).numpy()
        np.testing.assert_allclose(run_onnxruntime(path, {"input": x})[0], ours, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("pool", [nn.MaxPool2d(2, 2, padding=1, ceil_mode=True), nn.AvgPool2d(3, 2, ceil_mode=True),
                                  nn.AvgPool2d(3, 2, padding=1, ceil_mode=True, count_include_pad=False)])
def test_ceil_mode_pooling_agrees_with_onnxruntime(tmp_path, pool):
    """PyTorch drops a ceil_mode window that starts in the padding; the exported file reproduces
    pycnn's (= PyTorch's) output size and divisors in onnxruntime."""
    model = nn.Sequential(pool)
    path = tmp_path / "pool.onnx"
    for size in (5, 6, 7):
        x = np.random.default_rng(size).standard_normal((2, 3, size, size)).astype(np.float32)
        pycnn.onnx.export(model, str(path), (2, 3, size, size))
        np.testing.assert_allclose(run_onnxruntime(path, {"input": x})[0], model(pycnn.tensor(x)).numpy(),
                                   rtol=1e-6, atol=1e-6)


def test_imported_graph_round_trips(tmp_path):
    pycnn.manual_seed(1)
    model = _zoo_like()
    _randomize_bn(model, 1)
    first, second = tmp_path / "a.onnx", tmp_path / "b.onnx"
    pycnn.onnx.export(model, str(first), (2, 3, 19, 17), opset=13)
    graph = pycnn.onnx.load(str(first))
    pycnn.onnx.export(graph, str(second), (2, 3, 19, 17), opset=21)
    assert onnx.load(str(second)).opset_import[0].version == 21
    x = np.random.default_rng(3).standard_normal((3, 3, 19, 17)).astype(np.float32)
    expected = run_onnxruntime(first, {"input": x})[0]
    np.testing.assert_allclose(run_onnxruntime(second, {"input": x})[0], expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(graph.eval()(pycnn.tensor(x)).numpy(), expected, rtol=1e-5, atol=1e-6)


def test_what_cannot_be_exported_is_refused_without_a_file(tmp_path):
    path = tmp_path / "x.onnx"
    with pytest.raises(ValueError, match="LocalResponseNorm|local_response_norm.*window"):
        pycnn.onnx.export(nn.Sequential(nn.LocalResponseNorm(4)), str(path), (1, 6, 4, 4))
    with pytest.raises(ValueError, match="divisor_override"):
        pycnn.onnx.export(nn.Sequential(nn.AvgPool2d(2, divisor_override=3)), str(path), (1, 1, 4, 4))
    with pytest.raises(ValueError, match="opset"):
        pycnn.onnx.export(nn.Sequential(nn.ReLU()), str(path), (1, 4), opset=12)
    with pytest.raises(ValueError, match="input_shape"):
        pycnn.onnx.export(nn.Sequential(nn.ReLU()), str(path), (1, 0))
    assert not path.exists()
    assert list(tmp_path.iterdir()) == []  # no temporary file left behind either


class ChannelsLastLinear(nn.Module):
    """A 1x1 convolution written as x.permute to NHWC, a Linear over the channels, and back."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.mix = nn.Linear(4, 5)

    def forward(self, x):
        y = self.mix(F.relu(self.conv(x)).permute(0, 2, 3, 1))
        return y.permute(0, 3, 1, 2)


def test_permute_exports_as_transpose_and_matches_onnxruntime(tmp_path):
    pycnn.manual_seed(2)
    model = ChannelsLastLinear()
    path = tmp_path / "permute.onnx"
    pycnn.onnx.export(model, str(path), (2, 3, 5, 7))
    transposes = [n for n in onnx.load(str(path)).graph.node if n.op_type == "Transpose"]
    assert [list(n.attribute[0].ints) for n in transposes if len(n.input) == 1 and n.input[0] != "mix.weight"] == \
        [[0, 2, 3, 1], [0, 3, 1, 2]]
    for batch in (1, 3):
        x = np.random.default_rng(batch).standard_normal((batch, 3, 5, 7)).astype(np.float32)
        with pycnn.no_grad():
            ours = model(pycnn.tensor(x)).numpy()
        assert ours.shape == (batch, 5, 5, 7)
        np.testing.assert_allclose(run_onnxruntime(path, {"input": x})[0], ours, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(pycnn.onnx.load(str(path))(pycnn.tensor(x)).numpy(), ours, rtol=1e-5, atol=1e-6)


class Reductions(nn.Module):
    """Tensor.sum/mean over dims (SumToFunction): a pooled head, a channel sum kept as 1 and a sum
    over two dims named from both ends."""
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x):
        y = self.conv(x)
        return y.mean((2, 3)) + y.sum(1, keepdim=True).mean((2, 3)) * 0.5 + y.sum(dim=(-1, 2)) * 0.01


@pytest.mark.parametrize("opset", [13, 17, 21])
def test_sum_and_mean_over_dims_export_as_reduce_sum(tmp_path, opset):
    pycnn.manual_seed(3)
    model = Reductions().eval()
    path = tmp_path / "reductions.onnx"
    pycnn.onnx.export(model, str(path), (2, 3, 8, 8), opset=opset)
    assert sum(n.op_type == "ReduceSum" for n in onnx.load(str(path)).graph.node) == 4
    x = np.random.default_rng(opset).standard_normal((3, 3, 8, 8)).astype(np.float32)
    with pycnn.no_grad():
        ours = model(pycnn.tensor(x)).numpy()
    assert ours.shape == (3, 4)
    np.testing.assert_allclose(run_onnxruntime(path, {"input": x})[0], ours, rtol=1e-5, atol=1e-6)


class ChannelMix(nn.Module):
    """Tensor.matmul of stacks: a Gram matrix per image (batched, both operands computed), a stack
    times a parameter matrix (one 2-d gemm), and the two stacks multiplied."""
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.mix = nn.Linear(6, 5)

    def forward(self, x):
        y = self.conv(x).reshape(x.shape[0], 4, 36)
        gram = y @ y.transpose(1, 2)  # (N, 4, 4)
        head = self.conv(x).mean(2) @ self.mix.weight.t()  # (N, 4, 6) @ (6, 5): one 2-d gemm
        return gram @ head  # (N, 4, 5)


def test_batched_matmul_exports_as_matmul(tmp_path):
    from helpers.onnx_torch import check_export

    pycnn.manual_seed(4)
    x = np.random.default_rng(3).standard_normal((3, 3, 8, 8)).astype(np.float32)
    check_export(ChannelMix().eval(), str(tmp_path / "mix.onnx"), x)  # exported at batch 1, run at 3
