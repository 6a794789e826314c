"""cat: forward/backward vs torch float64 over every dim (negative too) with 1..4 inputs, gradients
only for the inputs that want them, empty slices, and bad input naming the offending tensor."""
import numpy as np
import pytest
import torch

import pycnn
import pycnn.nn.functional as F
from helpers.op_check import check_op, random_configs

CUDA = pycnn.cuda.is_available()


def make_config(rng):
    ndim = int(rng.integers(1, 5))
    dim = int(rng.integers(-ndim, ndim))
    base = [int(v) for v in rng.integers(1, 6, size=ndim)]
    shapes = []
    for _ in range(int(rng.integers(1, 5))):
        shape = list(base)
        shape[dim] = int(rng.integers(1, 6))
        shapes.append(tuple(shape))
    return dict(shapes=shapes, dim=dim)


@pytest.mark.parametrize("cfg", random_configs(36, seed=31, make=make_config),
                         ids=lambda c: f"{len(c['shapes'])}x{c['shapes'][0]}-dim{c['dim']}")
def test_cat_matches_torch(cfg, device):
    rng = np.random.default_rng(3)
    arrays = [rng.standard_normal(s) for s in cfg["shapes"]]
    dim = cfg["dim"]
    check_op(lambda *ts: F.cat(list(ts), dim), lambda *ts: torch.cat(ts, dim), arrays, device=device)


def test_cat_gradient_only_where_wanted(device):
    rng = np.random.default_rng(0)
    a = pycnn.tensor(rng.standard_normal((2, 3)), device=device, requires_grad=True)
    b = pycnn.tensor(rng.standard_normal((2, 4)), device=device)
    c = pycnn.tensor(rng.standard_normal((2, 1)), device=device, requires_grad=True)
    y = pycnn.cat([a, b, c], dim=1)
    assert y.shape == (2, 8)
    upstream = rng.standard_normal((2, 8)).astype(np.float32)
    y.backward(pycnn.tensor(upstream, device=device))
    np.testing.assert_array_equal(a.grad.numpy(), upstream[:, :3])
    assert b.grad is None
    np.testing.assert_array_equal(c.grad.numpy(), upstream[:, 7:])


def test_cat_empty_slice(device):
    a = pycnn.tensor(np.arange(6.0).reshape(2, 3), device=device)
    # pycnn.tensor/zeros refuse 0-size numpy arrays (from_numpy's stride check), so build it in C++.
    e = pycnn.Tensor(pycnn._C.zeros([2, 0], "float32", device))
    np.testing.assert_array_equal(F.cat([e, a, e], 1).numpy(), np.arange(6.0).reshape(2, 3))


def test_cat_bad_input(device):
    a = pycnn.zeros(2, 3, device=device)
    with pytest.raises(ValueError, match="cat: expected a non-empty list of tensors"):
        F.cat([])
    with pytest.raises(TypeError, match="cat: expected a list or tuple of pycnn.Tensor"):
        F.cat(a)
    with pytest.raises(TypeError, match=r"cat: expected tensors\[1\] to be a pycnn.Tensor"):
        F.cat([a, np.zeros((2, 3))])
    with pytest.raises(ValueError, match=r"cat: expected tensors\[2\] to have 2 dimensions"):
        F.cat([a, a, pycnn.zeros(2, 3, 1, device=device)])
    with pytest.raises(ValueError, match=r"cat: expected tensors\[1\] to match tensors\[0\] \(2, 3\) "
                                         r"except in dimension 1, got shape \(4, 3\)"):
        F.cat([a, pycnn.zeros(4, 3, device=device)], dim=1)
    with pytest.raises(ValueError, match=r"cat: expected dim in \[-2, 1\]"):
        F.cat([a, a], dim=2)
    with pytest.raises(TypeError, match=r"cat: expected tensors\[1\] to be float32, got int64"):
        F.cat([a, pycnn.tensor(np.zeros((2, 3), dtype=np.int64), device=device)])
    with pytest.raises(ValueError, match="cat: tensors\\[0\\] is 0-dimensional"):
        F.cat([pycnn.tensor(1.0, device=device)])
    with pytest.raises(TypeError, match="cat: expected dim to be an int"):
        F.cat([a, a], dim=1.0)


@pytest.mark.skipif(not CUDA, reason="no CUDA GPU")
def test_cat_mixed_devices():
    with pytest.raises(ValueError, match=r"cat: expected all tensors on the same device, tensors\[0\] "
                                         r"is on cpu and tensors\[1\] on cuda"):
        F.cat([pycnn.zeros(2, 3), pycnn.zeros(2, 3, device="cuda")])


@pytest.mark.parametrize("dim", [0, 1, 2, -1, -3])
def test_stack_matches_torch(dim, device):
    rng = np.random.default_rng(dim + 10)
    a, b, c = (rng.standard_normal((2, 3)).astype(np.float32) for _ in range(3))
    check_op(lambda *xs: pycnn.stack(list(xs), dim), lambda *xs: torch.stack(list(xs), dim), [a, b, c],
             device=device)
