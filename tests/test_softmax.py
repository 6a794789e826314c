"""softmax: forward and backward against torch float64 along every dim (negative too), large logits."""
import numpy as np
import pytest
import torch

import pycnn
import pycnn.nn.functional as F
from op_check import check_op, random_configs


def make(rng):
    rank = int(rng.integers(1, 5))
    shape = [int(d) for d in rng.integers(1, 8, size=rank)]
    if rng.random() < 0.15:  # big enough for the OpenMP and blocked paths (inner > 256)
        shape = [2, 33, 17, 19] if rng.random() < 0.5 else [300, 120]
        rank = len(shape)
    dim = int(rng.integers(-rank, rank))
    scale = float(rng.choice([1.0, 3.0, 50.0, 100.0]))
    return tuple(shape), dim, scale


CONFIGS = random_configs(30, 107 if "softmax" == "softmax" else 108, make)


@pytest.mark.parametrize("shape,dim,scale", CONFIGS, ids=[f"{s}d{d}x{c}" for s, d, c in CONFIGS])
def test_softmax_matches_torch(device, shape, dim, scale):
    rng = np.random.default_rng(len(shape) * 100 + dim)
    x = (rng.standard_normal(shape) * scale).astype(np.float32)
    if scale < 10 or "softmax" == "log_softmax":
        check_op(lambda x: F.softmax(x, dim), lambda x: torch.softmax(x, dim), [x], device=device)
        return
    # Nearly one-hot outputs: the gradient y * (dy - sum(dy * y)) from the float32 output cancels
    # where y rounds near 1, in PyTorch's float32 as in ours. Forward against float64, gradient
    # against PyTorch's float32 to an absolute float32 rounding of dy.
    check_op(lambda x: F.softmax(x, dim), lambda x: torch.softmax(x, dim), [x], device=device,
             check_grad=False)
    dy = rng.standard_normal(shape).astype(np.float32)
    ours = pycnn.tensor(x, device=device, requires_grad=True)
    F.softmax(ours, dim).backward(pycnn.tensor(dy, device=device))
    theirs = torch.tensor(x, requires_grad=True)
    torch.softmax(theirs, dim).backward(torch.tensor(dy))
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-4, atol=1e-6)


def test_softmax_large_logits_stay_finite(device):
    x = pycnn.tensor([[1000.0, 0.0, -1000.0], [88.0, 89.0, 90.0]], device=device)
    ref = torch.softmax(torch.tensor(x.numpy(), dtype=torch.float64), 1).numpy()
    np.testing.assert_allclose(F.softmax(x, 1).numpy(), ref, rtol=1e-6, atol=1e-30)


def test_softmax_of_0d_tensor(device):
    x = pycnn.tensor(np.float32(3.0), device=device)
    assert F.softmax(x, 0).item() == torch.softmax(torch.tensor(3.0), 0).item()


def test_softmax_rejects_bad_input(device):
    x = pycnn.tensor(np.zeros((2, 3), np.float32), device=device)
    with pytest.raises(ValueError, match=r"softmax: dim 2 is out of range for input of shape \(2, 3\)"):
        F.softmax(x, 2)
    with pytest.raises(ValueError, match=r"softmax: dim -3 is out of range .*\[-2, 1\]"):
        F.softmax(x, -3)
    with pytest.raises(ValueError, match="softmax: expected dim to be an int, got None"):
        F.softmax(x)
    with pytest.raises(TypeError, match="softmax: expected dim to be an int"):
        F.softmax(x, 1.0)
    with pytest.raises(TypeError, match="softmax: expected input to be float32, got int64"):
        F.softmax(pycnn.tensor([[1, 2]], device=device), 1)
