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


# ----- relu(batch_norm(x), inplace=True): the ReLU fuses into batch norm's backward ----------------
def make_relu_config(rng):
    # Some shapes pass the kernels' parallel threshold (32K values), with a channel count that
    # splits the work by channel (even, or many) or by row (odd and few, on 2 threads).
    c = int(rng.choice([1, 3, 5, 6, 16]))
    spatial = [int(rng.integers(1, 9)) for _ in range(int(rng.integers(0, 3)))]
    if rng.random() < 0.4:
        spatial = [int(rng.integers(30, 45)), int(rng.integers(30, 45))]
    n = int(rng.choice([2, 3, 8]))
    if n * int(np.prod(spatial, dtype=np.int64)) < 6:
        n = 6  # with 2 or 3 values a channel, the input gradient is a float32 rounding error
    return dict(shape=(n, c, *spatial), training=bool(rng.random() < 0.75), affine=bool(rng.integers(4)))


RELU_CONFIGS = random_configs(16, seed=77, make=make_relu_config)


@pytest.mark.parametrize("cfg", RELU_CONFIGS, ids=lambda c: f"{c['shape']}-{'train' if c['training'] else 'eval'}")
def test_batch_norm_then_relu_in_place_fuses_and_matches_torch(cfg):
    rng = np.random.default_rng(len(cfg["shape"]) * 100 + cfg["shape"][1])
    c = cfg["shape"][1]
    x = rng.standard_normal(cfg["shape"]) * 2.0 + 0.5
    w, b = rng.uniform(-1.5, 1.5, c), rng.standard_normal(c)  # negative scales flip the mask
    rm, rv = rng.standard_normal(c), rng.uniform(0.5, 2.0, c)
    ours_rm, ours_rv = pycnn.tensor(rm), pycnn.tensor(rv)
    torch_rm, torch_rv = torch.tensor(rm), torch.tensor(rv)
    training = cfg["training"]

    def ours(x, w=None, b=None):
        y = F.batch_norm(x, ours_rm, ours_rv, w, b, training=training)
        out = F.relu(y, inplace=True)
        assert out is y and type(out._fn).__name__ == "BatchNormFunction" and out._fn.relu
        return out

    def theirs(x, w=None, b=None):
        return torch.relu(torch.nn.functional.batch_norm(x, torch_rm, torch_rv, w, b, training=training))

    check_op(ours, theirs, [x, w, b] if cfg["affine"] else [x])
    np.testing.assert_allclose(ours_rm.numpy(), torch_rm.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape", [(3, 4, 5, 7), (8, 6, 40, 41), (8, 3, 40, 41)])
def test_fused_relu_gradient_is_the_unfused_one_bit_for_bit(shape, training):
    # The fused backward recomputes each output's sign from x: it must agree with the forward's
    # output everywhere, exact zeros included. Channel 0 holds -1, 0, 1 repeated (mean 0, so with
    # weight 1 and bias 0 a third of its outputs are exactly 0); the others are random.
    rng = np.random.default_rng(5)
    x = rng.standard_normal(shape).astype(np.float32)
    x[:, 0] = np.resize(np.array([-1.0, 0.0, 1.0], np.float32), x[:, 0].shape)
    c = shape[1]
    w = np.r_[1.0, rng.uniform(-1.5, 1.5, c - 1)].astype(np.float32)
    b = np.r_[0.0, rng.standard_normal(c - 1)].astype(np.float32)
    upstream = pycnn.tensor(rng.standard_normal(shape).astype(np.float32))
    grads = []
    for inplace in (False, True):
        xt, wt, bt = (pycnn.tensor(a, requires_grad=True) for a in (x, w, b))
        rm, rv = pycnn.zeros(c), pycnn.ones(c)
        out = F.relu(F.batch_norm(xt, rm, rv, wt, bt, training=training), inplace=inplace)
        assert getattr(out._fn, "relu", False) == inplace
        out.backward(upstream)
        grads.append([t.grad.numpy() for t in (xt, wt, bt)] + [out.numpy()])
    assert (grads[0][3][:, 0] == 0).sum() >= x[:, 0].size // 3  # the exact zeros are there
    for unfused, fused in zip(*grads):
        np.testing.assert_array_equal(fused, unfused)


def test_relu_in_place_does_not_fuse_once_an_op_has_read_the_output():
    # An add took batch norm's output before the ReLU: the add's gradient must reach batch norm
    # unmasked, so the ReLU stays its own op (written in place all the same, as torch does).
    rng = np.random.default_rng(9)
    x = rng.standard_normal((4, 3, 5, 5))
    ours_x = pycnn.tensor(x, requires_grad=True)
    y = F.batch_norm(ours_x, None, None, training=True)
    z = y + 1.0
    out = F.relu(y, inplace=True)
    assert not getattr(out._fn, "relu", False)
    (z * 2.0 + out).sum().backward()
    theirs_x = torch.tensor(x, requires_grad=True)
    ty = torch.nn.functional.batch_norm(theirs_x, None, None, training=True)
    tz = ty + 1.0
    (tz * 2.0 + torch.relu_(ty)).sum().backward()
    np.testing.assert_allclose(ours_x.grad.numpy(), theirs_x.grad.numpy(), rtol=1e-4, atol=1e-5)


def test_relu_in_place_after_the_backward_freed_batch_norm():
    # backward freed what batch norm saved: the ReLU can no longer fuse, and is an op of its own
    # (a second backward through it raises, as any backward through a freed graph does).
    x = pycnn.tensor(np.random.default_rng(2).standard_normal((4, 3, 5, 5)), requires_grad=True)
    y = F.batch_norm(x, None, None, training=True)
    y.sum().backward()
    out = F.relu(y, inplace=True)
    assert out is y and type(out._fn).__name__ == "ReluFunction" and (y.numpy() >= 0).all()
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        out.sum().backward()


def test_batch_norm_backward_checks_the_bias_the_relu_mask_reads():
    x = pycnn.zeros(2, 3, 4, 4)
    _, mean, rstd = pycnn._C.batch_norm_forward(x._data, None, None, None, None, True, 0.1, 1e-5)
    with pytest.raises(ValueError, match=r"batch_norm: expected bias of shape \(3,\), got \(2,\)"):
        pycnn._C.batch_norm_backward(x._data, x._data, mean, rstd, None, True, True, False, False,
                                     pycnn.zeros(2)._data, True)
