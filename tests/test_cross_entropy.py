"""cross_entropy: loss and input gradient against torch float64 for (N, C) and (N, C, d1, ...) logits,
every reduction, ignore_index, label smoothing, batch 1 and large logits; label and dtype checks."""
import numpy as np
import pytest
import torch

import pycnn
import pycnn.nn.functional as F
from helpers.op_check import check_op, random_configs


def make(rng):
    N, C = int(rng.integers(1, 9)), int(rng.integers(1, 12))
    extra = [int(d) for d in rng.integers(1, 6, size=int(rng.choice([0, 0, 1, 2])))]
    if rng.random() < 0.1:  # the OpenMP and blocked paths
        N, C, extra = (300, 120, []) if rng.random() < 0.5 else (2, 7, [19, 23])
    reduction = str(rng.choice(["mean", "sum", "none"]))
    ignore_index = int(rng.choice([-100, 0, 2, -1]))
    smoothing = float(rng.choice([0.0, 0.0, 0.1, 0.5]))
    scale = float(rng.choice([1.0, 5.0, 50.0, 100.0]))
    return (N, C, *extra), reduction, ignore_index, smoothing, scale


CONFIGS = random_configs(40, 109, make)


def targets(rng, shape, ignore_index):
    N, C, *extra = shape
    t = rng.integers(0, C, size=(N, *extra))
    drop = rng.random(t.shape) < 0.25
    drop.reshape(-1)[0] = False  # keep one target, so 'mean' has a divisor as in any real batch
    t[drop] = ignore_index
    return t.astype(np.int64)


@pytest.mark.parametrize("shape,reduction,ignore_index,smoothing,scale", CONFIGS,
                         ids=[f"{c[0]}-{c[1]}-i{c[2]}-s{c[3]}-x{c[4]}" for c in CONFIGS])
def test_cross_entropy_matches_torch(device, shape, reduction, ignore_index, smoothing, scale):
    rng = np.random.default_rng(int(np.prod(shape)) * 1000 + abs(ignore_index))
    x = (rng.standard_normal(shape) * scale).astype(np.float32)
    t = targets(rng, shape, ignore_index)
    kwargs = dict(reduction=reduction, ignore_index=ignore_index, label_smoothing=smoothing)
    check_op(lambda x, t: F.cross_entropy(x, t, **kwargs),
             lambda x, t: torch.nn.functional.cross_entropy(x, t, **kwargs), [x, t], device=device)


def test_cross_entropy_defaults_and_unbatched(device):
    x = np.array([[2.0, 1.0, 0.1], [0.5, 2.5, 0.3]], np.float32)
    t = np.array([0, 1])
    ours = F.cross_entropy(pycnn.tensor(x, device=device), pycnn.tensor(t, device=device)).item()
    ref = torch.nn.functional.cross_entropy(torch.tensor(x, dtype=torch.float64), torch.tensor(t))
    assert abs(ours - ref.item()) < 1e-6
    one = F.cross_entropy(pycnn.tensor(x[0], device=device), pycnn.tensor(np.int64(0), device=device))
    ref = torch.nn.functional.cross_entropy(torch.tensor(x[0], dtype=torch.float64), torch.tensor(0))
    assert abs(one.item() - ref.item()) < 1e-6


def test_cross_entropy_all_ignored_mean_is_nan_as_torch(device):
    x = pycnn.tensor(np.zeros((2, 3), np.float32), device=device)
    loss = F.cross_entropy(x, pycnn.tensor([-100, -100], device=device))
    assert np.isnan(loss.item())


def test_cross_entropy_rejects_bad_input(device):
    x = pycnn.tensor(np.zeros((4, 3), np.float32), device=device)
    t = pycnn.tensor([0, 1, 2, 1], device=device)
    with pytest.raises(ValueError, match=r"cross_entropy: expected probability targets of the input's "
                                         r"shape \(4, 3\), got \(4,\)"):
        F.cross_entropy(x, pycnn.tensor([0.0, 1.0, 2.0, 1.0], device=device))
    with pytest.raises(ValueError, match=r"cross_entropy: expected weight of shape \(3,\) .* got \(2,\)"):
        F.cross_entropy(x, t, pycnn.tensor([1.0, 2.0], device=device))
    with pytest.raises(ValueError, match=r"cross_entropy: target label 3 at position 1 is out of range"):
        F.cross_entropy(x, pycnn.tensor([0, 3, 2, 1], device=device), pycnn.ones(3, device=device))
    with pytest.raises(TypeError, match="nll_loss: expected target to be int64 class indices, got float32"):
        F.nll_loss(x, pycnn.tensor([0.0, 1.0, 2.0, 1.0], device=device))
    with pytest.raises(TypeError, match="cross_entropy: expected input to be float32, got int64"):
        F.cross_entropy(t, t)
    with pytest.raises(ValueError, match=r"cross_entropy: expected target of shape \(4,\) .* got "
                                         r"target of shape \(3,\)"):
        F.cross_entropy(x, pycnn.tensor([0, 1, 2], device=device))
    with pytest.raises(ValueError, match=r"cross_entropy: expected target of shape \(4, 5\)"):
        F.cross_entropy(pycnn.tensor(np.zeros((4, 3, 5), np.float32), device=device), t)
    with pytest.raises(ValueError, match=r"cross_entropy: target label 3 at position 2 is out of "
                                         r"range: expected class indices in \[0, 3\) \(C = 3\)"):
        F.cross_entropy(x, pycnn.tensor([0, 1, 3, 1], device=device))
    with pytest.raises(ValueError, match="cross_entropy: target label -1 at position 0"):
        F.cross_entropy(x, pycnn.tensor([-1, 1, 0, 1], device=device))
    with pytest.raises(ValueError, match="cross_entropy: expected reduction to be 'none', 'mean' or "
                                         "'sum', got 'avg'"):
        F.cross_entropy(x, t, reduction="avg")
    with pytest.raises(ValueError, match=r"cross_entropy: expected label_smoothing in \[0, 1\]"):
        F.cross_entropy(x, t, label_smoothing=1.5)
    with pytest.raises(TypeError, match="cross_entropy: expected ignore_index to be an int"):
        F.cross_entropy(x, t, ignore_index=1.0)
    with pytest.raises(ValueError, match=r"cross_entropy: expected input of shape \(C,\)"):
        F.cross_entropy(pycnn.tensor(np.float32(1.0), device=device), t)


