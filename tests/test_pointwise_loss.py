"""The pointwise losses (cpp/src/{cpu,cuda}/pointwise_loss.*, pycnn/nn/functional/loss.py): l1_loss,
smooth_l1_loss, huber_loss, binary_cross_entropy and binary_cross_entropy_with_logits, and their
layers, against torch float64: the loss and the gradients of input, target and pos_weight, every
reduction, weights, ties (input == target, where the gradient's sign is 0) and extreme logits."""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import pycnn
import pycnn.nn.functional as F
from helpers.op_check import random_configs
from pycnn import nn

LOSSES = ["l1_loss", "smooth_l1_loss", "huber_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits"]


def _case(rng):
    name = LOSSES[int(rng.integers(len(LOSSES)))]
    shape = tuple(int(s) for s in rng.integers(1, 7, rng.integers(0, 4)))
    kwargs = {"reduction": ["mean", "sum", "none"][int(rng.integers(3))]}
    if name == "smooth_l1_loss":
        kwargs["beta"] = float(rng.choice([1.0, 0.5, 0.0, 2.5]))
    if name == "huber_loss":
        kwargs["delta"] = float(rng.choice([1.0, 0.3, 2.5]))
    weights = {}
    if name in ("l1_loss", "huber_loss") and rng.random() < 0.4:
        weights["weight"] = shape
    if name.startswith("binary") and rng.random() < 0.5:  # broadcast: one per class, or the input's
        weights["weight"] = shape[-1:] if shape and rng.random() < 0.5 else shape
    if name == "binary_cross_entropy_with_logits" and shape and rng.random() < 0.6:
        weights["pos_weight"] = shape[-1:]
    return name, shape, kwargs, weights, int(rng.integers(1 << 30))


def _arrays(name, shape, rng):
    if name == "binary_cross_entropy":
        x, t = rng.random(shape), rng.random(shape)
        x = np.where(rng.random(shape) < 0.15, rng.choice([0.0, 1.0], shape), x)  # the logs' clamp
        return x, t
    if name == "binary_cross_entropy_with_logits":
        x = rng.standard_normal(shape) * 6
        x = np.where(rng.random(shape) < 0.15, rng.choice([-120.0, 120.0], shape), x)  # e^-x overflows
        return x, rng.random(shape)
    x, t = rng.standard_normal(shape) * 2, rng.standard_normal(shape)
    return np.where(rng.random(shape) < 0.15, t, x), t  # ties: input == target


def _close(ours, theirs, what):
    theirs = np.asarray(theirs, np.float64)
    assert ours.shape == theirs.shape, f"{what}: shape {ours.shape} != {theirs.shape}"
    scale = max(float(np.abs(theirs).max()), 1.0) if theirs.size else 1.0
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=2e-5 * scale, err_msg=what)


@pytest.mark.parametrize("case", random_configs(60, 23, _case), ids=lambda c: f"{c[0]}-{c[1]}-{c[2]['reduction']}")
def test_pointwise_losses_match_torch(case, device):
    name, shape, kwargs, weights, seed = case
    rng = np.random.default_rng(seed)
    x, t = _arrays(name, shape, rng)
    extra = {k: rng.random(s) * 2 + 0.1 for k, s in weights.items()}
    tx, tt = torch.tensor(x, requires_grad=True), torch.tensor(t, requires_grad=True)
    textra = {k: torch.tensor(v) for k, v in extra.items()}
    ref = getattr(TF, name)(tx, tt, **kwargs, **textra)
    upstream = rng.standard_normal(tuple(ref.shape))
    ref.backward(torch.tensor(upstream))

    px = pycnn.tensor(x.astype(np.float32), device=device, requires_grad=True)
    pt = pycnn.tensor(t.astype(np.float32), device=device, requires_grad=True)
    pextra = {k: pycnn.tensor(v.astype(np.float32), device=device, requires_grad=k == "pos_weight")
              for k, v in extra.items()}
    out = getattr(F, name)(px, pt, **kwargs, **pextra)
    out.backward(pycnn.tensor(upstream.astype(np.float32), device=device))
    _close(out.numpy(), ref.detach().numpy(), "loss")
    _close(px.grad.numpy(), tx.grad.numpy(), "input gradient")
    ours, theirs = pt.grad.numpy(), tt.grad.numpy()
    if name == "binary_cross_entropy":  # torch's target gradient is +-inf where x is 0 or 1 (see below)
        inside = (x > 0) & (x < 1)
        ours, theirs = ours[inside], theirs[inside]
    _close(ours, theirs, "target gradient")
    if "pos_weight" in extra:
        # torch refuses pos_weight's gradient; pycnn gives it: the loss written out, differentiated by torch
        p = torch.tensor(extra["pos_weight"], requires_grad=True)
        xd, td = torch.tensor(x), torch.tensor(t)
        each = (1 - td) * xd + (1 + (p - 1) * td) * (torch.log1p(torch.exp(-xd.abs())) + (-xd).clamp_min(0))
        if "weight" in extra:
            each = each * torch.tensor(extra["weight"])
        total = {"none": each, "sum": each.sum(), "mean": each.mean()}[kwargs["reduction"]]
        total.backward(torch.tensor(upstream))
        _close(pextra["pos_weight"].grad.numpy(), p.grad.numpy(), "pos_weight gradient")


