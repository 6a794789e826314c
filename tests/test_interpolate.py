"""F.interpolate / nn.Upsample (nearest, nearest-exact, linear, bilinear, trilinear; size or scale_factor;
align_corners) against PyTorch in float64, forward and gradient; PyTorch's Upsample/Resize exports at
opsets 9, 13 and 17 imported against onnxruntime and torch's gradients; pycnn's export against
onnxruntime."""
import numpy as np
import pytest

import pycnn
import pycnn.onnx
from pycnn import nn
from pycnn.nn import functional as F

torch = pytest.importorskip("torch")

CASES = [((2, 3, 5, 7), dict(scale_factor=2, mode="nearest")),
         ((2, 3, 5, 7), dict(size=(8, 3), mode="nearest")),
         ((2, 3, 5, 7), dict(scale_factor=(1.5, 0.6), mode="nearest-exact")),
         ((2, 3, 5, 7), dict(scale_factor=2, mode="bilinear")),
         ((2, 3, 5, 7), dict(size=(9, 4), mode="bilinear", align_corners=True)),
         ((2, 3, 5, 7), dict(scale_factor=0.5, mode="bilinear")),
         ((2, 3, 5, 7), dict(size=(1, 3), mode="bilinear")),  # an output of length 1 reads the middle
         ((2, 3, 6), dict(size=1, mode="linear")),
         ((2, 3, 11), dict(scale_factor=1.7, mode="linear")),
         ((1, 2, 3, 4, 5), dict(size=(5, 6, 2), mode="trilinear", align_corners=False))]


@pytest.mark.parametrize("index", range(len(CASES)))
def test_interpolate_matches_torch_forward_and_backward(index):
    shape, kwargs = CASES[index]
    x = np.random.default_rng(index).standard_normal(shape).astype(np.float32)
    xp = pycnn.tensor(x, requires_grad=True)
    y = F.interpolate(xp, **kwargs)
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    yt = torch.nn.functional.interpolate(xt, **kwargs)
    assert tuple(y.shape) == tuple(yt.shape)
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-5, atol=1e-6)
    w = np.random.default_rng(9).standard_normal(tuple(y.shape)).astype(np.float32)
    y.backward(pycnn.tensor(w))
    yt.backward(torch.tensor(w, dtype=torch.float64))
    np.testing.assert_allclose(xp.grad.numpy(), xt.grad.numpy(), rtol=1e-5, atol=1e-5)


def test_bad_arguments_are_named():
    x = pycnn.tensor(np.ones((1, 1, 2, 2), np.float32))
    with pytest.raises(ValueError, match="either size or scale_factor"):
        F.interpolate(x)
    with pytest.raises(ValueError, match="align_corners"):
        F.interpolate(x, scale_factor=2, align_corners=True)
    with pytest.raises(ValueError, match="mode 'area' is not supported"):
        nn.Upsample(scale_factor=2, mode="area")(x)


@pytest.mark.parametrize("opset", [9, 13, 17])
@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
def test_torch_exports_import_and_match_onnxruntime(opset, mode):
    pytest.importorskip("onnxruntime")
    from helpers.onnx_torch import check_torch_export

    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Upsample(scale_factor=2, mode=mode),
                              torch.nn.Conv2d(4, 2, 3), torch.nn.Upsample(size=(9, 11), mode=mode)).eval()
    x = np.random.default_rng(opset).standard_normal((2, 3, 7, 8)).astype(np.float32)
    # Upsample's linear (before opset 11) is asymmetric: the file computes something else than torch (its
    # warning), so only onnxruntime is the reference there
    check_torch_export(net, x, opset, gradients=opset >= 11 or mode == "nearest")


@pytest.mark.parametrize("kwargs", [dict(scale_factor=2), dict(scale_factor=2, mode="bilinear"),
                                    dict(size=(5, 9), mode="bilinear", align_corners=True)])
def test_pycnns_export_runs_in_onnxruntime(tmp_path, kwargs):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from helpers.onnx_torch import check_export

    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Upsample(**kwargs))
    check_export(model, tmp_path / "up.onnx", np.random.default_rng(0).standard_normal((2, 3, 6, 7)).astype(np.float32))
