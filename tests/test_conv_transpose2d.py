"""conv_transpose2d / nn.ConvTranspose2d (on conv2d's kernels) against PyTorch in float64: random odd
shapes, stride, padding, output_padding, dilation, groups, every gradient; ONNX ConvTranspose (2-d and
1-d, pads, output_shape, auto_pad) from PyTorch's exporter against onnxruntime; pycnn's export read back
by onnxruntime."""
import numpy as np
import pytest

import pycnn
import pycnn.onnx
from pycnn import nn
from pycnn.nn import functional as F

torch = pytest.importorskip("torch")


def _close(got, want, what, tol=2e-5):
    want = np.asarray(want, dtype=np.float64)
    err = np.abs(np.asarray(got, np.float64) - want).max() / max(np.abs(want).max(), 1e-6)
    assert err < tol, f"{what}: relative error {err:.3g}"


@pytest.mark.parametrize("seed", range(8))
def test_random_configurations_match_torch(seed, device):
    rng = np.random.default_rng(seed)
    groups = int(rng.choice([1, 1, 2, 3]))
    cin, cout = groups * int(rng.integers(1, 4)), groups * int(rng.integers(1, 4))
    k = tuple(int(v) for v in rng.integers(1, 5, 2))
    stride, dilation = tuple(int(v) for v in rng.integers(1, 4, 2)), tuple(int(v) for v in rng.integers(1, 3, 2))
    padding = tuple(int(rng.integers(0, (kk - 1) * d + 1)) for kk, d in zip(k, dilation))
    output_padding = tuple(int(rng.integers(0, max(s, d))) for s, d in zip(stride, dilation))
    x = rng.standard_normal((2, cin, int(rng.integers(1, 8)), int(rng.integers(1, 8)))).astype(np.float32)
    w = rng.standard_normal((cin, cout // groups, *k)).astype(np.float32)
    b = rng.standard_normal(cout).astype(np.float32)
    args = (stride, padding, output_padding, groups, dilation)
    xp, wp, bp = (pycnn.tensor(a, device=device, requires_grad=True) for a in (x, w, b))
    y = F.conv_transpose2d(xp, wp, bp, *args)
    g = rng.standard_normal(tuple(y.shape)).astype(np.float32)
    y.backward(pycnn.tensor(g, device=device))
    xt, wt, bt = (torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in (x, w, b))
    yt = torch.nn.functional.conv_transpose2d(xt, wt, bt, *args)
    yt.backward(torch.tensor(g, dtype=torch.float64))
    _close(y.to("cpu").numpy(), yt.detach().numpy(), f"forward {args}")
    for ours, theirs, name in ((xp, xt, "input"), (wp, wt, "weight"), (bp, bt, "bias")):
        _close(ours.grad.to("cpu").numpy(), theirs.grad.numpy(), f"{name} gradient {args}")


def test_module_has_torchs_shapes_defaults_and_checks():
    m = nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2)
    assert tuple(m.weight.shape) == (4, 3, 3, 3) and tuple(m.bias.shape) == (6,)
    assert tuple(m(pycnn.tensor(np.ones((1, 4, 5, 5), np.float32))).shape) == (1, 6, 10, 10)
    assert "output_padding=(1, 1)" in repr(m)
    with pytest.raises(ValueError, match="output_padding"):
        nn.ConvTranspose2d(2, 2, 3, stride=1, output_padding=1)
    with pytest.raises(ValueError, match="divisible by groups"):
        nn.ConvTranspose2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="weight"):
        F.conv_transpose2d(pycnn.tensor(np.ones((1, 3, 4, 4), np.float32)), pycnn.tensor(np.ones((2, 2, 3, 3),
                                                                                               np.float32)))


@pytest.mark.parametrize("opset", [9, 13, 17])
def test_torch_exported_decoder_imports_and_matches_onnxruntime_and_torch_gradients(opset):
    pytest.importorskip("onnxruntime")
    from helpers.onnx_torch import check_torch_export

    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, stride=2, padding=1), torch.nn.ReLU(),
                              torch.nn.ConvTranspose2d(8, 4, 3, stride=2, padding=1, output_padding=1),
                              torch.nn.ConvTranspose2d(4, 2, (2, 3), stride=(1, 2), dilation=2, groups=2)).eval()
    check_torch_export(net, np.random.default_rng(opset).standard_normal((2, 3, 9, 10)).astype(np.float32), opset)


def test_exported_conv_transpose_runs_in_onnxruntime(tmp_path):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from helpers.onnx_torch import check_export

    model = nn.Sequential(nn.ConvTranspose2d(3, 4, 3, stride=2, padding=1, output_padding=1),
                          nn.ConvTranspose2d(4, 2, 4, stride=3, padding=2, dilation=2, groups=2))
    check_export(model, tmp_path / "up.onnx", np.random.default_rng(3).standard_normal((2, 3, 5, 6)).astype(np.float32))
