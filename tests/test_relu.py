"""relu: forward and backward against torch float64 on random shapes of rank 0 to 4."""
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
    scale = float(rng.choice([1.0, 5.0, 50.0]))
    return shape, scale


CONFIGS = random_configs(30, 101, make)


@pytest.mark.parametrize("shape,scale", CONFIGS, ids=[f"{s}x{c}" for s, c in CONFIGS])
def test_relu_matches_torch(device, shape, scale):
    rng = np.random.default_rng(len(shape) * 1000 + int(scale))
    x = (rng.standard_normal(shape) * scale).astype(np.float32)
    check_op(lambda x: F.relu(x), lambda x: torch.relu(x), [x], device=device)


def test_relu_rejects_bad_input(device):
    with pytest.raises(TypeError, match="relu: expected input to be float32, got int64"):
        F.relu(pycnn.tensor(np.arange(6).reshape(2, 3), device=device))
    with pytest.raises(TypeError, match="relu: expected input to be a pycnn.Tensor"):
        F.relu(np.zeros(3, dtype=np.float32))


def test_relu_values_and_gradient_at_zero(device):
    # relu'(0) is taken as 0, as PyTorch does.
    x = pycnn.tensor([-2.0, 0.0, 3.0], device=device, requires_grad=True)
    y = F.relu(x)
    assert y.numpy().tolist() == [0.0, 0.0, 3.0]
    y.backward(pycnn.tensor([1.0, 1.0, 1.0], device=device))
    assert x.grad.numpy().tolist() == [0.0, 0.0, 1.0]


def test_relu_keeps_nan(device):
    # PyTorch propagates NaN through relu; a NaN must reach the loss so fit() can report it.
    x = pycnn.tensor([float("nan"), -1.0, 0.0, 2.0], device=device)
    out = F.relu(x).numpy()
    assert np.isnan(out[0]) and out[1:].tolist() == [0.0, 0.0, 2.0]


def test_relu_backward_at_nan_matches_torch(device):
    # torch's threshold_backward zeroes the gradient only where the output is <= 0: a NaN output
    # passes it on (torch.relu(nan).backward() gives 1).
    values = [float("nan"), -1.0, 0.0, 2.0]
    x = pycnn.tensor(values, device=device, requires_grad=True)
    F.relu(x).backward(pycnn.tensor([3.0, 3.0, 3.0, 3.0], device=device))
    ref = torch.tensor(values, dtype=torch.float64, requires_grad=True)
    torch.relu(ref).backward(torch.full((4,), 3.0, dtype=torch.float64))
    assert x.grad.numpy().tolist() == ref.grad.tolist() == [3.0, 0.0, 0.0, 3.0]


# ----- inplace=True ---------------------------------------------------------------------------------
def test_relu_in_place_writes_into_its_input_as_torch():
    values = np.random.default_rng(3).standard_normal((4, 9))
    x = pycnn.tensor(values, requires_grad=True)
    y = x * 1.5
    out = F.relu(y, inplace=True)
    assert out is y and type(y._fn).__name__ == "ReluFunction"  # y's history now ends in the ReLU
    upstream = np.random.default_rng(4).standard_normal((4, 9))
    (out * pycnn.tensor(upstream)).sum().backward()
    tx = torch.tensor(values, requires_grad=True)
    ty = tx * 1.5
    (torch.relu_(ty) * torch.tensor(upstream)).sum().backward()
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-6)
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-6)
    z = pycnn.tensor(values)  # no gradient wanted: written in place too
    assert pycnn.nn.ReLU(inplace=True)(z) is z and (z.numpy() >= 0).all()


def test_relu_in_place_makes_a_new_tensor_where_writing_is_unsafe():
    values = np.array([-1.0, 2.0, -3.0], np.float32)
    leaf = pycnn.tensor(values, requires_grad=True)  # torch refuses a leaf that requires grad
    assert F.relu(leaf, inplace=True) is not leaf and leaf.numpy().tolist() == values.tolist()
    shared = pycnn.tensor(values)
    view = shared.numpy()  # numpy shares the memory
    assert F.relu(shared, inplace=True) is not shared and view.tolist() == values.tolist()
    # Saved for backward by another op (leaky_relu keeps its input): writing would break its gradient.
    x = pycnn.tensor(values, requires_grad=True)
    y = x * 2.0
    kept = F.leaky_relu(y, 0.1)
    out = F.relu(y, inplace=True)
    assert out is not y
    (kept + out).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [0.2, 4.0, 0.2], rtol=1e-6)
