"""pixel_shuffle / pixel_unshuffle and nn.PixelShuffle / PixelUnshuffle against PyTorch (forward and
gradient, batched and not); ONNX DepthToSpace (DCR, CRD) and SpaceToDepth (DCR, CRD) against PyTorch's
rearrangements; PyTorch's PixelShuffle export imported and pycnn's exported, both against onnxruntime."""
import io

import numpy as np
import pytest

import pycnn
import pycnn.onnx
from pycnn import nn
from pycnn.nn import functional as F

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("shape,r", [((2, 12, 3, 5), 2), ((18, 2, 4), 3), ((1, 2, 4, 1, 1), 1)])
def test_pixel_shuffle_and_unshuffle_match_torch(shape, r):
    x = np.random.default_rng(r).standard_normal(shape).astype(np.float32)
    xp = pycnn.tensor(x, requires_grad=True)
    y = F.pixel_shuffle(xp, r)
    xt = torch.tensor(x, requires_grad=True)
    yt = torch.nn.functional.pixel_shuffle(xt, r)
    np.testing.assert_array_equal(y.numpy(), yt.detach().numpy())
    w = np.random.default_rng(0).standard_normal(tuple(y.shape)).astype(np.float32)
    y.backward(pycnn.tensor(w))
    yt.backward(torch.tensor(w))
    np.testing.assert_array_equal(xp.grad.numpy(), xt.grad.numpy())
    np.testing.assert_array_equal(nn.PixelUnshuffle(r)(y).numpy(), x)
    np.testing.assert_array_equal(F.pixel_unshuffle(y, r).numpy(), torch.nn.functional.pixel_unshuffle(yt, r).detach())


def test_bad_factors_name_the_shape():
    with pytest.raises(ValueError, match="divisible by 4"):
        F.pixel_shuffle(pycnn.tensor(np.ones((1, 6, 2, 2), np.float32)), 2)
    with pytest.raises(ValueError, match="divisible by 2"):
        nn.PixelUnshuffle(2)(pycnn.tensor(np.ones((1, 1, 3, 2), np.float32)))


@pytest.mark.parametrize("mode", ["DCR", "CRD"])
def test_onnx_depth_to_space_and_back(mode):
    pytest.importorskip("onnx")
    from helpers.onnx_builders import make_model, make_node
    from helpers.onnx_torch import run_both

    x = np.random.default_rng(4).standard_normal((2, 12, 3, 5)).astype(np.float32)

    def d2s(t):
        if mode == "CRD":
            return torch.nn.functional.pixel_shuffle(t, 2)
        n, c, h, w = t.shape
        return t.reshape(n, 2, 2, c // 4, h, w).permute(0, 3, 4, 1, 5, 2).reshape(n, c // 4, h * 2, w * 2)

    run_both("DepthToSpace", [x], d2s, {"blocksize": 2, "mode": mode}, opset=13)
    nodes = [make_node("DepthToSpace", ["x"], ["d"], blocksize=2, mode=mode),
             make_node("SpaceToDepth", ["d"], ["y"], blocksize=2, mode=mode)]
    graph = pycnn.onnx.load(make_model(nodes, [], {"x": [2, 12, 3, 5]}, 28).SerializeToString())
    np.testing.assert_array_equal(graph(pycnn.tensor(x)).numpy(), x)


@pytest.mark.parametrize("opset", [9, 13])
def test_torch_pixel_shuffle_export_and_pycnns_export(tmp_path, opset):
    pytest.importorskip("onnxruntime")
    from helpers.onnx_builders import run_onnxruntime
    from helpers.onnx_torch import check_export

    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.PixelShuffle(2)).eval()
    x = np.random.default_rng(5).standard_normal((2, 3, 7, 6)).astype(np.float32)
    buffer = io.BytesIO()
    torch.onnx.export(net, (torch.tensor(x),), buffer, dynamo=False, opset_version=opset)
    np.testing.assert_allclose(pycnn.onnx.load(buffer.getvalue())(pycnn.tensor(x)).numpy(),
                               run_onnxruntime(buffer.getvalue(), x)[0], rtol=1e-5, atol=1e-5)
    check_export(nn.Sequential(nn.Conv2d(3, 8, 3), nn.PixelShuffle(2)), tmp_path / "ps.onnx", x)
