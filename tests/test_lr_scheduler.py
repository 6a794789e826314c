"""pycnn.optim.lr_scheduler against torch.optim.lr_scheduler: the same schedules on an optimizer with
two param groups must give the same learning-rate sequence over 50 epochs, bit for bit (the same
formulas in the same order)."""
import math

import numpy as np
import pytest
import torch

import pycnn
from pycnn.optim import lr_scheduler

EPOCHS = 50
LRS = (0.1, 0.03)


def _optimizers(device="cpu"):
    """An SGD over two param groups in pycnn and in torch, learning rates LRS."""
    ours = [pycnn.zeros(3, device=device, requires_grad=True) for _ in LRS]
    theirs = [torch.zeros(3, requires_grad=True) for _ in LRS]
    ours_opt = pycnn.optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(ours, LRS)], lr=1.0,
                               momentum=0.9)
    theirs_opt = torch.optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(theirs, LRS)], lr=1.0,
                                 momentum=0.9)
    return ours_opt, theirs_opt


def _sequence(opt, scheduler, epochs=EPOCHS, metrics=None):
    lrs = [list(scheduler.get_last_lr())]
    for epoch in range(epochs):
        opt.step()
        if metrics is None:
            scheduler.step()
        else:
            scheduler.step(metrics[epoch])
        lrs.append(list(scheduler.get_last_lr()))
        assert lrs[-1] == [g["lr"] for g in opt.param_groups]
    return lrs


def _assert_same(ours, theirs):
    assert len(ours) == len(theirs)
    for epoch, (a, b) in enumerate(zip(ours, theirs)):
        assert a == b, f"epoch {epoch}: {a} != torch {b}"


SCHEDULES = [
    ("StepLR", dict(step_size=7)),
    ("StepLR", dict(step_size=1, gamma=0.9)),
    ("MultiStepLR", dict(milestones=[5, 12, 12, 30], gamma=0.5)),
    ("CosineAnnealingLR", dict(T_max=50)),
    ("CosineAnnealingLR", dict(T_max=13, eta_min=1e-3)),  # past T_max: the rate climbs back
]


@pytest.mark.parametrize("name,kwargs", SCHEDULES, ids=[f"{n}-{i}" for i, (n, _) in
                                                        enumerate(SCHEDULES)])
def test_schedule_matches_torch(name, kwargs, device):
    ours_opt, theirs_opt = _optimizers(device)
    ours = _sequence(ours_opt, getattr(lr_scheduler, name)(ours_opt, **kwargs))
    theirs = _sequence(theirs_opt, getattr(torch.optim.lr_scheduler, name)(theirs_opt, **kwargs))
    _assert_same(ours, theirs)
    assert [g["initial_lr"] for g in ours_opt.param_groups] == list(LRS)


def test_cosine_annealing_is_the_closed_form():
    opt, _ = _optimizers()
    scheduler = lr_scheduler.CosineAnnealingLR(opt, T_max=20, eta_min=0.01)
    for epoch in range(1, 21):
        opt.step()
        scheduler.step()
        expected = [0.01 + (lr - 0.01) * (1 + math.cos(math.pi * epoch / 20)) / 2 for lr in LRS]
        assert scheduler.get_last_lr() == pytest.approx(expected, rel=1e-12)


def _plateau_metrics(seed):
    rng = np.random.default_rng(seed)
    falling = np.linspace(2.0, 1.0, 15)
    flat = 1.0 + 1e-5 * rng.standard_normal(EPOCHS - 15)  # within the threshold: no improvement
    return [float(v) for v in np.concatenate([falling, flat])]


PLATEAUS = [
    dict(),
    dict(patience=3),
    dict(mode="max", factor=0.5, patience=2, threshold=0.05, threshold_mode="abs", cooldown=3),
    dict(patience=1, cooldown=2, min_lr=[0.02, 1e-3], factor=0.3),
    dict(patience=0, threshold_mode="abs", threshold=1e-2, min_lr=0.005),
]


@pytest.mark.parametrize("kwargs", PLATEAUS, ids=[str(i) for i in range(len(PLATEAUS))])
def test_reduce_on_plateau_matches_torch(kwargs):
    metrics = _plateau_metrics(len(kwargs))
    if kwargs.get("mode") == "max":
        metrics = [-m for m in metrics]
    ours_opt, theirs_opt = _optimizers()
    ours = _sequence(ours_opt, lr_scheduler.ReduceLROnPlateau(ours_opt, **kwargs), metrics=metrics)
    theirs = _sequence(theirs_opt, torch.optim.lr_scheduler.ReduceLROnPlateau(theirs_opt, **kwargs),
                       metrics=metrics)
    _assert_same(ours, theirs)
    assert ours[-1] != ours[0], "the schedule never reduced: the test would not see a wrong rule"


