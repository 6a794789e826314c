"""max_pool2d: forward and backward against torch float64, output sizes, ties, indices, bad input."""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import pycnn
import pycnn.nn.functional as F
from helpers.op_check import check_op, random_configs
from helpers.pooling import pool_output_size


def _every_window_holds_input(size, k, s, p, d, ceil_mode):
    out = pool_output_size(size, k, s, p, d, ceil_mode)
    return out > 0 and all(any(0 <= o * s - p + t * d < size for t in range(k)) for o in range(out))


def _make_config(rng):
    while True:
        n = int(rng.integers(1, 3))
        c = int(rng.integers(1, 4))
        kh, kw = (int(v) for v in rng.integers(1, 5, size=2))
        sh, sw = (int(v) for v in rng.integers(1, 4, size=2))
        ph, pw = int(rng.integers(0, min(2, kh // 2) + 1)), int(rng.integers(0, min(2, kw // 2) + 1))
        dh, dw = (int(v) for v in rng.choice([1, 2], size=2))
        h, w = (int(v) for v in rng.integers(3, 14, size=2))
        ceil_mode = bool(rng.integers(0, 2))
        if all(_every_window_holds_input(*axis, ceil_mode)
               for axis in ((h, kh, sh, ph, dh), (w, kw, sw, pw, dw))):
            return dict(shape=(n, c, h, w), kernel_size=(kh, kw), stride=(sh, sw),
                        padding=(ph, pw), dilation=(dh, dw), ceil_mode=ceil_mode)


CONFIGS = random_configs(36, seed=2024, make=_make_config)


def test_max_pool2d_configs_cover_the_brief():
    assert any(c["shape"][0] == 1 for c in CONFIGS)
    assert any(c["dilation"] != (1, 1) for c in CONFIGS)
    assert any(c["ceil_mode"] for c in CONFIGS) and not all(c["ceil_mode"] for c in CONFIGS)
    assert any(c["kernel_size"][0] != c["kernel_size"][1] for c in CONFIGS)
    assert any(max(c["padding"]) == 2 for c in CONFIGS) and any(max(c["stride"]) == 3 for c in CONFIGS)


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: str(tuple(c.values())))
def test_max_pool2d_matches_torch(config, device):
    kwargs = {k: v for k, v in config.items() if k != "shape"}
    x = np.random.default_rng(7).standard_normal(config["shape"]).astype(np.float32)
    check_op(lambda t: F.max_pool2d(t, **kwargs), lambda t: TF.max_pool2d(t, **kwargs), [x],
             device=device)


def test_max_pool2d_worked_example_2x2_stride_2_keeps_a_quarter(device):
    x = pycnn.tensor(np.arange(64, dtype=np.float32).reshape(1, 1, 8, 8), device=device,
                     requires_grad=True)
    y = F.max_pool2d(x, 2, 2)
    assert y.shape == (1, 1, 4, 4)
    # Each 2x2 block of 0..63 keeps its bottom-right value 8*(2i+1) + 2j + 1.
    expected = np.array([[8 * (2 * i + 1) + 2 * j + 1 for j in range(4)] for i in range(4)])
    np.testing.assert_array_equal(y.numpy()[0, 0], expected)
    y.sum().backward()
    grad = x.grad.numpy()[0, 0]
    assert grad.sum() == 16 and np.count_nonzero(grad) == 16
    assert np.all(grad[1::2, 1::2] == 1)


@pytest.mark.parametrize("stride, size", [(1, 5), (2, 3), (3, 2)])
def test_max_pool2d_output_size_7x7_with_3x3_window(stride, size, device):
    x = pycnn.tensor(np.zeros((1, 2, 7, 7), np.float32), device=device)
    assert F.max_pool2d(x, 3, stride).shape == (1, 2, size, size)


@pytest.mark.parametrize("size, k, s, p, expected", [
    (6, 3, 2, 0, 3),   # floor 2, ceil 3
    (5, 2, 2, 1, 3),   # ceil gives 4, but its last window would start in the right padding
    (7, 3, 3, 1, 3),
])
def test_max_pool2d_ceil_mode_output_size(size, k, s, p, expected, device):
    x = np.random.default_rng(1).standard_normal((1, 1, size, size)).astype(np.float32)
    ours = F.max_pool2d(pycnn.tensor(x, device=device), k, s, p, ceil_mode=True)
    ref = TF.max_pool2d(torch.tensor(x), k, s, p, ceil_mode=True)
    assert ours.shape == tuple(ref.shape) == (1, 1, expected, expected)
    np.testing.assert_array_equal(ours.numpy(), ref.numpy())


@pytest.mark.parametrize("kernel_size, stride, padding", [(2, 2, 0), (3, 1, 1), (3, 2, 1)])
def test_max_pool2d_ties_route_the_gradient_like_torch(kernel_size, stride, padding, device):
    # Whole planes of equal values: every window is one big tie.
    data = np.ones((1, 2, 6, 7), np.float32)
    data[0, 1, :, 3:] = 2.0
    upstream = np.random.default_rng(3).standard_normal(
        TF.max_pool2d(torch.tensor(data), kernel_size, stride, padding).shape)
    x = pycnn.tensor(data, device=device, requires_grad=True)
    out, indices = F.max_pool2d(x, kernel_size, stride, padding, return_indices=True)
    out.backward(pycnn.tensor(upstream, device=device))
    xt = torch.tensor(data, dtype=torch.float64, requires_grad=True)
    ref, ref_indices = TF.max_pool2d(xt, kernel_size, stride, padding, return_indices=True)
    ref.backward(torch.tensor(upstream))
    np.testing.assert_array_equal(indices.numpy(), ref_indices.numpy())
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-6, atol=1e-6)


def test_max_pool2d_indices_match_torch_with_padding_and_dilation(device):
    x = np.random.default_rng(5).standard_normal((2, 3, 9, 11)).astype(np.float32)
    args = dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 1), dilation=(2, 3), ceil_mode=True)
    out, indices = F.max_pool2d(pycnn.tensor(x, device=device), return_indices=True, **args)
    ref, ref_indices = TF.max_pool2d(torch.tensor(x), return_indices=True, **args)
    assert indices.dtype == "int64"
    np.testing.assert_array_equal(indices.numpy(), ref_indices.numpy())
    np.testing.assert_array_equal(out.numpy(), ref.numpy())



