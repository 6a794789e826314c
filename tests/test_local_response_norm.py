"""local_response_norm: forward/backward vs torch float64 (odd and even sizes), the ONNX window
(window_before=(size-1)//2) against a float64 reference of the formula, and bad input."""
import numpy as np
import pytest
import torch

import pycnn
import pycnn.nn.functional as F
from helpers.op_check import check_op, random_configs


def lrn_reference(x, size, before, alpha, beta, k):
    """b_c = a_c / (k + alpha/size * sum_{j=c-before}^{c-before+size-1} a_j^2)^beta, zero padded."""
    after = size - 1 - before
    squares = torch.nn.functional.pad((x * x).movedim(1, -1), (before, after)).movedim(-1, 1)
    window = sum(squares.narrow(1, j, x.shape[1]) for j in range(size))
    return x / (k + alpha / size * window) ** beta


def make_config(rng):
    ndim = int(rng.choice([3, 4, 5]))
    shape = (int(rng.choice([1, 2, 3])), int(rng.integers(1, 10)),
             *[int(rng.integers(1, 6)) for _ in range(ndim - 2)])
    return dict(shape=shape, size=int(rng.integers(1, 8)), alpha=float(10 ** rng.uniform(-4, 0.5)),
                beta=float(rng.uniform(0.3, 1.5)), k=float(rng.uniform(0.5, 2.5)))


CONFIGS = random_configs(36, seed=99, make=make_config)


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: f"{c['shape']}-size{c['size']}")
def test_local_response_norm_matches_torch(cfg, device):
    x = 2.0 * np.random.default_rng(5).standard_normal(cfg["shape"])
    args = (cfg["size"], cfg["alpha"], cfg["beta"], cfg["k"])
    check_op(lambda x: F.local_response_norm(x, *args),
             lambda x: torch.nn.functional.local_response_norm(x, *args), [x], device=device)


@pytest.mark.parametrize("size", [2, 4, 6, 3, 5])
def test_local_response_norm_onnx_window(size, device):
    x = 2.0 * np.random.default_rng(size).standard_normal((2, 7, 3, 4))
    before = (size - 1) // 2
    check_op(lambda x: F.local_response_norm(x, size, 0.5, 0.75, 1.0, window_before=before),
             lambda x: lrn_reference(x, size, before, 0.5, 0.75, 1.0), [x], device=device)


def test_local_response_norm_reference_is_torch_window():
    # The reference above with before=size//2 is torch's LRN, so the ONNX test checks the right thing.
    x = torch.tensor(np.random.default_rng(0).standard_normal((2, 6, 3)))
    for size in range(1, 8):
        torch.testing.assert_close(lrn_reference(x, size, size // 2, 0.3, 0.6, 1.5),
                                   torch.nn.functional.local_response_norm(x, size, 0.3, 0.6, 1.5))


def test_local_response_norm_even_size_windows_differ(device):
    x = pycnn.tensor(np.random.default_rng(1).standard_normal((1, 5, 2)), device=device)
    a = F.local_response_norm(x, 4, alpha=1.0).numpy()
    b = F.local_response_norm(x, 4, alpha=1.0, window_before=1).numpy()
    assert np.abs(a - b).max() > 1e-3


def test_local_response_norm_bad_input(device):
    x = pycnn.zeros(2, 3, 4, device=device)
    with pytest.raises(ValueError, match=r"local_response_norm: expected input of at least 3 dimensions"):
        F.local_response_norm(pycnn.zeros(2, 3, device=device), 3)
    with pytest.raises(TypeError, match="local_response_norm: expected input to be float32"):
        F.local_response_norm(pycnn.tensor(np.zeros((1, 2, 3), dtype=np.int64), device=device), 3)
    with pytest.raises(ValueError, match="local_response_norm: expected size > 0, got 0"):
        F.local_response_norm(x, 0)
    with pytest.raises(TypeError, match="local_response_norm: expected size to be an int"):
        F.local_response_norm(x, 2.5)
    with pytest.raises(ValueError, match=r"local_response_norm: expected window_before in \[0, size - 1\]"):
        F.local_response_norm(x, 3, window_before=3)
    with pytest.raises(TypeError, match="local_response_norm: expected beta to be a number"):
        F.local_response_norm(x, 3, beta=None)
