"""The test cases softmax and log_softmax share (test_softmax.py, test_log_softmax.py): the two ops
take the same arguments and must behave the same way, so each test file writes out its tests and calls
these with its op's name. Forward and backward against torch float64 along every dim (negative too),
large logits."""
import numpy as np
import pytest
import torch

import pycnn
import pycnn.nn.functional as F
from helpers.op_check import check_op, random_configs


def make(rng):
    rank = int(rng.integers(1, 5))
    shape = [int(d) for d in rng.integers(1, 8, size=rank)]
    if rng.random() < 0.15:  # big enough for the OpenMP and blocked paths (inner > 256)
        shape = [2, 33, 17, 19] if rng.random() < 0.5 else [300, 120]
        rank = len(shape)
    dim = int(rng.integers(-rank, rank))
    scale = float(rng.choice([1.0, 3.0, 50.0, 100.0]))
    return tuple(shape), dim, scale


def configs(seed):
    """30 (shape, dim, scale) configurations drawn from `seed`, and their test ids."""
    drawn = random_configs(30, seed, make)
    return drawn, [f"{s}d{d}x{c}" for s, d, c in drawn]


def matches_torch(name, device, shape, dim, scale):
    """Op `name` ("softmax" or "log_softmax") against torch float64 on one configuration."""
    ours_op, torch_op = getattr(F, name), getattr(torch, name)
    rng = np.random.default_rng(len(shape) * 100 + dim)
    x = (rng.standard_normal(shape) * scale).astype(np.float32)
    if scale < 10 or name == "log_softmax":
        check_op(lambda x: ours_op(x, dim), lambda x: torch_op(x, dim), [x], device=device)
        return
    # Nearly one-hot outputs: the gradient y * (dy - sum(dy * y)) from the float32 output
    # cancels where y rounds near 1, in PyTorch's float32 as in ours. Forward against float64,
    # gradient against PyTorch's float32 to an absolute float32 rounding of dy.
    check_op(lambda x: ours_op(x, dim), lambda x: torch_op(x, dim), [x], device=device,
             check_grad=False)
    dy = rng.standard_normal(shape).astype(np.float32)
    ours = pycnn.tensor(x, device=device, requires_grad=True)
    ours_op(ours, dim).backward(pycnn.tensor(dy, device=device))
    theirs = torch.tensor(x, requires_grad=True)
    torch_op(theirs, dim).backward(torch.tensor(dy))
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-4, atol=1e-6)


def large_logits_stay_finite(name, device):
    ours_op, torch_op = getattr(F, name), getattr(torch, name)
    x = pycnn.tensor([[1000.0, 0.0, -1000.0], [88.0, 89.0, 90.0]], device=device)
    ref = torch_op(torch.tensor(x.numpy(), dtype=torch.float64), 1).numpy()
    np.testing.assert_allclose(ours_op(x, 1).numpy(), ref, rtol=1e-6, atol=1e-30)


def of_0d_tensor(name, device):
    ours_op, torch_op = getattr(F, name), getattr(torch, name)
    x = pycnn.tensor(np.float32(3.0), device=device)
    assert ours_op(x, 0).item() == torch_op(torch.tensor(3.0), 0).item()


def rejects_bad_input(name, device):
    ours_op = getattr(F, name)
    x = pycnn.tensor(np.zeros((2, 3), np.float32), device=device)
    with pytest.raises(ValueError,
                       match=rf"^{name}: dim 2 is out of range for input of shape \(2, 3\)"):
        ours_op(x, 2)
    with pytest.raises(ValueError, match=rf"^{name}: dim -3 is out of range .*\[-2, 1\]"):
        ours_op(x, -3)
    with pytest.raises(ValueError, match=f"^{name}: expected dim to be an int, got None"):
        ours_op(x)
    with pytest.raises(TypeError, match=f"^{name}: expected dim to be an int"):
        ours_op(x, 1.0)
    with pytest.raises(TypeError, match=f"^{name}: expected input to be float32, got int64"):
        ours_op(pycnn.tensor([[1, 2]], device=device), 1)