def _interior_columns(w, k, p, d, ceil_mode):
    """Output columns whose window lies wholly inside the input (stride 2)."""
    return sum(o * 2 - p >= 0 and o * 2 - p + d * (k - 1) < w
               for o in range(pool_output_size(w, k, 2, p, d, ceil_mode)))


def _make_stride2_config(rng):
    """Column stride 2 and rows of 8 interior outputs or more: the CPU's vector path (8 outputs a block,
    a last block overlapping the one before, the odd-lane load at the plane's end), with or without
    padding and ceil mode (the border windows then take the per-window scan)."""
    while True:
        kh, kw = (int(v) for v in rng.integers(1, 5, size=2))
        sh, dh, dw = int(rng.integers(1, 4)), int(rng.choice([1, 2])), int(rng.choice([1, 2]))
        ph, pw = int(rng.integers(0, kh // 2 + 1)), int(rng.integers(0, kw // 2 + 1))
        ceil_mode = bool(rng.integers(0, 2))
        h, w = int(rng.integers(dh * (kh - 1) + 1, 20)), int(rng.integers(16, 41))
        if _interior_columns(w, kw, pw, dw, ceil_mode) >= 8 and all(
                _every_window_holds_input(*axis, ceil_mode) for axis in ((h, kh, sh, ph, dh), (w, kw, 2, pw, dw))):
            return dict(shape=(int(rng.integers(1, 4)), int(rng.integers(1, 5)), h, w), kernel_size=(kh, kw),
                        stride=(sh, 2), dilation=(dh, dw), padding=(ph, pw), ceil_mode=ceil_mode,
                        seed=int(rng.integers(1 << 30)))


def _make_short_row_config(rng):
    """Column stride 2, every window inside the input and rows of 1-7 outputs: the CPU's short-row path
    (one vector block a row, its loads reaching into the next plane, or into a padded copy of the last)."""
    while True:
        kh, kw = (int(v) for v in rng.integers(1, 5, size=2))
        sh, dh, dw = int(rng.integers(1, 4)), int(rng.choice([1, 2])), int(rng.choice([1, 2]))
        h = int(rng.integers(dh * (kh - 1) + 1, 16))
        w = int(rng.integers(dw * (kw - 1) + 1, dw * (kw - 1) + 15))
        if (w - dw * (kw - 1) - 1) // 2 + 1 < 8:
            return dict(shape=(int(rng.integers(1, 4)), int(rng.integers(1, 6)), h, w), kernel_size=(kh, kw),
                        stride=(sh, 2), dilation=(dh, dw), padding=(0, 0), ceil_mode=False,
                        seed=int(rng.integers(1 << 30)))


_NO_PAD = dict(padding=(0, 0), ceil_mode=False)
STRIDE2 = random_configs(24, seed=77, make=_make_stride2_config) + random_configs(
    16, seed=78, make=_make_short_row_config) + [
    dict(shape=(3, 16, 10, 10), kernel_size=(2, 2), stride=(2, 2), dilation=(1, 1), seed=7, **_NO_PAD),  # LeNet's 2nd
    dict(shape=(2, 5, 13, 13), kernel_size=(3, 3), stride=(2, 2), dilation=(1, 1), seed=8, **_NO_PAD),  # AlexNet's 3rd
    dict(shape=(1, 1, 2, 2), kernel_size=(2, 2), stride=(2, 2), dilation=(1, 1), seed=9, **_NO_PAD),  # one window
    dict(shape=(1, 1, 4, 16), kernel_size=(2, 2), stride=(2, 2), dilation=(1, 1), seed=1, **_NO_PAD),  # W = 2 * OW
    dict(shape=(2, 3, 28, 28), kernel_size=(2, 2), stride=(2, 2), dilation=(1, 1), seed=2, **_NO_PAD),  # LeNet
    dict(shape=(1, 2, 9, 17), kernel_size=(3, 3), stride=(2, 2), dilation=(1, 1), seed=3, **_NO_PAD),  # odd width
    dict(shape=(2, 1, 1, 15), kernel_size=(1, 1), stride=(1, 2), dilation=(1, 1), seed=4, **_NO_PAD),  # 15 floats
    dict(shape=(2, 3, 24, 30), kernel_size=(3, 3), stride=(2, 2), dilation=(1, 1), seed=5,  # ResNet's stem
         padding=(1, 1), ceil_mode=False),
    dict(shape=(1, 2, 13, 33), kernel_size=(3, 3), stride=(2, 2), dilation=(1, 1), seed=6,  # GoogLeNet's
         padding=(0, 0), ceil_mode=True)]


def test_max_pool2d_stride_2_configs_cover_padding_and_ceil_mode():
    assert any(max(c["padding"]) > 0 for c in STRIDE2) and any(c["ceil_mode"] for c in STRIDE2)
    assert any(max(c["padding"]) > 0 and c["ceil_mode"] for c in STRIDE2)


@pytest.mark.parametrize("config", STRIDE2, ids=lambda c: str(tuple(c.values())[:4]))
def test_max_pool2d_stride_2_rows_match_torch_exactly(config, device):
    # Values from a few levels (ties in most windows) and some NaN: values and indices equal torch's,
    # and the gradient is routed as torch routes it.
    rng = np.random.default_rng(config["seed"])
    x = rng.integers(0, 4, size=config["shape"]).astype(np.float32)
    x[rng.random(config["shape"]) < 0.02] = np.nan
    kwargs = dict(kernel_size=config["kernel_size"], stride=config["stride"], dilation=config["dilation"],
                  padding=config["padding"], ceil_mode=config["ceil_mode"])
    xp = pycnn.tensor(x, device=device, requires_grad=True)
    out, indices = F.max_pool2d(xp, return_indices=True, **kwargs)
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    ref, ref_indices = TF.max_pool2d(xt, return_indices=True, **kwargs)
    np.testing.assert_array_equal(indices.numpy(), ref_indices.numpy())
    np.testing.assert_array_equal(out.numpy(), ref.detach().numpy().astype(np.float32))
    upstream = rng.standard_normal(ref.shape)
    out.backward(pycnn.tensor(upstream.astype(np.float32), device=device))
    ref.backward(torch.tensor(upstream))
    np.testing.assert_allclose(xp.grad.numpy(), xt.grad.numpy(), rtol=1e-6, atol=1e-6)

def test_max_pool2d_nan_wins_like_torch(device):
    x = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    x[0, 0, 0, 1] = np.nan
    out = F.max_pool2d(pycnn.tensor(x, device=device), 2).numpy()
    ref = TF.max_pool2d(torch.tensor(x), 2).numpy()
    np.testing.assert_array_equal(np.isnan(out), np.isnan(ref))
    assert np.isnan(out[0, 0, 0, 0]) and out[0, 0, 1, 1] == 15


def test_max_pool2d_3d_input_is_one_unbatched_image(device):
    x = np.random.default_rng(2).standard_normal((3, 7, 6)).astype(np.float32)
    check_op(lambda t: F.max_pool2d(t, 3, 2, 1), lambda t: TF.max_pool2d(t, 3, 2, 1), [x],
             device=device)
    out, indices = F.max_pool2d(pycnn.tensor(x, device=device), 3, 2, 1, return_indices=True)
    assert out.shape == indices.shape == (3, 4, 3)


def test_max_pool2d_default_stride_is_kernel_size(device):
    x = pycnn.tensor(np.zeros((1, 1, 9, 8), np.float32), device=device)
    assert F.max_pool2d(x, (3, 2)).shape == (1, 1, 3, 4)
    assert F.max_pool2d(x, 3, stride=()).shape == (1, 1, 3, 2)


@pytest.mark.parametrize("shape, kwargs, error, match", [
    ((4, 4), dict(kernel_size=2), ValueError, r"max_pool2d: expected input to be 3-d .* got shape \(4, 4\)"),
    ((1, 1, 1, 4, 4), dict(kernel_size=2), ValueError, "max_pool2d: expected input"),
    ((1, 1, 4, 4), dict(kernel_size=2, stride=0), ValueError, r"max_pool2d: stride must be positive, got \(0, 0\)"),
    ((1, 1, 4, 4), dict(kernel_size=(0, 2)), ValueError, "max_pool2d: kernel_size must be positive"),
    ((1, 1, 4, 4), dict(kernel_size=2, dilation=0), ValueError, "max_pool2d: dilation must be positive"),
    ((1, 1, 4, 4), dict(kernel_size=3, padding=2), ValueError,
     r"max_pool2d: padding should be at most half of kernel_size, got padding=\(2, 2\)"),
    ((1, 1, 4, 4), dict(kernel_size=2, padding=-1), ValueError, "max_pool2d: padding must be non-negative"),
    ((1, 1, 4, 4), dict(kernel_size=7, padding=1), ValueError,
     r"max_pool2d: kernel_size \(7, 7\) does not fit the input \(4, 4\) padded by \(1, 1\)"),
    ((1, 1, 5, 5), dict(kernel_size=3, dilation=3), ValueError,
     r"max_pool2d: kernel_size \(3, 3\) with dilation \(3, 3\) does not fit"),
    ((1, 1, 4, 4), dict(kernel_size=2.0), TypeError, "max_pool2d: expected kernel_size to be an int"),
    ((1, 1, 4, 4), dict(kernel_size=(2, 2, 2)), ValueError, "max_pool2d: expected kernel_size to be an int or a pair"),
])
def test_max_pool2d_bad_arguments_raise(shape, kwargs, error, match, device):
    x = pycnn.tensor(np.zeros(shape, np.float32), device=device)
    with pytest.raises(error, match=match):
        F.max_pool2d(x, **kwargs)


def test_max_pool2d_window_of_padding_only_is_minus_inf_with_no_gradient(device):
    # Dilation 3 with padding 1 over 2 rows: output row 0's kernel rows read input rows -1 and 2, both
    # padding. Its outputs are -inf with index -1 and route no gradient; row 0's neighbours are the
    # only windows here, so the whole gradient is zero. (torch gives such windows the index of a
    # position past the window, 40-53 in a plane of 40 floats, and its backward writes there.)
    x = pycnn.tensor(np.random.default_rng(3).standard_normal((3, 2, 2, 20)).astype(np.float32),
                     device=device, requires_grad=True)
    out, indices = F.max_pool2d(x, (2, 5), 1, (1, 2), (3, 2), return_indices=True)
    assert out.shape == (3, 2, 1, 16)
    assert np.all(out.numpy() == -np.inf)
    np.testing.assert_array_equal(indices.numpy(), -1)
    out.backward(pycnn.ones(*out.shape, device=device))
    np.testing.assert_array_equal(x.grad.numpy(), 0.0)


def test_max_pool2d_backward_refuses_indices_outside_the_plane():
    # The CPU backward adds dy at each index: an index past the plane (or below -1) raises instead of
    # writing past dx, whether it reaches the binding directly or through indices edited behind the
    # tape's back (a numpy view does not bump the version the tape checks).
    dy = pycnn.ones(1, 1, 2, 2)._data
    for bad in (16, 10**7, -2):
        idx = pycnn.tensor(np.full((1, 1, 2, 2), bad, np.int64))._data
        with pytest.raises(ValueError, match=rf"expected indices in \[-1, 16\).*got {bad}"):
            pycnn._C.max_pool2d_backward(dy, idx, [1, 1, 4, 4], (2, 2), (2, 2), (0, 0), (1, 1), False)
    x = pycnn.tensor(np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4), requires_grad=True)
    out, indices = F.max_pool2d(x, 2, return_indices=True)
    indices.numpy()[...] = 1000
    with pytest.raises(ValueError, match="expected indices"):
        out.backward(pycnn.ones(1, 1, 2, 2))


def test_max_pool2d_int64_input_raises(device):
    x = pycnn.tensor(np.zeros((1, 1, 4, 4), np.int64), device=device)
    with pytest.raises(TypeError, match="max_pool2d: expected input to be float32, got int64"):
        F.max_pool2d(x, 2)


def test_max_pool2d_non_tensor_input_raises():
    with pytest.raises(TypeError, match="max_pool2d: expected input to be a pycnn.Tensor"):
        F.max_pool2d(np.zeros((1, 1, 4, 4), np.float32), 2)


def _make_values_config(rng):
    """A pool for the inference plan's values-only kernels (max_pool2d_values.inc, and the run across rows
    for windows that neither overlap nor pad): strides 1, 2 (even/odd phases) and 3-4 (phases copied float
    by float), widths that leave partial vectors of 16, 8 and 4 floats and rows past one block of 64
    outputs, padding, dilation, ceil mode, batches and odd sizes."""
    while True:
        kh, kw = (int(v) for v in rng.integers(1, 6, size=2))
        sh, sw = int(rng.integers(1, 4)), int(rng.choice([1, 2, 2, 3, 4]))
        dh, dw = int(rng.choice([1, 1, 2])), int(rng.choice([1, 1, 2, 3]))
        ph, pw = int(rng.integers(0, kh // 2 + 1)), int(rng.integers(0, kw // 2 + 1))
        h, w = int(rng.integers(1, 30)), int(rng.integers(1, 150))
        ceil_mode = bool(rng.integers(0, 2))
        if all(_every_window_holds_input(*axis, ceil_mode) for axis in ((h, kh, sh, ph, dh), (w, kw, sw, pw, dw))):
            return dict(shape=(int(rng.integers(1, 4)), int(rng.integers(1, 4)), h, w), kernel_size=(kh, kw),
                        stride=(sh, sw), padding=(ph, pw), dilation=(dh, dw), ceil_mode=ceil_mode,
                        seed=int(rng.integers(1 << 30)))


VALUES = random_configs(40, seed=1010, make=_make_values_config) + [
    dict(shape=(1, 64, 112, 112), kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), dilation=(1, 1),
         ceil_mode=False, seed=1),  # ResNet's stem pool
    dict(shape=(2, 5, 57, 57), kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), dilation=(1, 1),
         ceil_mode=True, seed=2),  # odd, ceil mode
    dict(shape=(3, 2, 9, 200), kernel_size=(2, 5), stride=(1, 1), padding=(0, 2), dilation=(1, 2),
         ceil_mode=False, seed=3),  # stride 1, rows of 3+ blocks
    dict(shape=(1, 1, 1, 1), kernel_size=(1, 1), stride=(1, 1), padding=(0, 0), dilation=(1, 1),
         ceil_mode=False, seed=4),
    dict(shape=(3, 6, 28, 28), kernel_size=(2, 2), stride=(2, 2), padding=(0, 0), dilation=(1, 1),
         ceil_mode=False, seed=5)]  # LeNet's: the path for windows that neither overlap nor pad


def test_max_pool2d_values_configs_cover_the_kernel():
    assert {c["stride"][1] for c in VALUES} >= {1, 2, 3}
    assert any(c["ceil_mode"] for c in VALUES) and any(max(c["padding"]) > 0 for c in VALUES)
    assert any(c["dilation"][1] > 1 for c in VALUES) and any(c["shape"][0] > 1 for c in VALUES)
    assert any(c["shape"][3] % 4 for c in VALUES) and any(c["shape"][3] > 128 for c in VALUES)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("config", VALUES, ids=lambda c: str(tuple(c.values())[:5]))
def test_max_pool2d_values_kernel_matches_torch_and_the_training_kernel(config, threads):
    """The inference plan's max pool (values only: column maxima, stride phases, rows of taps) equals
    torch's and the training kernel's (indices path) exactly, NaN and -inf included, on 1 and 2 threads
    (the rows split between them)."""
    rng = np.random.default_rng(config["seed"])
    x = rng.standard_normal(config["shape"]).astype(np.float32)
    x[rng.random(config["shape"]) < 0.01] = np.nan
    x[rng.random(config["shape"]) < 0.02] = -np.inf
    kwargs = {k: config[k] for k in ("kernel_size", "stride", "padding", "dilation", "ceil_mode")}
    model = pycnn.nn.Sequential(pycnn.nn.MaxPool2d(**kwargs))
    model.eval()
    plan = pycnn.optimize_for_inference(model, x, threads=threads)
    assert plan.python_nodes(x.shape) == []
    ours = plan(x).numpy()
    np.testing.assert_array_equal(ours, TF.max_pool2d(torch.tensor(x), **kwargs).numpy())
    np.testing.assert_array_equal(ours, F.max_pool2d(pycnn.tensor(x), **kwargs).numpy())
