"""batch_norm: forward/backward vs torch float64 (training and eval), running statistics after a
training step, numerical stability with a large mean, and bad input."""
import numpy as np
import pytest
import torch

import pycnn
import pycnn.nn.functional as F
from helpers.op_check import check_op, random_configs


def make_config(rng):
    ndim = int(rng.choice([2, 3, 4]))
    training = bool(rng.integers(2))
    n = int(rng.choice([1, 2, 3, 5]))
    c = int(rng.integers(1, 8))
    spatial = [int(rng.integers(1, 7)) for _ in range(ndim - 2)]
    if training and int(np.prod(spatial, dtype=np.int64)) * n < 2:
        n = 2  # torch refuses a single value per channel in training
    return dict(shape=(n, c, *spatial), training=training, momentum=float(rng.uniform(0, 1)),
                eps=float(10 ** rng.uniform(-5, -1)), affine=bool(rng.integers(4)),
                shift=float(rng.uniform(-3, 3)), spread=float(10 ** rng.uniform(-1, 1)))


CONFIGS = random_configs(36, seed=2024, make=make_config)


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: f"{c['shape']}-{'train' if c['training'] else 'eval'}")
def test_batch_norm_matches_torch(cfg, device):
    rng = np.random.default_rng(7)
    c = cfg["shape"][1]
    x = cfg["shift"] + cfg["spread"] * rng.standard_normal(cfg["shape"])
    w = rng.uniform(0.5, 1.5, c)
    b = rng.standard_normal(c)
    rm = rng.standard_normal(c)
    rv = rng.uniform(0.5, 2.0, c)
    ours_rm, ours_rv = pycnn.tensor(rm, device=device), pycnn.tensor(rv, device=device)
    torch_rm, torch_rv = torch.tensor(rm), torch.tensor(rv)
    kw = dict(training=cfg["training"], momentum=cfg["momentum"], eps=cfg["eps"])
    if cfg["affine"]:
        check_op(lambda x, w, b: F.batch_norm(x, ours_rm, ours_rv, w, b, **kw),
                 lambda x, w, b: torch.nn.functional.batch_norm(x, torch_rm, torch_rv, w, b, **kw),
                 [x, w, b], device=device)
    else:
        check_op(lambda x: F.batch_norm(x, ours_rm, ours_rv, **kw),
                 lambda x: torch.nn.functional.batch_norm(x, torch_rm, torch_rv, **kw),
                 [x], device=device)
    # The running statistics: updated exactly as torch in training, untouched in eval.
    np.testing.assert_allclose(ours_rm.numpy(), torch_rm.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ours_rv.numpy(), torch_rv.numpy(), rtol=1e-5, atol=1e-6)
    if not cfg["training"]:
        np.testing.assert_allclose(ours_rv.numpy(), rv, rtol=1e-7)


def test_batch_norm_running_stats_use_unbiased_variance(device):
    x = np.arange(6, dtype=np.float64).reshape(3, 2)  # channel 0: 0, 2, 4; channel 1: 1, 3, 5
    rm, rv = pycnn.zeros(2, device=device), pycnn.ones(2, device=device)
    F.batch_norm(pycnn.tensor(x, device=device), rm, rv, training=True, momentum=0.5)
    np.testing.assert_allclose(rm.numpy(), [0.5 * 2, 0.5 * 3], rtol=1e-6)
    np.testing.assert_allclose(rv.numpy(), [0.5 + 0.5 * 4.0, 0.5 + 0.5 * 4.0], rtol=1e-6)


def test_batch_norm_training_without_running_stats(device):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 3, 2, 5))
    check_op(lambda x: F.batch_norm(x, None, None, training=True),
             lambda x: torch.nn.functional.batch_norm(x, None, None, training=True), [x], device=device)


def test_batch_norm_large_mean_is_stable(device):
    # A mean of 1e4 with a spread of 1e-1: sum(x^2) - M*mean^2 in float would lose the variance.
    rng = np.random.default_rng(11)
    x = (1e4 + 0.1 * rng.standard_normal((64, 3, 8, 8))).astype(np.float32)
    rm, rv = pycnn.zeros(3, device=device), pycnn.ones(3, device=device)
    y = F.batch_norm(pycnn.tensor(x, device=device), rm, rv, training=True, momentum=1.0).numpy()
    xd = x.astype(np.float64)
    np.testing.assert_allclose(rv.numpy(), xd.var(axis=(0, 2, 3), ddof=1), rtol=1e-4)
    np.testing.assert_allclose(y.std(axis=(0, 2, 3)), 1.0, rtol=1e-3)


def test_batch_norm_bad_input(device):
    x = pycnn.zeros(2, 3, 4, 4, device=device)
    rm, rv = pycnn.zeros(3, device=device), pycnn.ones(3, device=device)
    with pytest.raises(TypeError, match="batch_norm: expected input to be float32"):
        F.batch_norm(pycnn.tensor(np.zeros((2, 3), dtype=np.int64), device=device), None, None,
                     training=True)
    with pytest.raises(ValueError, match=r"batch_norm: expected input of at least 2 dimensions"):
        F.batch_norm(pycnn.zeros(3, device=device), rm, rv)
    with pytest.raises(ValueError, match=r"batch_norm: expected weight of shape \(3,\), got \(4,\)"):
        F.batch_norm(x, rm, rv, weight=pycnn.ones(4, device=device))
    with pytest.raises(ValueError, match=r"batch_norm: expected running_var of shape \(3,\)"):
        F.batch_norm(x, rm, pycnn.ones(2, device=device))
    with pytest.raises(ValueError, match="batch_norm: running_mean and running_var must be given"):
        F.batch_norm(x, None, None, training=False)
    with pytest.raises(ValueError, match="batch_norm: expected more than 1 value per channel"):
        F.batch_norm(pycnn.zeros(1, 3, device=device), rm, rv, training=True)
    with pytest.raises(ValueError, match="batch_norm: expected eps > 0"):
        F.batch_norm(x, rm, rv, eps=0.0)
    with pytest.raises(TypeError, match="batch_norm: expected momentum to be a number"):
        F.batch_norm(x, rm, rv, momentum="0.1")
    with pytest.raises(TypeError, match="batch_norm: expected weight to be a pycnn.Tensor"):
        F.batch_norm(x, rm, rv, weight=np.ones(3))
