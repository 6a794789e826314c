"""softplus: forward and backward against torch float64 on random shapes, betas and thresholds
(inputs around the threshold included), dense grids, the extremes and bad input."""
import numpy as np
import pytest
import torch

import pycnn
import pycnn.nn as nn
import pycnn.nn.functional as F
from helpers.activation_cases import EXTREMES, dense_grid, elementwise_matches, random_shape
from helpers.op_check import check_op, random_configs


def make(rng):
    if rng.random() < 0.25:
        return random_shape(rng), None, None  # the defaults, beta=1, threshold=20
    return random_shape(rng), float(rng.choice([1.0, 0.5, 2.0, 3.0])), float(rng.choice([20.0, 1.0, 5.0]))


CONFIGS = random_configs(30, 303, make)


@pytest.mark.parametrize("shape,beta,threshold", CONFIGS,
                         ids=[f"{s}-{b}-{t}" for s, b, t in CONFIGS])
def test_softplus_matches_torch(device, shape, beta, threshold):
    rng = np.random.default_rng(len(shape))
    x = (rng.standard_normal(shape) * 4).astype(np.float32)
    if beta is None:
        check_op(F.softplus, torch.nn.functional.softplus, [x], device=device)
    else:
        check_op(lambda x: F.softplus(x, beta, threshold),
                 lambda x: torch.nn.functional.softplus(x, beta, threshold), [x], device=device)


@pytest.mark.parametrize("beta,threshold", [(1.0, 20.0), (2.0, 5.0), (0.5, 1.0), (1.0, 80.0),
                                            (-1.0, 20.0)])
def test_softplus_dense_grid_and_extremes(device, beta, threshold):
    # Inputs on both sides of beta * x = threshold. Where e^(beta x) would pass float32's range
    # (threshold 80) the stable form stays finite, like float64. Below FLT_MIN (atol) e^(beta x)
    # may flush to 0 where float64 keeps a subnormal.
    near = (threshold / beta + np.array([-1e-3, -1e-5, 0.0, 1e-5, 1e-3])).astype(np.float32)
    fn = lambda t: F.softplus(t, beta, threshold)  # noqa: E731
    ref = lambda t: torch.nn.functional.softplus(t, beta, threshold)  # noqa: E731
    for x in (dense_grid(-60.0, 60.0), EXTREMES, near):
        elementwise_matches(fn, ref, x, device, rtol=2e-6, atol=1e-37)


def test_softplus_large_threshold_stays_finite(device):
    # torch's log1p(exp(beta x)) overflows even in float64 at x = 1000 (it returns inf); the
    # value is x + log1p(e^-x) = 1000 to float precision.
    x = pycnn.tensor([1000.0, 500.0, -1000.0], device=device, requires_grad=True)
    y = F.softplus(x, 1.0, 1e6)
    y.backward(pycnn.tensor([1.0, 1.0, 1.0], device=device))
    np.testing.assert_array_equal(y.numpy(), [1000.0, 500.0, 0.0])
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 1.0, 0.0])


def test_softplus_layer(device):
    x = pycnn.tensor([-2.0, 0.0, 30.0], device=device)
    np.testing.assert_allclose(nn.Softplus(beta=2.0)(x).numpy(), [np.log1p(np.exp(-4.0)) / 2,
                                                                  np.log(2.0) / 2, 30.0], rtol=1e-6)
    assert repr(nn.Softplus()) == repr(torch.nn.Softplus()) == "Softplus(beta=1.0, threshold=20.0)"
    assert repr(nn.Softplus(beta=2, threshold=10)) == repr(torch.nn.Softplus(beta=2, threshold=10))


def test_softplus_rejects_bad_input(device):
    x = pycnn.tensor([1.0, -1.0], device=device)
    with pytest.raises(TypeError, match="softplus: expected input to be float32, got int64"):
        F.softplus(pycnn.tensor([1, 2], device=device))
    with pytest.raises(TypeError, match="softplus: expected beta to be a number"):
        F.softplus(x, "1")
    with pytest.raises(TypeError, match="softplus: expected threshold to be a number"):
        F.softplus(x, 1.0, None)
