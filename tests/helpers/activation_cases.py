"""What the smooth activation tests share (test_elu.py, test_gelu.py, test_silu.py,
test_softplus.py): random shapes of rank 0 to 4 (empty ones and one large enough for the threaded
path included) and an elementwise comparison against torch float64, forward and backward, that
also holds at NaN and the infinities and on dense grids where a norm-wise check would hide a bad
tail."""
import numpy as np
import torch

import pycnn

EXTREMES = np.array([100.0, -100.0, 1e-6, -1e-6, 0.0, -0.0, 30.0, -30.0, 88.0, -88.0, 1e-30, -1e-30,
                     np.nan, np.inf, -np.inf], dtype=np.float32)


def random_shape(rng):
    draw = rng.random()
    if draw < 0.1:
        return (3, 211, 127)  # above parallel_range's threshold: the threaded path
    if draw < 0.2:
        return tuple(int(d) for d in rng.integers(0, 3, size=int(rng.integers(1, 4)))) + (0,)
    return tuple(int(d) for d in rng.integers(1, 8, size=int(rng.integers(0, 5))))


def elementwise_matches(ours_fn, torch_fn, x, device, rtol=1e-5, atol=1e-37, grad_atol=None):
    """ours_fn(x) and its gradient (upstream ones) against torch_fn in float64, element by element:
    |ours - ref| <= atol + rtol * |ref|, NaN where torch has NaN and nowhere else. ``grad_atol``
    (default atol) allows for a gradient that is a difference of O(1) terms crossing zero, where
    float32 leaves an absolute error of an ulp of 1 whatever the formula."""
    x = np.asarray(x, dtype=np.float32)
    ours = pycnn.tensor(x, device=device, requires_grad=True)
    y = ours_fn(ours)
    y.backward(pycnn.tensor(np.ones(x.shape, np.float32), device=device))
    ref_x = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    ref = torch_fn(ref_x)
    ref.backward(torch.ones_like(ref))
    np.testing.assert_allclose(y.numpy(), ref.detach().numpy(), rtol=rtol, atol=atol,
                               equal_nan=True, err_msg="forward")
    np.testing.assert_allclose(ours.grad.numpy(), ref_x.grad.numpy(), rtol=rtol,
                               atol=atol if grad_atol is None else grad_atol,
                               equal_nan=True, err_msg="backward")


def dense_grid(low, high, count=40001):
    """A float32 grid over [low, high] plus small magnitudes of both signs down to 1e-30."""
    tiny = np.logspace(-30, -1, 300)
    return np.concatenate([np.linspace(low, high, count), tiny, -tiny]).astype(np.float32)
