"""avg_pool2d: forward and backward against torch float64, PyTorch's divisor with ceil_mode windows
past the padding, count_include_pad, divisor_override, bad input."""
import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import pycnn
import pycnn.nn.functional as F
from helpers.op_check import check_op, random_configs
from helpers.pooling import pool_output_size


def _make_config(rng):
    while True:
        n = int(rng.integers(1, 3))
        c = int(rng.integers(1, 4))
        kh, kw = (int(v) for v in rng.integers(1, 6, size=2))
        sh, sw = (int(v) for v in rng.integers(1, 4, size=2))
        ph, pw = int(rng.integers(0, min(2, kh // 2) + 1)), int(rng.integers(0, min(2, kw // 2) + 1))
        h, w = (int(v) for v in rng.integers(2, 14, size=2))
        ceil_mode = bool(rng.integers(0, 2))
        if pool_output_size(h, kh, sh, ph, 1, ceil_mode) > 0 and pool_output_size(w, kw, sw, pw, 1, ceil_mode) > 0:
            return dict(shape=(n, c, h, w), kernel_size=(kh, kw), stride=(sh, sw), padding=(ph, pw),
                        ceil_mode=ceil_mode, count_include_pad=bool(rng.integers(0, 2)),
                        divisor_override=int(rng.integers(1, 7)) if rng.random() < 0.2 else None)


CONFIGS = random_configs(36, seed=4242, make=_make_config)


def test_avg_pool2d_configs_cover_the_brief():
    assert any(c["shape"][0] == 1 for c in CONFIGS)
    assert {c["ceil_mode"] for c in CONFIGS} == {True, False}
    assert {c["count_include_pad"] for c in CONFIGS} == {True, False}
    assert any(c["divisor_override"] for c in CONFIGS)
    assert any(c["kernel_size"][0] != c["kernel_size"][1] for c in CONFIGS)
    assert any(max(c["padding"]) == 2 for c in CONFIGS) and any(max(c["stride"]) == 3 for c in CONFIGS)


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: str(tuple(c.values())))
def test_avg_pool2d_matches_torch(config, device):
    kwargs = {k: v for k, v in config.items() if k != "shape"}
    x = np.random.default_rng(11).standard_normal(config["shape"]).astype(np.float32)
    check_op(lambda t: F.avg_pool2d(t, **kwargs), lambda t: TF.avg_pool2d(t, **kwargs), [x],
             device=device)


def test_avg_pool2d_every_ceil_mode_and_padding_combination_matches_torch(device):
    # The divisor of windows that run past the padded input is the subtle part of PyTorch's
    # avg_pool2d; sweep every small geometry, many of which gain such a window from ceil_mode.
    rng = np.random.default_rng(5)
    extra_windows = 0
    for size, k, s in itertools.product(range(3, 9), range(2, 5), range(1, 4)):
        for p, count_include_pad in itertools.product(range(k // 2 + 1), (True, False)):
            if pool_output_size(size, k, s, p, 1, True) <= 0:
                continue
            x = rng.standard_normal((1, 2, size, size + 1)).astype(np.float32)
            args = dict(kernel_size=k, stride=s, padding=p, ceil_mode=True,
                        count_include_pad=count_include_pad)
            check_op(lambda t: F.avg_pool2d(t, **args), lambda t: TF.avg_pool2d(t, **args), [x],
                     device=device)
            extra_windows += any(pool_output_size(n, k, s, p, 1, True) > pool_output_size(n, k, s, p, 1, False)
                                 for n in (size, size + 1))
    assert extra_windows > 100


def test_avg_pool2d_divisor_at_the_corner_follows_torch(device):
    # 5x5 ones, 3x3 window, stride 2, padding 1, ceil_mode: the last window starts at row 3 and would
    # reach row 6, but PyTorch counts it only up to the padded edge (row 5): 2 rows, not 3.
    x = pycnn.tensor(np.ones((1, 1, 5, 5), np.float32), device=device)
    with_pad = F.avg_pool2d(x, 3, 2, 1, ceil_mode=True).numpy()[0, 0]
    # window rows: [-1, 2) -> 2 real of 3 padded; [1, 4) -> 3 of 3; [3, 6) -> 2 real of 3 padded.
    np.testing.assert_allclose(with_pad[0], [4 / 9, 6 / 9, 4 / 9], rtol=1e-6)
    np.testing.assert_allclose(with_pad[1], [6 / 9, 1.0, 6 / 9], rtol=1e-6)
    without_pad = F.avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False).numpy()
    np.testing.assert_allclose(without_pad, np.ones((1, 1, 3, 3)), rtol=1e-6)
    # 6x6 ones, 3x3 window, stride 2, padding 1, ceil_mode: the last window [5, 8) is cut at the
    # padded edge 7, so its divisor counts 2 rows (5 real + 6 padding) of 3: sum 1 / 2.
    y = F.avg_pool2d(pycnn.tensor(np.ones((1, 1, 6, 6), np.float32), device=device), 3, 2, 1,
                     ceil_mode=True).numpy()
    ref = TF.avg_pool2d(torch.ones(1, 1, 6, 6), 3, 2, 1, ceil_mode=True).numpy()
    np.testing.assert_allclose(y, ref, rtol=1e-6)
    assert y.shape == (1, 1, 4, 4) and abs(y[0, 0, 3, 1] - 3 / 6) < 1e-6


def test_avg_pool2d_worked_example_2x2_stride_2(device):
    x = pycnn.tensor(np.arange(64, dtype=np.float32).reshape(1, 1, 8, 8), device=device,
                     requires_grad=True)
    y = F.avg_pool2d(x, 2)
    # The mean of block (i, j) of 0..63 is 16i + 2j + 4.5.
    expected = np.array([[16 * i + 2 * j + 4.5 for j in range(4)] for i in range(4)])
    np.testing.assert_allclose(y.numpy()[0, 0], expected, rtol=1e-6)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.full((1, 1, 8, 8), 0.25), rtol=1e-6)


@pytest.mark.parametrize("stride, size", [(1, 5), (2, 3)])
def test_avg_pool2d_output_size_7x7_with_3x3_window(stride, size, device):
    x = pycnn.tensor(np.zeros((2, 1, 7, 7), np.float32), device=device)
    assert F.avg_pool2d(x, 3, stride).shape == (2, 1, size, size)


def test_avg_pool2d_3d_input_is_one_unbatched_image(device):
    x = np.random.default_rng(2).standard_normal((2, 7, 9)).astype(np.float32)
    args = dict(kernel_size=(3, 2), stride=(2, 3), padding=(1, 0), ceil_mode=True)
    check_op(lambda t: F.avg_pool2d(t, **args), lambda t: TF.avg_pool2d(t, **args), [x],
             device=device)


@pytest.mark.parametrize("shape, kwargs, error, match", [
    ((4, 4), dict(kernel_size=2), ValueError, r"avg_pool2d: expected input to be 3-d .* got shape \(4, 4\)"),
    ((1, 1, 4, 4), dict(kernel_size=2, stride=(1, 0)), ValueError,
     r"avg_pool2d: stride must be positive, got \(1, 0\)"),
    ((1, 1, 4, 4), dict(kernel_size=0), ValueError, "avg_pool2d: kernel_size must be positive"),
    ((1, 1, 4, 4), dict(kernel_size=2, padding=2), ValueError,
     r"avg_pool2d: padding should be at most half of kernel_size, got padding=\(2, 2\) and kernel_size=\(2, 2\)"),
    ((1, 1, 4, 4), dict(kernel_size=(3, 7), padding=1), ValueError,
     r"avg_pool2d: kernel_size \(3, 7\) does not fit the input \(4, 4\) padded by \(1, 1\)"),
    ((1, 1, 4, 4), dict(kernel_size=2, divisor_override=0), ValueError,
     "avg_pool2d: divisor_override must not be zero"),
    ((1, 1, 4, 4), dict(kernel_size=2, divisor_override=1.5), TypeError,
     "avg_pool2d: expected divisor_override to be an int"),
    ((1, 1, 4, 4), dict(kernel_size=2, ceil_mode=1), TypeError, "avg_pool2d: expected ceil_mode to be a bool"),
])
def test_avg_pool2d_bad_arguments_raise(shape, kwargs, error, match, device):
    x = pycnn.tensor(np.zeros(shape, np.float32), device=device)
    with pytest.raises(error, match=match):
        F.avg_pool2d(x, **kwargs)


def test_avg_pool2d_int64_input_raises(device):
    x = pycnn.tensor(np.zeros((1, 1, 4, 4), np.int64), device=device)
    with pytest.raises(TypeError, match="avg_pool2d: expected input to be float32, got int64"):
        F.avg_pool2d(x, 2)
