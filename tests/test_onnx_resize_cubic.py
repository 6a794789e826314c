"""Cubic resampling: ONNX Resize mode "cubic" (cubic_coeff_a, exclude_outside, every coordinate
transformation pycnn reads, sizes or scales, enlarging and shrinking) against onnxruntime on random
4-d NCHW inputs resized over H and W, its input gradient through the adjoint identity against
onnxruntime's forward and against torch float64's bicubic where torch computes the same function
(a = -0.75, edges clamped: half_pixel and align_corners); F.interpolate(mode="bicubic") against torch."""
import numpy as np
import pytest

import pycnn
import pycnn.onnx
from pycnn.nn import functional as F

onnx = pytest.importorskip("onnx")
torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")
from helpers.onnx_builders import make_initializer, make_model, make_node, run_onnxruntime  # noqa: E402
from helpers.onnx_torch import relative_error  # noqa: E402

MODES = ("half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric", "half_pixel_symmetric")


def _case(seed):
    rng = np.random.default_rng(seed)
    shape = [int(rng.integers(1, 3)), int(rng.integers(1, 4))] + [int(v) for v in rng.integers(1, 9, size=2)]
    attrs = {"mode": "cubic", "coordinate_transformation_mode": MODES[seed % len(MODES)],
             "cubic_coeff_a": [-0.75, -0.5, float(rng.uniform(-1, 0))][seed % 3], "exclude_outside": seed % 2}
    factors = [float(f) for f in rng.choice([0.5, 0.6, 1.0, 1.5, 2.0, 3.0, 2.5], size=2)]
    # align_corners divides by the resized length: ONNX's spec (and its node tests, which pycnn passes) take
    # in * scale, onnxruntime the floored output size, so with scales the two agree only where that is whole
    if seed % 4 < 2 and attrs["coordinate_transformation_mode"] != "align_corners":
        extra = {"scales": np.float32([1, 1] + factors)}
        inputs = ["x", "", "scales"]
    else:
        extra = {"sizes": np.array(shape[:2] + [max(1, int(round(d * f))) for d, f in zip(shape[2:], factors)],
                                   np.int64)}
        inputs = ["x", "", "", "sizes"]
    x = rng.standard_normal(shape).astype(np.float32)
    return x, inputs, attrs, extra


def _model(x, inputs, attrs, extra, opset=13):
    inits = [make_initializer(k, v) for k, v in extra.items()]
    return make_model([make_node("Resize", inputs, ["y"], **attrs)], inits, {"x": list(x.shape)}, opset,
                      ir_version=7).SerializeToString()


@pytest.mark.parametrize("seed", range(30))
def test_cubic_resize_matches_onnxruntime_and_its_gradient_is_the_adjoint(seed):
    x, inputs, attrs, extra = _case(seed)
    model = _model(x, inputs, attrs, extra)
    graph = pycnn.onnx.load(model)
    xp = pycnn.tensor(x, requires_grad=True)
    y = graph(xp)
    want = run_onnxruntime(model, x)[0]
    assert y.shape == want.shape and relative_error(y.numpy(), want) < 1e-5, (attrs, relative_error(y.numpy(), want))
    g = np.random.default_rng(seed + 100).standard_normal(want.shape).astype(np.float32)
    y.backward(pycnn.tensor(g))
    # Resize is linear: <R x', g> = <x', R^T g> for any x', with R x' computed by onnxruntime
    for probe in range(2):
        other = np.random.default_rng(seed + 200 + probe).standard_normal(x.shape).astype(np.float32)
        lhs = float((run_onnxruntime(model, other)[0].astype(np.float64) * g).sum())
        rhs = float((other.astype(np.float64) * xp.grad.numpy()).sum())
        scale = float(np.abs(other).sum() * np.abs(xp.grad.numpy()).max()) + 1e-12
        assert abs(lhs - rhs) < 1e-5 * scale, (attrs, lhs, rhs)


def _torch_bicubic(x, size, align_corners):
    return torch.nn.functional.interpolate(x, size=size, mode="bicubic", align_corners=align_corners)


