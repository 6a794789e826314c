"""mse_loss: loss and both gradients (input, target) against torch float64, every reduction."""
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
        shape = (4, 150, 131)
    reduction = str(rng.choice(["mean", "sum", "none"]))
    target_grad = bool(rng.random() < 0.6)
    return shape, reduction, target_grad


CONFIGS = random_configs(30, 110, make)


@pytest.mark.parametrize("shape,reduction,target_grad", CONFIGS,
                         ids=[f"{s}-{r}-{g}" for s, r, g in CONFIGS])
def test_mse_loss_matches_torch(device, shape, reduction, target_grad):
    rng = np.random.default_rng(len(shape) * 7 + len(reduction))
    x = (rng.standard_normal(shape) * 3).astype(np.float32)
    t = rng.standard_normal(shape).astype(np.float32)
    check_op(lambda x, t: F.mse_loss(x, t, reduction=reduction),
             lambda x, t: torch.nn.functional.mse_loss(x, t, reduction=reduction),
             [x, (t, target_grad)], device=device)


def test_mse_loss_value(device):
    x = pycnn.tensor([1.0, 2.0, 4.0], device=device)
    t = pycnn.tensor([1.0, 0.0, 1.0], device=device)
    assert F.mse_loss(x, t).item() == pytest.approx(13.0 / 3)
    assert F.mse_loss(x, t, reduction="sum").item() == pytest.approx(13.0)
    assert F.mse_loss(x, t, reduction="none").numpy().tolist() == [0.0, 4.0, 9.0]


def test_mse_loss_rejects_bad_input(device):
    x = pycnn.tensor(np.zeros((2, 3), np.float32), device=device)
    with pytest.raises(ValueError, match=r"mse_loss: expected input and target of the same shape, "
                                         r"got input \(2, 3\) and target \(1, 3\)"):
        F.mse_loss(x, pycnn.tensor(np.zeros((1, 3), np.float32), device=device))
    with pytest.raises(TypeError, match="mse_loss: expected target to be float32, got int64"):
        F.mse_loss(x, pycnn.tensor(np.zeros((2, 3), np.int64), device=device))
    with pytest.raises(TypeError, match="mse_loss: expected input to be float32, got int64"):
        F.mse_loss(pycnn.tensor(np.zeros((2, 3), np.int64), device=device), x)
    with pytest.raises(ValueError, match="mse_loss: expected reduction to be 'none', 'mean' or "
                                         "'sum', got 'elementwise_mean'"):
        F.mse_loss(x, x, reduction="elementwise_mean")


def test_mse_loss_weight_gets_its_gradient_through_the_mean(device):
    """'mean' divides by sum(weight), and weight's gradient goes through that divisor too:
    se/sum(w) - sum(w*se)/sum(w)^2, as torch.nn.functional.mse_loss(weight=...)."""
    rng = np.random.default_rng(9)
    a, b, w = rng.standard_normal((3, 5)), rng.standard_normal((3, 5)), rng.random((3, 5)) + 0.1
    check_op(lambda a, b, w: F.mse_loss(a, b, weight=w),
             lambda a, b, w: torch.nn.functional.mse_loss(a, b, weight=w), [a, b, w], device=device)
