"""prelu: forward and both gradients (input, weight) against torch float64."""
import numpy as np
import pytest
import torch

import pycnn
import pycnn.nn.functional as F
from helpers.op_check import check_op, random_configs


def make(rng):
    rank = int(rng.integers(1, 5))
    shape = tuple(int(d) for d in rng.integers(1, 8, size=rank))
    if rng.random() < 0.1:
        shape = (2, 3, 140, 150)
    per_channel = rank >= 2 and rng.random() < 0.6
    weight_shape = (shape[1],) if per_channel else [(1,), ()][int(rng.integers(0, 2))]
    return shape, tuple(int(d) for d in weight_shape)


CONFIGS = random_configs(30, 106, make)


@pytest.mark.parametrize("shape,weight_shape", CONFIGS, ids=[f"{s}-{w}" for s, w in CONFIGS])
def test_prelu_matches_torch(device, shape, weight_shape):
    rng = np.random.default_rng(len(shape) * 10 + len(weight_shape))
    x = (rng.standard_normal(shape) * 2).astype(np.float32)
    w = rng.uniform(-0.5, 0.8, size=weight_shape).astype(np.float32)
    check_op(F.prelu, torch.nn.functional.prelu, [x, w], device=device)


def test_prelu_rejects_bad_input(device):
    x = pycnn.tensor(np.ones((2, 3, 4), np.float32), device=device)
    with pytest.raises(ValueError, match=r"prelu: expected weight of 1 element or of input.size\(1\) = 3"):
        F.prelu(x, pycnn.tensor(np.ones(4, np.float32), device=device))
    with pytest.raises(ValueError, match="prelu: expected weight to be a scalar or 1-d"):
        F.prelu(x, pycnn.tensor(np.ones((3, 1), np.float32), device=device))
    with pytest.raises(TypeError, match="prelu: expected weight to be float32, got int64"):
        F.prelu(x, pycnn.tensor([1], device=device))
    with pytest.raises(TypeError, match="prelu: expected input to be float32, got int64"):
        F.prelu(pycnn.tensor([[1, 2]], device=device), pycnn.tensor([0.1], device=device))


def test_prelu_empty_batch_and_module(device):
    # an empty batch once divided numel by N * C in the binding (SIGFPE)
    check_op(F.prelu, torch.nn.functional.prelu, [np.zeros((0, 3, 2), np.float32), np.ones(3, np.float32)],
             device=device)
    for n in (1, 3):
        ours, ref = pycnn.nn.PReLU(n, init=0.1).to(device), torch.nn.PReLU(n, init=0.1).double()
        assert ours.weight.shape == (n,) and np.allclose(ours.weight.numpy(), 0.1)
        x = np.random.default_rng(n).standard_normal((2, 3, 4)).astype(np.float32)
        check_op(ours, ref, [x], device=device)
        ref(torch.tensor(x, dtype=torch.float64)).sum().backward()
        ours(pycnn.tensor(x, device=device)).sum().backward()
        assert np.allclose(ours.weight.grad.numpy(), ref.weight.grad.numpy(), rtol=1e-4)
