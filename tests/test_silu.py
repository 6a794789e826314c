"""silu: forward and backward against torch float64 on random shapes, dense grids, the extremes
(NaN, infinities, +-100, +-1e-6) and bad input."""
import numpy as np
import pytest
import torch

import pycnn
import pycnn.nn as nn
import pycnn.nn.functional as F
from helpers.activation_cases import EXTREMES, dense_grid, elementwise_matches, random_shape
from helpers.op_check import check_op, random_configs


def make(rng):
    return random_shape(rng), float(rng.choice([0.5, 3.0, 20.0]))


CONFIGS = random_configs(30, 302, make)


@pytest.mark.parametrize("shape,scale", CONFIGS, ids=[f"{s}x{c}" for s, c in CONFIGS])
def test_silu_matches_torch(device, shape, scale):
    rng = np.random.default_rng(len(shape))
    x = (rng.standard_normal(shape) * scale).astype(np.float32)
    check_op(F.silu, torch.nn.functional.silu, [x], device=device)


def test_silu_dense_grid_and_extremes(device):
    # Below x ~ -88 e^-x overflows float32 and silu gives -0 where float64 has ~1e-37 or less; the
    # gradient s (1 + x (1 - s)) crosses zero at x = -1.28 by cancellation (grad_atol).
    for x in (dense_grid(-80.0, 80.0), EXTREMES):
        elementwise_matches(F.silu, torch.nn.functional.silu, x, device, rtol=2e-6, atol=1e-30,
                            grad_atol=3e-8)


def test_silu_layer(device):
    x = pycnn.tensor([-2.0, 0.0, 3.0], device=device)
    np.testing.assert_allclose(nn.SiLU()(x).numpy(), [-2.0 / (1 + np.exp(2.0)), 0.0,
                                                      3.0 / (1 + np.exp(-3.0))], rtol=1e-6)
    assert repr(nn.SiLU()) == repr(torch.nn.SiLU()) == "SiLU()"
    assert repr(nn.SiLU(inplace=True)) == repr(torch.nn.SiLU(inplace=True))
    assert F.silu(x, inplace=True) is not x and x.numpy()[0] == -2.0


def test_silu_rejects_bad_input(device):
    with pytest.raises(TypeError, match="silu: expected input to be float32, got int64"):
        F.silu(pycnn.tensor([1, 2], device=device))
    with pytest.raises(TypeError, match="silu: expected inplace to be a bool"):
        F.silu(pycnn.tensor([1.0], device=device), 1)
