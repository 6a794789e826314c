"""kl_div / KLDivLoss, cosine_similarity / CosineSimilarity and one_hot against torch: values and
gradients in float64, every reduction, log targets, zero targets, broadcast and zero rows."""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import pycnn
import pycnn.nn.functional as F
from helpers.op_check import random_configs
from pycnn import nn


def _kl_case(rng):
    shape = tuple(int(s) for s in rng.integers(1, 6, rng.integers(1, 4)))
    return shape, ["mean", "batchmean", "sum", "none"][int(rng.integers(4))], bool(rng.integers(2)), \
        int(rng.integers(1 << 30))


@pytest.mark.parametrize("case", random_configs(24, 61, _kl_case), ids=lambda c: f"{c[0]}-{c[1]}-log{c[2]}")
def test_kl_div_matches_torch(case, device):
    shape, reduction, log_target, seed = case
    rng = np.random.default_rng(seed)
    x = np.log(rng.random(shape) + 0.05)
    t = rng.random(shape)
    t[rng.random(shape) < 0.2] = 0.0  # zero targets: the xlogy term is 0
    if log_target:
        t = np.log(t + 0.01)
    tx, tt = torch.tensor(x, requires_grad=True), torch.tensor(t, requires_grad=True)
    ref = TF.kl_div(tx, tt, reduction=reduction, log_target=log_target)
    upstream = rng.standard_normal(tuple(ref.shape))
    ref.backward(torch.tensor(upstream))
    px = pycnn.tensor(x.astype(np.float32), device=device, requires_grad=True)
    pt = pycnn.tensor(t.astype(np.float32), device=device, requires_grad=True)
    out = F.kl_div(px, pt, reduction=reduction, log_target=log_target)
    out.backward(pycnn.tensor(upstream.astype(np.float32), device=device))
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(px.grad.numpy(), tx.grad.numpy(), rtol=1e-5, atol=1e-6)
    # the target's gradient: log t + 1 - x, NaN where t is 0 in both
    np.testing.assert_allclose(pt.grad.numpy(), tt.grad.numpy(), rtol=1e-4, atol=1e-5, equal_nan=True)
    layer = nn.KLDivLoss(reduction=reduction, log_target=log_target)
    np.testing.assert_array_equal(layer(px, pt).numpy(), out.numpy())


def test_kl_div_errors():
    x = pycnn.ones(2, 3)
    with pytest.raises(ValueError, match=r"kl_div: expected reduction to be 'none', 'mean', 'sum' or 'batchmean'"):
        F.kl_div(x, x, reduction="avg")
    with pytest.raises(ValueError, match=r"kl_div: expected input and target of the same shape"):
        F.kl_div(x, pycnn.ones(3, 2))
    with pytest.raises(ValueError, match=r"KLDivLoss: expected reduction in"):
        nn.KLDivLoss(reduction="avg")


@pytest.mark.parametrize("shapes, dim", [(((4, 5), (4, 5)), 1), (((3, 4, 5), (4, 1)), 1), (((2, 3), (3,)), -1),
                                         (((6,), (6,)), 0), (((2, 3, 4), (2, 3, 4)), 2)])
def test_cosine_similarity_matches_torch(shapes, dim, device):
    rng = np.random.default_rng(len(shapes[0]) + dim)
    a, b = rng.standard_normal(shapes[0]), rng.standard_normal(shapes[1])
    a.reshape(-1)[:3] = 0.0  # near-zero norms meet eps
    ta, tb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    ref = TF.cosine_similarity(ta, tb, dim)
    upstream = rng.standard_normal(tuple(ref.shape))
    ref.backward(torch.tensor(upstream))
    pa = pycnn.tensor(a.astype(np.float32), device=device, requires_grad=True)
    pb = pycnn.tensor(b.astype(np.float32), device=device, requires_grad=True)
    out = F.cosine_similarity(pa, pb, dim)
    out.backward(pycnn.tensor(upstream.astype(np.float32), device=device))
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), rtol=1e-5, atol=1e-6)
    for ours, theirs in ((pa, ta), (pb, tb)):
        scale = np.abs(theirs.grad.numpy()).max()
        np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=0, atol=1e-5 * scale)
    np.testing.assert_array_equal(nn.CosineSimilarity(dim)(pa, pb).numpy(), out.numpy())


def test_one_hot_matches_torch():
    idx = np.array([[0, 3], [2, 2], [1, 0]])
    np.testing.assert_array_equal(F.one_hot(pycnn.tensor(idx)).numpy(), TF.one_hot(torch.tensor(idx)).numpy())
    got = F.one_hot(pycnn.tensor(idx), 6)
    assert got.dtype == "int64" and got.shape == (3, 2, 6)
    np.testing.assert_array_equal(got.numpy(), TF.one_hot(torch.tensor(idx), 6).numpy())
    with pytest.raises(ValueError, match=r"one_hot: class values must be smaller than num_classes=3, got 3"):
        F.one_hot(pycnn.tensor(idx), 3)
    with pytest.raises(ValueError, match=r"one_hot: class values must be non-negative"):
        F.one_hot(pycnn.tensor(np.array([-1])))
    with pytest.raises(TypeError, match=r"one_hot: expected an int64 tensor"):
        F.one_hot(pycnn.ones(3))