@pytest.mark.parametrize("ctm,align", [("half_pixel", False), ("align_corners", True)])
@pytest.mark.parametrize("size", [(13, 6), (3, 11), (1, 4), (7, 7)])
def test_onnx_cubic_gradient_matches_torch_float64_bicubic(ctm, align, size):
    x = np.random.default_rng(sum(size)).standard_normal((2, 3, 5, 7)).astype(np.float32)
    model = _model(x, ["x", "", "", "sizes"], {"mode": "cubic", "coordinate_transformation_mode": ctm},
                   {"sizes": np.array([2, 3, *size], np.int64)})
    xp = pycnn.tensor(x, requires_grad=True)
    y = pycnn.onnx.load(model)(xp)
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    yt = _torch_bicubic(xt, size, align)
    assert relative_error(y.numpy(), yt.detach().numpy()) < 1e-5
    g = np.random.default_rng(1).standard_normal(tuple(yt.shape))
    y.backward(pycnn.tensor(g.astype(np.float32)))
    yt.backward(torch.tensor(g))
    assert relative_error(xp.grad.numpy(), xt.grad.numpy()) < 1e-5


@pytest.mark.parametrize("kwargs", [dict(scale_factor=2), dict(scale_factor=(0.6, 1.5)), dict(size=(9, 4)),
                                    dict(size=(9, 4), align_corners=True), dict(size=(1, 1)),
                                    dict(scale_factor=3, align_corners=True)])
def test_interpolate_bicubic_matches_torch_float64(kwargs):
    x = np.random.default_rng(3).standard_normal((2, 3, 5, 7)).astype(np.float32)
    xp = pycnn.tensor(x, requires_grad=True)
    y = F.interpolate(xp, mode="bicubic", **kwargs)
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    yt = torch.nn.functional.interpolate(xt, mode="bicubic", **kwargs)
    assert tuple(y.shape) == tuple(yt.shape)
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-5, atol=1e-6)
    g = np.random.default_rng(4).standard_normal(tuple(yt.shape))
    y.backward(pycnn.tensor(g.astype(np.float32)))
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(xp.grad.numpy(), xt.grad.numpy(), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="bicubic mode needs a 4-d input"):
        F.interpolate(pycnn.tensor(x[0]), mode="bicubic", scale_factor=2)


@pytest.mark.parametrize("opset", [11, 13, 17])
def test_torch_bicubic_export_imports_and_matches_onnxruntime_and_torch(opset):
    from helpers.onnx_torch import check_torch_export

    torch.manual_seed(opset)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Upsample(scale_factor=2, mode="bicubic"),
                              torch.nn.Conv2d(4, 2, 3), torch.nn.Upsample(size=(9, 11), mode="bicubic",
                                                                          align_corners=True)).eval()
    x = np.random.default_rng(opset).standard_normal((2, 3, 7, 8)).astype(np.float32)
    check_torch_export(net, x, opset)


def test_torch_cannot_export_bicubic_at_opset_9_and_resize_10_refuses_cubic():
    import io

    net = torch.nn.Upsample(scale_factor=2, mode="bicubic")
    with pytest.raises(Exception, match="(?i)cubic|unsupported|not supported"):  # torch's exporter: no cubic Upsample
        torch.onnx.export(net, (torch.zeros(1, 1, 4, 4),), io.BytesIO(), opset_version=9, dynamo=False)
    x = np.zeros((1, 1, 4, 4), np.float32)
    model = _model(x, ["x", "scales"], {"mode": "cubic"}, {"scales": np.float32([1, 1, 2, 2])}, opset=10)
    with pytest.raises(pycnn.onnx.OnnxImportError, match="mode 'cubic' is not supported \\(nearest, linear are\\)"):
        pycnn.onnx.load(model)


@pytest.mark.parametrize("kwargs", [dict(scale_factor=2), dict(size=(5, 9), align_corners=True)])
def test_pycnns_bicubic_export_runs_in_onnxruntime(tmp_path, kwargs):
    from helpers.onnx_torch import check_export

    model = pycnn.nn.Sequential(pycnn.nn.Conv2d(3, 4, 3), pycnn.nn.Upsample(mode="bicubic", **kwargs))
    check_export(model, tmp_path / "up.onnx", np.random.default_rng(0).standard_normal((2, 3, 6, 7)).astype(np.float32))
