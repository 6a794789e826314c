"""elu: forward and backward against torch float64 on random shapes and alphas, dense grids, the
extremes (NaN, infinities, +-100, +-1e-6) and bad input."""
import numpy as np
import pytest
import torch

import pycnn
import pycnn.nn as nn
import pycnn.nn.functional as F
from helpers.activation_cases import EXTREMES, dense_grid, elementwise_matches, random_shape
from helpers.op_check import check_op, random_configs


def make(rng):
    alpha = float(rng.choice([1.0, 0.5, 2.0, 0.0, -0.75])) if rng.random() < 0.8 else None
    return random_shape(rng), alpha


CONFIGS = random_configs(30, 301, make)


@pytest.mark.parametrize("shape,alpha", CONFIGS, ids=[f"{s}-{a}" for s, a in CONFIGS])
def test_elu_matches_torch(device, shape, alpha):
    rng = np.random.default_rng(len(shape))
    x = (rng.standard_normal(shape) * 3).astype(np.float32)
    if alpha is None:  # the default, 1.0, on both sides
        check_op(F.elu, torch.nn.functional.elu, [x], device=device)
    else:
        check_op(lambda x: F.elu(x, alpha), lambda x: torch.nn.functional.elu(x, alpha), [x],
                 device=device)


@pytest.mark.parametrize("alpha", [1.0, 0.3])
def test_elu_dense_grid_and_extremes(device, alpha):
    # expm1, not exp - 1: elu(-1e-6) is -1e-6 * alpha to float precision, not 9.5e-7.
    for x in (dense_grid(-40.0, 40.0), EXTREMES):
        elementwise_matches(lambda t: F.elu(t, alpha), lambda t: torch.nn.functional.elu(t, alpha),
                            x, device, rtol=2e-6)


def test_elu_layer(device):
    x = pycnn.tensor([-2.0, 0.0, 3.0], device=device)
    np.testing.assert_allclose(nn.ELU(alpha=0.5)(x).numpy(), [0.5 * np.expm1(-2.0), 0.0, 3.0],
                               rtol=1e-6)
    assert repr(nn.ELU()) == repr(torch.nn.ELU()) == "ELU(alpha=1.0)"
    assert repr(nn.ELU(alpha=0.5, inplace=True)) == repr(torch.nn.ELU(alpha=0.5, inplace=True))
    # inplace is accepted; the result is a new tensor, the input is left alone.
    assert F.elu(x, inplace=True) is not x and x.numpy()[0] == -2.0


def test_elu_rejects_bad_input(device):
    x = pycnn.tensor([1.0, -1.0], device=device)
    with pytest.raises(TypeError, match="elu: expected input to be float32, got int64"):
        F.elu(pycnn.tensor([1, 2], device=device))
    with pytest.raises(TypeError, match="elu: expected alpha to be a number"):
        F.elu(x, "1.0")
    with pytest.raises(TypeError, match="elu: expected inplace to be a bool"):
        F.elu(x, 1.0, "yes")
    with pytest.raises(TypeError, match="elu: expected input to be a pycnn.Tensor"):
        F.elu(np.ones(3, np.float32))