def test_reduce_on_plateau_takes_a_tensor_metric():
    opt, _ = _optimizers()
    scheduler = lr_scheduler.ReduceLROnPlateau(opt, patience=0)
    scheduler.step(pycnn.tensor(1.0))
    scheduler.step(pycnn.tensor(2.0))
    assert scheduler.get_last_lr() == pytest.approx([lr * 0.1 for lr in LRS])


@pytest.mark.parametrize("make", [
    lambda opt: lr_scheduler.StepLR(opt, step_size=4, gamma=0.5),
    lambda opt: lr_scheduler.MultiStepLR(opt, milestones=[3, 9, 20], gamma=0.2),
    lambda opt: lr_scheduler.CosineAnnealingLR(opt, T_max=15, eta_min=1e-3),
], ids=["StepLR", "MultiStepLR", "CosineAnnealingLR"])
def test_state_dict_round_trip_then_continue(make):
    opt, _ = _optimizers()
    straight = _sequence(opt, make(opt), epochs=30)
    opt, _ = _optimizers()
    first = make(opt)
    _sequence(opt, first, epochs=12)
    saved_opt, saved_sched = opt.state_dict(), first.state_dict()
    assert "optimizer" not in saved_sched
    resumed_opt, _ = _optimizers()
    resumed = make(resumed_opt)  # as torch advises: build the scheduler, then load both
    resumed_opt.load_state_dict(saved_opt)
    resumed.load_state_dict(saved_sched)
    rest = _sequence(resumed_opt, resumed, epochs=18)
    assert rest == straight[12:]


def test_reduce_on_plateau_state_dict_round_trip():
    metrics = _plateau_metrics(1)
    opt, _ = _optimizers()
    straight = _sequence(opt, lr_scheduler.ReduceLROnPlateau(opt, patience=2, cooldown=1),
                         metrics=metrics)
    opt, _ = _optimizers()
    first = lr_scheduler.ReduceLROnPlateau(opt, patience=2, cooldown=1)
    _sequence(opt, first, epochs=25, metrics=metrics)
    resumed_opt, _ = _optimizers()
    resumed_opt.load_state_dict(opt.state_dict())
    resumed = lr_scheduler.ReduceLROnPlateau(resumed_opt)
    resumed.load_state_dict(first.state_dict())
    rest = _sequence(resumed_opt, resumed, epochs=EPOCHS - 25, metrics=metrics[25:])
    assert rest == straight[25:]


def test_scheduled_lr_drives_the_update():
    p = pycnn.tensor([1.0], requires_grad=True)
    opt = pycnn.optim.SGD([p], lr=0.5)
    scheduler = lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    values = []
    for _ in range(3):
        p.grad = pycnn.tensor([1.0])
        opt.step()
        scheduler.step()
        values.append(p.numpy()[0])
    np.testing.assert_allclose(values, [0.5, 0.25, 0.125])  # steps of 0.5, 0.25, 0.125


@pytest.mark.parametrize("make,error,match", [
    (lambda opt: lr_scheduler.StepLR(opt, step_size=0), ValueError,
     "StepLR: expected step_size >= 1, got 0"),
    (lambda opt: lr_scheduler.StepLR(opt, step_size=2.5), TypeError,
     "StepLR: expected step_size to be an int, got float"),
    (lambda opt: lr_scheduler.MultiStepLR(opt, milestones=[10, 5]), ValueError,
     r"MultiStepLR: expected increasing milestones, got \[10, 5\]"),
    (lambda opt: lr_scheduler.CosineAnnealingLR(opt, T_max=0), ValueError,
     "CosineAnnealingLR: expected T_max >= 1, got 0"),
    (lambda opt: lr_scheduler.ReduceLROnPlateau(opt, factor=1.0), ValueError,
     "ReduceLROnPlateau: expected factor < 1.0, got 1.0"),
    (lambda opt: lr_scheduler.ReduceLROnPlateau(opt, mode="lowest"), ValueError,
     "ReduceLROnPlateau: expected mode 'min' or 'max', got 'lowest'"),
    (lambda opt: lr_scheduler.ReduceLROnPlateau(opt, threshold_mode="pct"), ValueError,
     "ReduceLROnPlateau: expected threshold_mode 'rel' or 'abs'"),
    (lambda opt: lr_scheduler.ReduceLROnPlateau(opt, min_lr=[0.1]), ValueError,
     r"ReduceLROnPlateau: expected 2 min_lrs \(one per param group\), got 1"),
    (lambda opt: lr_scheduler.StepLR("sgd", step_size=3), TypeError,
     "StepLR: expected a pycnn.optim.Optimizer, got str"),
    (lambda opt: lr_scheduler.StepLR(opt, step_size=3, last_epoch=5), KeyError,
     "StepLR: param_groups\\[0\\] has no 'initial_lr'"),
])
def test_bad_arguments(make, error, match):
    opt, _ = _optimizers()
    with pytest.raises(error, match=match):
        make(opt)