def test_losses_keep_float_precision_far_from_zero():
    # Logits of +-100 with targets 0/1: the loss log(1 + e^-|x|) underflows to 0 or is |x|, never inf
    # or NaN; probabilities of 0 and 1 give the clamped -100 logs.
    x = pycnn.tensor(np.array([100.0, -100.0, 100.0, -100.0], np.float32), requires_grad=True)
    t = pycnn.tensor(np.array([1.0, 0.0, 0.0, 1.0], np.float32))
    loss = F.binary_cross_entropy_with_logits(x, t, reduction="none")
    np.testing.assert_allclose(loss.numpy(), [0.0, 0.0, 100.0, 100.0], atol=1e-6)
    loss.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [0.0, 0.0, 1.0, -1.0], atol=1e-6)
    p = pycnn.tensor(np.array([0.0, 1.0], np.float32))
    target = pycnn.tensor(np.array([1.0, 0.0], np.float32), requires_grad=True)
    loss = F.binary_cross_entropy(p, target, reduction="none")
    np.testing.assert_allclose(loss.numpy(), [100.0, 100.0])
    loss.sum().backward()  # log(1 - x) - log(x) with both logs at least -100
    np.testing.assert_allclose(target.grad.numpy(), [100.0, -100.0])


def test_layers_hold_their_arguments_and_match_the_functions():
    rng = np.random.default_rng(5)
    logits = pycnn.tensor(rng.standard_normal((4, 3)).astype(np.float32))
    labels = pycnn.tensor(rng.integers(0, 2, (4, 3)).astype(np.float32))
    pos = pycnn.tensor(np.array([1.0, 2.0, 0.5], np.float32))
    layer = nn.BCEWithLogitsLoss(pos_weight=pos, reduction="sum")
    assert "pos_weight" in layer.state_dict()
    np.testing.assert_array_equal(layer(logits, labels).numpy(),
                                  F.binary_cross_entropy_with_logits(logits, labels, reduction="sum",
                                                                     pos_weight=pos).numpy())
    probs = pycnn.tensor(rng.random((4, 3)).astype(np.float32))
    np.testing.assert_array_equal(nn.BCELoss()(probs, labels).numpy(),
                                  F.binary_cross_entropy(probs, labels).numpy())
    np.testing.assert_array_equal(nn.L1Loss(reduction="none")(logits, labels).numpy(),
                                  F.l1_loss(logits, labels, reduction="none").numpy())
    assert nn.SmoothL1Loss(beta=0.5).beta == 0.5 and nn.HuberLoss(delta=2.0).delta == 2.0
    np.testing.assert_array_equal(nn.SmoothL1Loss(beta=0.5)(logits, labels).numpy(),
                                  F.smooth_l1_loss(logits, labels, beta=0.5).numpy())
    np.testing.assert_array_equal(nn.HuberLoss(delta=2.0)(logits, labels).numpy(),
                                  F.huber_loss(logits, labels, delta=2.0).numpy())
    assert nn.L1Loss(size_average=False).reduction == "sum"  # torch's legacy flags


def test_bad_arguments_name_what_was_expected():
    x = pycnn.tensor(np.full((2, 3), 0.5, np.float32))
    with pytest.raises(ValueError, match=r"binary_cross_entropy: all elements of input should be between 0 and 1"
                                         r".*got 1.5"):
        F.binary_cross_entropy(pycnn.tensor(np.array([0.5, 1.5], np.float32)), pycnn.tensor(np.ones(2, np.float32)))
    with pytest.raises(ValueError, match=r"between 0 and 1.*got nan"):
        F.binary_cross_entropy(pycnn.tensor(np.array([np.nan], np.float32)), pycnn.tensor(np.ones(1, np.float32)))
    with pytest.raises(ValueError, match=r"target size \(\(2,\)\) that is different to the input size \(\(2, 3\)\)"):
        F.binary_cross_entropy_with_logits(x, pycnn.tensor(np.ones(2, np.float32)))
    with pytest.raises(ValueError, match=r"l1_loss: expected input and target of the same shape"):
        F.l1_loss(x, pycnn.tensor(np.ones((3, 2), np.float32)))
    with pytest.raises(ValueError, match=r"smooth_l1_loss does not support negative values for beta"):
        F.smooth_l1_loss(x, x, beta=-1.0)
    with pytest.raises(ValueError, match=r"huber_loss does not support non-positive values for delta"):
        nn.HuberLoss(delta=0.0)
    with pytest.raises(ValueError, match=r"expected pos_weight broadcastable to the input's shape \(2, 3\), "
                                         r"got \(2,\)"):
        F.binary_cross_entropy_with_logits(x, x, pos_weight=pycnn.tensor(np.ones(2, np.float32)))
    with pytest.raises(ValueError, match=r"expected pos_weight broadcastable to the input's shape \(2, 3\), "
                                         r"got \(1, 2, 3\)"):
        F.binary_cross_entropy_with_logits(x, x, pos_weight=pycnn.tensor(np.ones((1, 2, 3), np.float32)))
    with pytest.raises(ValueError, match=r"l1_loss: expected weight of the input's shape"):
        F.l1_loss(x, x, weight=pycnn.tensor(np.ones(3, np.float32)))
    with pytest.raises(TypeError, match=r"huber_loss: expected target to be float32, got int64"):
        F.huber_loss(x, pycnn.tensor(np.ones((2, 3), np.int64)))
    with pytest.raises(ValueError, match=r"expected reduction to be 'none', 'mean' or 'sum'"):
        F.l1_loss(x, x, reduction="avg")
    with pytest.raises(ValueError, match=r"unknown loss kind 9"):
        pycnn._C.pointwise_loss_forward(x._data, x._data, None, 9, 0.0, 1)
    with pytest.raises(ValueError, match=r"pos_weight is binary_cross_entropy_with_logits' only"):
        pycnn._C.pointwise_loss_forward(x._data, x._data, x._data, 0, 0.0, 1)