def make_weighted(rng):
    N, C = int(rng.integers(1, 6)), int(rng.integers(2, 7))  # C >= 2: a label stays unignored
    extra = [int(d) for d in rng.integers(1, 4, size=int(rng.choice([0, 1, 2])))]
    return ((N, C, *extra), str(rng.choice(["mean", "sum", "none"])), int(rng.choice([-100, 0, 1])),
            float(rng.choice([0.0, 0.2])), bool(rng.random() < 0.7))


WEIGHTED = random_configs(30, 113, make_weighted)


@pytest.mark.parametrize("shape,reduction,ignore_index,smoothing,weighted", WEIGHTED,
                         ids=[f"{c[0]}-{c[1]}-i{c[2]}-s{c[3]}-w{c[4]}" for c in WEIGHTED])
def test_cross_entropy_class_weights_and_probability_targets_match_torch(device, shape, reduction, ignore_index,
                                                           smoothing, weighted):
    # torch's positional order (input, target, weight, size_average, ignore_index, reduce, reduction,
    # label_smoothing); weighted 'mean' divides by the sum of the targets' weights.
    rng = np.random.default_rng(int(np.prod(shape)) + 7 * abs(ignore_index))
    C = shape[1]
    x = (rng.standard_normal(shape) * 3).astype(np.float32)
    t = targets(rng, shape, ignore_index)
    t.reshape(-1)[0] = 1 if ignore_index != 1 else 0  # one counted target: 'mean' has a divisor
    w = (rng.random(C) + 0.1).astype(np.float32)
    probs = rng.random(shape).astype(np.float32)
    probs /= probs.sum(1, keepdims=True)
    kw = dict(reduction=reduction, ignore_index=ignore_index, label_smoothing=smoothing)

    def weight(lib, ref):
        if not weighted:
            return None
        return torch.tensor(w, dtype=torch.float64) if ref else pycnn.tensor(w, device=device)

    check_op(lambda x, t: F.cross_entropy(x, t, weight(pycnn, False), **kw),
             lambda x, t: torch.nn.functional.cross_entropy(x, t, weight(torch, True), **kw), [x, t],
             device=device)
    # probabilities: both the logits and the target get gradients
    kw.pop("ignore_index")
    check_op(lambda x, p: F.cross_entropy(x, p, weight(pycnn, False), **kw),
             lambda x, p: torch.nn.functional.cross_entropy(x, p, weight(torch, True), **kw), [x, probs],
             device=device)
    check_op(lambda x, t: F.nll_loss(x, t, weight(pycnn, False), None, ignore_index, reduction=reduction),
             lambda x, t: torch.nn.functional.nll_loss(x, t, weight(torch, True), None, ignore_index,
                                                       reduction=reduction), [x, t], device=device)


def test_cross_entropy_loss_modules_take_torch_arguments(device):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((6, 4)).astype(np.float32)
    t = np.array([0, 3, 1, 1, 2, -100])
    w = np.array([0.5, 1.0, 2.0, 3.0], np.float32)
    ours = pycnn.nn.CrossEntropyLoss(pycnn.tensor(w, device=device), None, -100, None, "sum", 0.1)
    ref = torch.nn.CrossEntropyLoss(torch.tensor(w, dtype=torch.float64), None, -100, None, "sum", 0.1)
    check_op(ours, ref, [x, t], device=device)
    ours = pycnn.nn.NLLLoss(pycnn.tensor(w, device=device), reduction="mean")
    ref = torch.nn.NLLLoss(torch.tensor(w, dtype=torch.float64), reduction="mean")
    check_op(ours, ref, [x, t], device=device)
    # the deprecated flags still select the reduction, as in torch
    check_op(lambda x, t: F.cross_entropy(x, t, size_average=False),
             lambda x, t: torch.nn.functional.cross_entropy(x, t, size_average=False), [x, t], device=device)
    check_op(pycnn.nn.MSELoss(reduce=False), torch.nn.MSELoss(reduce=False), [x, x[::-1].copy()],
             device=device)
    mw = rng.random(x.shape).astype(np.float32)
    check_op(lambda a, b: F.mse_loss(a, b, weight=pycnn.tensor(mw, device=device)),
             lambda a, b: torch.nn.functional.mse_loss(a, b, weight=torch.tensor(mw, dtype=torch.float64)),
             [x, x[::-1].copy()], device=device)
    # one unbatched sample, weighted
    check_op(lambda x, t: F.cross_entropy(x, t, pycnn.tensor(w, device=device)),
             lambda x, t: torch.nn.functional.cross_entropy(x, t, torch.tensor(w, dtype=torch.float64)),
             [x[0], np.array(2)], device=device)
