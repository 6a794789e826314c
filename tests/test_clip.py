"""clip: forward and backward against torch.clamp in float64 (one bound, both, crossed bounds)."""
import numpy as np
import pytest
import torch

import pycnn
import pycnn.nn.functional as F
from helpers.op_check import check_op, random_configs


def make(rng):
    rank = int(rng.integers(0, 5))
    shape = tuple(int(d) for d in rng.integers(1, 8, size=rank))
    if rng.random() < 0.1:
        shape = (5, 160, 97)
    # Bounds on a grid of 0.25 are exact in float32, so both sides clip the same elements.
    lo = float(rng.integers(-8, 4)) / 4
    hi = float(rng.integers(-4, 8)) / 4
    kind = rng.choice(["both", "min", "max", "crossed"])
    if kind == "min":
        hi = None
    elif kind == "max":
        lo = None
    elif kind == "crossed":  # min > max: torch gives max everywhere and no gradient
        lo, hi = max(lo, hi) + 0.5, min(lo, hi)
    return shape, lo, hi


CONFIGS = random_configs(30, 105, make)


@pytest.mark.parametrize("shape,lo,hi", CONFIGS, ids=[f"{s}[{a},{b}]" for s, a, b in CONFIGS])
def test_clip_matches_torch(device, shape, lo, hi):
    rng = np.random.default_rng(len(shape) + 7)
    x = (rng.standard_normal(shape) * 2).astype(np.float32)
    check_op(lambda x: F.clip(x, lo, hi), lambda x: torch.clamp(x, lo, hi), [x], device=device)


def test_clip_keywords_and_gradient_at_bounds(device):
    # torch.clamp passes the gradient where min <= x <= max, the bounds included.
    x = pycnn.tensor([-1.0, 0.0, 0.5, 1.0, 2.0], device=device, requires_grad=True)
    y = F.clip(x, min=0.0, max=1.0)
    assert y.numpy().tolist() == [0.0, 0.0, 0.5, 1.0, 1.0]
    y.backward(pycnn.tensor([1.0] * 5, device=device))
    assert x.grad.numpy().tolist() == [0.0, 1.0, 1.0, 1.0, 0.0]


def test_clip_rejects_bad_input(device):
    x = pycnn.tensor([1.0, -1.0], device=device)
    with pytest.raises(ValueError, match="clip: expected at least one of min and max"):
        F.clip(x)
    with pytest.raises(TypeError, match="clip: expected min to be a number"):
        F.clip(x, min="0")
    with pytest.raises(ValueError, match="clip: expected bounds that are not NaN"):
        F.clip(x, max=float("nan"))
    with pytest.raises(TypeError, match="clip: expected input to be float32, got int64"):
        F.clip(pycnn.tensor([1, 2], device=device), 0.0, 1.0)


# ----- hardtanh / relu6: clip's forward, torch's exclusive-bound gradient ---------------------------
@pytest.mark.parametrize("shape,lo,hi", [c for c in CONFIGS if c[1] is not None and c[2] is not None
                                         and c[1] <= c[2]][:12])
def test_hardtanh_matches_torch(device, shape, lo, hi):
    rng = np.random.default_rng(len(shape) + 11)
    # a quarter of the inputs sit exactly on a bound, where hardtanh's gradient differs from clip's
    x = (rng.standard_normal(shape) * 2).astype(np.float32)
    x.reshape(-1)[::4] = lo
    x.reshape(-1)[1::4] = hi
    check_op(lambda x: F.hardtanh(x, lo, hi), lambda x: torch.nn.functional.hardtanh(x, lo, hi), [x],
             device=device)


def test_relu6_and_layers_at_the_bounds(device):
    values = [-1.0, 0.0, 3.0, 6.0, 7.0, 1e-45]
    for ours, theirs in [(F.relu6, torch.nn.functional.relu6),
                         (pycnn.nn.ReLU6(), torch.nn.ReLU6()),
                         (pycnn.nn.Hardtanh(0.0, 6.0), torch.nn.Hardtanh(0.0, 6.0))]:
        x = pycnn.tensor(values, device=device, requires_grad=True)
        t = torch.tensor(values, dtype=torch.float32, requires_grad=True)
        y, ty = ours(x), theirs(t)
        y.backward(pycnn.tensor([1.0] * len(values), device=device))
        ty.backward(torch.ones(len(values)))
        assert y.numpy().tolist() == ty.tolist()
        assert x.grad.numpy().tolist() == t.grad.tolist() == [0.0, 0.0, 1.0, 0.0, 0.0, 1.0]
    with pytest.raises(ValueError, match="Hardtanh: expected min_val <= max_val"):
        pycnn.nn.Hardtanh(2.0, 1.0)
    with pytest.raises(ValueError, match="hardtanh: expected min_val <= max_val"):
        F.hardtanh(pycnn.tensor([1.0], device=device), 1.0, 0.0)
    assert repr(pycnn.nn.ReLU6()) == "ReLU6()"


# ----- hardsigmoid / hardswish (MobileNetV3): torch's values and gradients, bounds and NaN included -
@pytest.mark.parametrize("name", ["hardsigmoid", "hardswish"])
def test_hard_activations_match_torch(device, name):
    ours, theirs = getattr(F, name), getattr(torch.nn.functional, name)
    rng = np.random.default_rng(13)
    x = (rng.standard_normal((4, 5, 6)) * 3).astype(np.float32)
    x.reshape(-1)[::7] = -3.0
    x.reshape(-1)[1::7] = 3.0
    check_op(ours, theirs, [x], device=device)
    edges = [-4.0, -3.0, -2.9999998, 0.0, 2.9999998, 3.0, 4.0, float("nan"), float("inf"), -float("inf")]
    t = torch.tensor(edges, requires_grad=True)
    p = pycnn.tensor(edges, device=device, requires_grad=True)
    y, ty = ours(p), theirs(t)
    y.backward(pycnn.tensor([1.0] * len(edges), device=device))
    ty.backward(torch.ones(len(edges)))
    assert np.array_equal(y.numpy(), ty.detach().numpy(), equal_nan=True)
    assert np.array_equal(p.grad.numpy(), t.grad.numpy(), equal_nan=True)
    layer = {"hardsigmoid": pycnn.nn.Hardsigmoid, "hardswish": pycnn.nn.Hardswish}[name]()
    assert repr(layer) == repr({"hardsigmoid": torch.nn.Hardsigmoid, "hardswish": torch.nn.Hardswish}[name]())
    with pytest.raises(TypeError, match=f"{name}: expected input to be float32, got int64"):
        ours(pycnn.tensor([1, 2], device=device))
