"""leaky_relu: forward and backward against torch float64 on random shapes and slopes."""
import numpy as np
import pytest
import torch

import pycnn
import pycnn.nn.functional as F
from helpers.op_check import check_op, random_configs


def make(rng):
    rank = int(rng.integers(0, 5))
    shape = tuple(int(d) for d in rng.integers(1, 8, size=rank))
    if rng.random() < 0.1:
        shape = (2, 300, 129)
    # Slopes that are exact in float32, negative ones included (x < 0 then maps to y > 0).
    slope = float(rng.choice([0.01, 0.2, 0.0, -0.5, 1.5])) if rng.random() < 0.8 else None
    return shape, slope


CONFIGS = random_configs(30, 104, make)


@pytest.mark.parametrize("shape,slope", CONFIGS, ids=[f"{s}-{a}" for s, a in CONFIGS])
def test_leaky_relu_matches_torch(device, shape, slope):
    rng = np.random.default_rng(len(shape))
    x = (rng.standard_normal(shape) * 3).astype(np.float32)
    if slope is None:  # the default, 0.01, on both sides
        check_op(F.leaky_relu, torch.nn.functional.leaky_relu, [x], device=device)
    else:
        check_op(lambda x: F.leaky_relu(x, slope),
                 lambda x: torch.nn.functional.leaky_relu(x, slope), [x], device=device)


def test_leaky_relu_default_slope(device):
    y = F.leaky_relu(pycnn.tensor([-100.0, 2.0], device=device))
    np.testing.assert_allclose(y.numpy(), [-1.0, 2.0], rtol=1e-6)


def test_leaky_relu_rejects_bad_input(device):
    x = pycnn.tensor([1.0, -1.0], device=device)
    with pytest.raises(TypeError, match="leaky_relu: expected input to be float32, got int64"):
        F.leaky_relu(pycnn.tensor([1, 2], device=device))
    with pytest.raises(TypeError, match="leaky_relu: expected negative_slope to be a number"):
        F.leaky_relu(x, "0.1")
