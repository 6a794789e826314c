"""adaptive_max_pool2d / AdaptiveMaxPool2d (pycnn/nn/functional/pooling.py, on the host) against torch
float64: values, indices, gradients (overlapping windows add up), ties and NaN, export to ONNX."""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import pycnn
import pycnn.nn.functional as F
from helpers.op_check import check_op, random_configs
from pycnn import nn


def _case(rng):
    shape = (int(rng.integers(1, 3)), int(rng.integers(1, 4)), int(rng.integers(1, 12)), int(rng.integers(1, 12)))
    out = (int(rng.integers(1, 8)), int(rng.integers(1, 8)))
    if rng.random() < 0.2:
        out = (None, out[1])
    return shape, out, int(rng.integers(1 << 30))


@pytest.mark.parametrize("case", random_configs(30, 71, _case), ids=lambda c: f"{c[0]}-{c[1]}")
def test_adaptive_max_pool2d_matches_torch(case, device):
    shape, out, seed = case
    data = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    data = np.round(data, 1)  # ties: the first maximum takes the gradient, as torch's scan
    check_op(lambda x: F.adaptive_max_pool2d(x, out), lambda x: TF.adaptive_max_pool2d(x, out), [data], device=device)
    ours = F.adaptive_max_pool2d(pycnn.tensor(data, device=device), out, return_indices=True)[1]
    theirs = TF.adaptive_max_pool2d(torch.tensor(data), out, return_indices=True)[1]
    assert ours.dtype == "int64"
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


def test_adaptive_max_pool2d_layer_unbatched_nan_and_errors():
    x = np.arange(2 * 5 * 6, dtype=np.float32).reshape(2, 5, 6)
    x[0, 0, 0] = np.nan
    ours = nn.AdaptiveMaxPool2d((2, 3))(pycnn.tensor(x)).numpy()  # (C, H, W) unbatched; NaN wins its window
    np.testing.assert_array_equal(ours, torch.nn.AdaptiveMaxPool2d((2, 3))(torch.tensor(x)).numpy())
    assert repr(nn.AdaptiveMaxPool2d(3)) == repr(torch.nn.AdaptiveMaxPool2d(3))
    with pytest.raises(ValueError, match=r"adaptive_max_pool2d: expected a positive output size"):
        F.adaptive_max_pool2d(pycnn.tensor(x), 0)


def test_adaptive_max_pool2d_exports_to_onnx(tmp_path):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from helpers.onnx_torch import check_export

    pycnn.manual_seed(10)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveMaxPool2d(2), nn.ReLU(), nn.AdaptiveMaxPool2d(1)).eval()
    x = np.random.default_rng(5).standard_normal((3, 3, 10, 10)).astype(np.float32)
    check_export(model, str(tmp_path / "amp.onnx"), x)
