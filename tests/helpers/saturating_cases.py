"""The test cases sigmoid and tanh share (test_sigmoid.py, test_tanh.py): both are elementwise,
saturate for large |x| and take their gradient from the saved output, so each test file writes out its
tests and calls these with its op's name. Forward and backward against torch float64 on random shapes
of rank 0 to 4."""
import numpy as np
import pytest
import torch

import pycnn
import pycnn.nn.functional as F
from helpers.op_check import check_op, random_configs


def make(rng):
    rank = int(rng.integers(0, 5))
    shape = tuple(int(d) for d in rng.integers(1, 8, size=rank))
    if rng.random() < 0.1:  # large enough for the OpenMP path
        shape = (3, 211, 127)
    scale = float(rng.choice([0.5, 1.0, 2.0, 50.0]))
    return shape, scale


def configs(seed):
    """30 (shape, scale) configurations drawn from `seed`, and their test ids."""
    drawn = random_configs(30, seed, make)
    return drawn, [f"{s}x{c}" for s, c in drawn]


def matches_torch(name, device, shape, scale):
    """Op `name` ("sigmoid" or "tanh") against torch float64 on one configuration."""
    ours_op, torch_op = getattr(F, name), getattr(torch, name)
    rng = np.random.default_rng(len(shape) * 1000 + int(scale))
    x = (rng.standard_normal(shape) * scale).astype(np.float32)
    if scale < 10:
        check_op(ours_op, torch_op, [x], device=device)
        return
    # In saturation the gradient from the float32 output (1 - y, 1 - y*y) keeps few
    # significant bits, or none (y rounds to 1), in PyTorch's float32 as in ours: check the
    # forward against float64 and the gradient against PyTorch's float32 (to an ulp of y: libm
    # and PyTorch round tanh differently in the last bit).
    check_op(ours_op, torch_op, [x], device=device, check_grad=False)
    ours = pycnn.tensor(x, device=device, requires_grad=True)
    ours_op(ours).backward(pycnn.tensor(np.ones(shape, np.float32), device=device))
    theirs = torch.tensor(x, requires_grad=True)
    torch_op(theirs).backward(torch.ones(shape))
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-4, atol=1e-6)


def rejects_bad_input(name, device):
    ours_op = getattr(F, name)
    with pytest.raises(TypeError, match=f"^{name}: expected input to be float32, got int64"):
        ours_op(pycnn.tensor(np.arange(6).reshape(2, 3), device=device))
    with pytest.raises(TypeError, match=f"^{name}: expected input to be a pycnn.Tensor"):
        ours_op(np.zeros(3, dtype=np.float32))
