"""conv1d, max_pool1d, avg_pool1d and nn.Conv1d/MaxPool1d/AvgPool1d against PyTorch in float64 (random
odd lengths, stride, padding, dilation, groups; every gradient; unbatched input), and their ONNX export
read by onnxruntime."""
import numpy as np
import pytest

import pycnn
from pycnn import nn
from pycnn.nn import functional as F

torch = pytest.importorskip("torch")


def _close(got, want, what, tol=2e-5):
    want = np.asarray(want, np.float64)
    err = np.abs(np.asarray(got, np.float64) - want).max() / max(np.abs(want).max(), 1e-6)
    assert err < tol, f"{what}: relative error {err:.3g}"


@pytest.mark.parametrize("seed", range(6))
def test_conv1d_random_configurations_match_torch(seed, device):
    rng = np.random.default_rng(seed)
    groups = int(rng.choice([1, 2, 3]))
    cin, cout, k = groups * int(rng.integers(1, 4)), groups * int(rng.integers(1, 4)), int(rng.integers(1, 6))
    stride, dilation = int(rng.integers(1, 4)), int(rng.integers(1, 3))
    padding = int(rng.integers(0, k))
    length = (k - 1) * dilation + 1 + int(rng.integers(0, 9))
    x = rng.standard_normal((2, cin, length)).astype(np.float32)
    w = rng.standard_normal((cout, cin // groups, k)).astype(np.float32)
    b = rng.standard_normal(cout).astype(np.float32)
    xp, wp, bp = (pycnn.tensor(a, device=device, requires_grad=True) for a in (x, w, b))
    y = F.conv1d(xp, wp, bp, stride, padding, dilation, groups)
    g = rng.standard_normal(tuple(y.shape)).astype(np.float32)
    y.backward(pycnn.tensor(g, device=device))
    xt, wt, bt = (torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in (x, w, b))
    yt = torch.nn.functional.conv1d(xt, wt, bt, stride, padding, dilation, groups)
    yt.backward(torch.tensor(g, dtype=torch.float64))
    _close(y.to("cpu").numpy(), yt.detach().numpy(), "forward")
    for ours, theirs, name in ((xp, xt, "input"), (wp, wt, "weight"), (bp, bt, "bias")):
        _close(ours.grad.to("cpu").numpy(), theirs.grad.numpy(), f"{name} gradient")


@pytest.mark.parametrize("ceil", [False, True])
def test_pools_1d_match_torch(ceil):
    x = np.random.default_rng(1).standard_normal((3, 4, 17)).astype(np.float32)
    for ours, theirs in ((nn.MaxPool1d(3, 2, 1, dilation=2, ceil_mode=ceil), torch.nn.MaxPool1d(3, 2, 1, 2,
                                                                                                  ceil_mode=ceil)),
                         (nn.AvgPool1d(4, 3, 2, ceil, False), torch.nn.AvgPool1d(4, 3, 2, ceil, False))):
        xp, xt = pycnn.tensor(x, requires_grad=True), torch.tensor(x, dtype=torch.float64, requires_grad=True)
        y, yt = ours(xp), theirs(xt)
        g = np.random.default_rng(2).standard_normal(tuple(y.shape)).astype(np.float32)
        y.backward(pycnn.tensor(g))
        yt.backward(torch.tensor(g, dtype=torch.float64))
        _close(y.numpy(), yt.detach().numpy(), f"{ours} forward")
        _close(xp.grad.numpy(), xt.grad.numpy(), f"{ours} gradient")


def test_unbatched_and_module_shapes():
    m = nn.Conv1d(4, 6, 3, padding=1, groups=2)
    assert tuple(m.weight.shape) == (6, 2, 3)
    assert tuple(m(pycnn.tensor(np.ones((4, 9), np.float32))).shape) == (6, 9)
    with pytest.raises(ValueError, match=r"expected input \(N, C, L\)"):
        F.max_pool1d(pycnn.tensor(np.ones((1, 2, 3, 4), np.float32)), 2)


def test_export_runs_in_onnxruntime(tmp_path):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from helpers.onnx_torch import check_export

    model = nn.Sequential(nn.Conv1d(3, 8, 5, stride=2, padding=2), nn.MaxPool1d(2), nn.Conv1d(8, 4, 3, dilation=2),
                          nn.AvgPool1d(3, 1, 1))
    x = np.random.default_rng(3).standard_normal((2, 3, 40)).astype(np.float32)
    check_export(model, tmp_path / "audio.onnx", x)
