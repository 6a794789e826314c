"""gelu: forward and backward against torch float64 in both modes on random shapes, dense grids,
the extremes and bad input."""
import numpy as np
import pytest
import torch

import pycnn
import pycnn.nn as nn
import pycnn.nn.functional as F
from helpers.activation_cases import EXTREMES, dense_grid, elementwise_matches, random_shape
from helpers.op_check import check_op, random_configs


def make(rng):
    mode = str(rng.choice(["none", "tanh", "default"]))
    return random_shape(rng), mode, float(rng.choice([0.5, 2.0, 8.0]))


CONFIGS = random_configs(30, 304, make)


@pytest.mark.parametrize("shape,mode,scale", CONFIGS, ids=[f"{s}-{m}x{c}" for s, m, c in CONFIGS])
def test_gelu_matches_torch(device, shape, mode, scale):
    rng = np.random.default_rng(len(shape))
    x = (rng.standard_normal(shape) * scale).astype(np.float32)
    if mode == "default":
        check_op(F.gelu, torch.nn.functional.gelu, [x], device=device)
    else:
        check_op(lambda x: F.gelu(x, approximate=mode),
                 lambda x: torch.nn.functional.gelu(x, approximate=mode), [x], device=device)


def exact_gelu(t, mode):
    """torch float64's own gelu loses the left tail (1 + erf(x/sqrt2) cancels to 0 by x = -8.3):
    the same functions written without the cancellation, for the dense grid."""
    if mode == "none":
        return t * 0.5 * torch.special.erfc(-t / np.sqrt(2.0))
    return t * torch.sigmoid(2.0 * np.sqrt(2.0 / np.pi) * (t + 0.044715 * t ** 3))


@pytest.mark.parametrize("mode", ["none", "tanh"])
def test_gelu_dense_grid_and_extremes(device, mode):
    # Down to where gelu underflows float32: erfc keeps its relative accuracy in the left tail,
    # where the error grows with the rounding of x^2 (rtol); the gradient crosses zero at x = -0.75
    # as a sum of O(0.3) terms (grad_atol).
    fn = lambda t: F.gelu(t, approximate=mode)  # noqa: E731
    elementwise_matches(fn, lambda t: exact_gelu(t, mode), dense_grid(-13.0, 13.0), device,
                        rtol=2e-5, atol=1e-37, grad_atol=6e-8)
    elementwise_matches(fn, lambda t: torch.nn.functional.gelu(t, approximate=mode), EXTREMES,
                        device, rtol=2e-6, atol=1e-37)


def test_gelu_layer(device):
    x = pycnn.tensor([-1.0, 0.0, 2.0], device=device)
    np.testing.assert_allclose(nn.GELU()(x).numpy(), [-0.15865525, 0.0, 1.9544997], rtol=1e-6)
    np.testing.assert_allclose(nn.GELU("tanh")(x).numpy(), [-0.15880801, 0.0, 1.9545977], rtol=1e-6)
    assert repr(nn.GELU()) == repr(torch.nn.GELU()) == "GELU(approximate='none')"
    assert repr(nn.GELU(approximate="tanh")) == repr(torch.nn.GELU(approximate="tanh"))


def test_gelu_rejects_bad_input(device):
    x = pycnn.tensor([1.0, -1.0], device=device)
    with pytest.raises(TypeError, match="gelu: expected input to be float32, got int64"):
        F.gelu(pycnn.tensor([1, 2], device=device))
    with pytest.raises(ValueError, match="gelu: expected approximate to be 'none' or 'tanh', got 'foo'"):
        F.gelu(x, approximate="foo")
    with pytest.raises(TypeError, match="gelu: expected approximate to be a str"):
        F.gelu(x, approximate=None)
    with pytest.raises(ValueError, match="gelu: expected approximate to be 'none' or 'tanh', got 'foo'"):
        nn.GELU("foo")(x)
