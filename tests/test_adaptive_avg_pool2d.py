"""adaptive_avg_pool2d: forward and backward against torch float64 for any output size (smaller,
larger, not dividing the input, None entries), the global 1x1 case, bad input."""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import pycnn
import pycnn.nn.functional as F
from helpers.op_check import check_op, random_configs


def _make_config(rng):
    n = int(rng.integers(1, 3))
    c = int(rng.integers(1, 4))
    h, w = (int(v) for v in rng.integers(1, 14, size=2))
    choice = rng.random()
    if choice < 0.15:
        output_size = int(rng.integers(1, 8))
    elif choice < 0.3:
        output_size = (None, int(rng.integers(1, w + 3)))
    else:  # anything from 1 to a few more than the input, so bins overlap, divide or repeat
        output_size = (int(rng.integers(1, h + 4)), int(rng.integers(1, w + 4)))
    return dict(shape=(n, c, h, w), output_size=output_size)


CONFIGS = random_configs(36, seed=99, make=_make_config)


def test_adaptive_avg_pool2d_configs_cover_the_brief():
    sizes = [c["output_size"] for c in CONFIGS]
    assert any(isinstance(s, int) for s in sizes) and any(None in s for s in sizes if isinstance(s, tuple))
    assert any(isinstance(s, tuple) and None not in s and s[0] > c["shape"][2]
               for s, c in zip(sizes, CONFIGS))
    assert any(c["shape"][0] == 1 for c in CONFIGS)


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: str(tuple(c.values())))
def test_adaptive_avg_pool2d_matches_torch(config, device):
    size = config["output_size"]
    x = np.random.default_rng(13).standard_normal(config["shape"]).astype(np.float32)
    check_op(lambda t: F.adaptive_avg_pool2d(t, size), lambda t: TF.adaptive_avg_pool2d(t, size),
             [x], device=device)


@pytest.mark.parametrize("shape", [(2, 3, 17, 19), (1, 64, 7, 7), (3, 2, 1, 1), (1, 1, 256, 300)])
def test_adaptive_avg_pool2d_global_pool_is_the_plane_mean(shape, device):
    x = np.random.default_rng(17).standard_normal(shape).astype(np.float32)
    check_op(lambda t: F.adaptive_avg_pool2d(t, 1), lambda t: TF.adaptive_avg_pool2d(t, 1), [x],
             device=device)
    y = F.adaptive_avg_pool2d(pycnn.tensor(x, device=device), (1, 1)).numpy()
    np.testing.assert_allclose(y, x.astype(np.float64).mean(axis=(2, 3), keepdims=True),
                               rtol=1e-5, atol=1e-6)


def test_adaptive_avg_pool2d_bins_of_a_non_dividing_size(device):
    # 5 -> 3: rows [0, 2), [1, 4), [3, 5) (floor(i*5/3) .. ceil((i+1)*5/3)), so rows 1 and 3 count twice.
    x = pycnn.tensor(np.arange(5, dtype=np.float32).reshape(1, 1, 5, 1), device=device,
                     requires_grad=True)
    y = F.adaptive_avg_pool2d(x, (3, 1))
    np.testing.assert_allclose(y.numpy().ravel(), [0.5, 2.0, 3.5], rtol=1e-6)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy().ravel(), [0.5, 0.5 + 1 / 3, 1 / 3, 1 / 3 + 0.5, 0.5],
                               rtol=1e-6)


def test_adaptive_avg_pool2d_3d_input_and_none_entries(device):
    x = np.random.default_rng(3).standard_normal((4, 6, 9)).astype(np.float32)
    check_op(lambda t: F.adaptive_avg_pool2d(t, (4, None)),
             lambda t: TF.adaptive_avg_pool2d(t, (4, None)), [x], device=device)
    assert F.adaptive_avg_pool2d(pycnn.tensor(x, device=device), (None, 2)).shape == (4, 6, 2)


def test_adaptive_avg_pool2d_zero_output_size_gives_an_empty_result_like_torch(device):
    x = pycnn.tensor(np.ones((1, 2, 4, 4), np.float32), device=device)
    assert F.adaptive_avg_pool2d(x, (0, 3)).shape == tuple(
        TF.adaptive_avg_pool2d(torch.ones(1, 2, 4, 4), (0, 3)).shape) == (1, 2, 0, 3)


@pytest.mark.parametrize("shape, output_size, error, match", [
    ((4, 4), 2, ValueError, r"adaptive_avg_pool2d: expected input to be 3-d .* got shape \(4, 4\)"),
    ((1, 1, 1, 4, 4), 2, ValueError, "adaptive_avg_pool2d: expected input"),
    ((1, 1, 4, 4), (2, -1), ValueError, r"adaptive_avg_pool2d: output_size must be non-negative, got \(2, -1\)"),
    ((1, 1, 4, 4), (2, 2, 2), ValueError, "adaptive_avg_pool2d: expected output_size to be an int or a pair"),
    ((1, 1, 4, 4), 2.5, TypeError, "adaptive_avg_pool2d: expected output_size to be an int"),
])
def test_adaptive_avg_pool2d_bad_arguments_raise(shape, output_size, error, match, device):
    x = pycnn.tensor(np.zeros(shape, np.float32), device=device)
    with pytest.raises(error, match=match):
        F.adaptive_avg_pool2d(x, output_size)


def test_adaptive_avg_pool2d_int64_input_raises(device):
    x = pycnn.tensor(np.zeros((1, 1, 4, 4), np.int64), device=device)
    with pytest.raises(TypeError, match="adaptive_avg_pool2d: expected input to be float32, got int64"):
        F.adaptive_avg_pool2d(x, 2)


def test_adaptive_avg_pool2d_empty_output_returns_at_once():
    # output_size (2^31 - 1, 0) is an empty output, as in torch; the kernels once walked its 2^31 empty
    # rows per plane (minutes; found by tools/fuzz_bindings.py).
    import time

    x = pycnn._C.from_numpy(np.ones((7, 2, 1, 1), np.float32))
    began = time.perf_counter()
    y = pycnn._C.adaptive_avg_pool2d_forward(x, (2**31 - 1, 0))
    dx = pycnn._C.adaptive_avg_pool2d_backward(y, [7, 2, 1, 1], (2**31 - 1, 0))
    assert time.perf_counter() - began < 1.0
    assert y.shape == (7, 2, 2**31 - 1, 0) and np.array_equal(dx.numpy(), np.zeros((7, 2, 1, 1), np.float32))
