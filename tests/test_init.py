"""pycnn.nn.init against torch.nn.init's formulas: gains, fans, bounds and sample statistics."""
import math

import numpy as np
import pytest
import torch

import pycnn
from pycnn.nn import init


def empty(*shape, device="cpu"):
    return pycnn.zeros(*shape, device=device)


@pytest.mark.parametrize("nonlinearity, param", [
    ("linear", None), ("conv2d", None), ("sigmoid", None), ("tanh", None), ("relu", None),
    ("leaky_relu", None), ("leaky_relu", 0.2), ("leaky_relu", math.sqrt(5)), ("selu", None)])
def test_calculate_gain_equals_torch(nonlinearity, param):
    assert init.calculate_gain(nonlinearity, param) == pytest.approx(torch.nn.init.calculate_gain(nonlinearity, param))


def test_calculate_gain_rejects_unknown():
    with pytest.raises(ValueError, match="unsupported nonlinearity 'gelu'"):
        init.calculate_gain("gelu")
    with pytest.raises(ValueError, match="negative_slope"):
        init.calculate_gain("leaky_relu", "0.1")


@pytest.mark.parametrize("shape", [(5, 3), (8, 4, 3, 3), (6, 2, 1, 5), (7, 3, 2)])
def test_fans_equal_torch(shape):
    ours = init._calculate_fan_in_and_fan_out(empty(*shape))
    assert ours == torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))


def test_fans_need_two_dimensions():
    with pytest.raises(ValueError, match=r"fewer than 2 dimensions, got shape \(5,\)"):
        init.xavier_uniform_(empty(5))


@pytest.mark.parametrize("mode, nonlinearity, a", [("fan_in", "relu", 0), ("fan_out", "relu", 0),
                                                   ("fan_in", "leaky_relu", math.sqrt(5))])
def test_kaiming_uniform_bound_and_spread(device, mode, nonlinearity, a):
    t = empty(256, 128, 3, 3, device=device)
    assert init.kaiming_uniform_(t, a=a, mode=mode, nonlinearity=nonlinearity) is t
    fan = 128 * 9 if mode == "fan_in" else 256 * 9
    bound = torch.nn.init.calculate_gain(nonlinearity, a) * math.sqrt(3.0 / fan)
    values = t.numpy()
    assert t.device == device
    assert np.abs(values).max() <= bound and np.abs(values).max() > 0.999 * bound
    assert abs(values.std() - bound / math.sqrt(3)) < 0.005 * bound
    assert abs(values.mean()) < 0.005 * bound


def test_kaiming_normal_std(device):
    t = init.kaiming_normal_(empty(512, 64, 3, 3, device=device), mode="fan_out", nonlinearity="relu")
    std = math.sqrt(2.0) / math.sqrt(512 * 9)
    assert abs(t.numpy().std() - std) < 0.005 * std
    assert abs(t.numpy().mean()) < 0.005 * std


def test_xavier_uniform_and_normal(device):
    t = init.xavier_uniform_(empty(300, 500, device=device), gain=init.calculate_gain("tanh"))
    std = 5.0 / 3 * math.sqrt(2.0 / 800)
    values = t.numpy()
    assert np.abs(values).max() <= math.sqrt(3) * std and np.abs(values).max() > 0.999 * math.sqrt(3) * std
    assert abs(values.std() - std) < 0.01 * std
    t = init.xavier_normal_(empty(64, 32, 5, 5, device=device))
    std = math.sqrt(2.0 / (32 * 25 + 64 * 25))
    assert abs(t.numpy().std() - std) < 0.01 * std


def test_plain_fills(device):
    t = init.uniform_(empty(400, 500, device=device), -2.0, 3.0)
    assert t.numpy().min() >= -2.0 and t.numpy().max() <= 3.0
    assert abs(t.numpy().mean() - 0.5) < 0.01 and abs(t.numpy().std() - 5 / math.sqrt(12)) < 0.01
    t = init.normal_(empty(400, 500, device=device), mean=1.5, std=0.5)
    assert abs(t.numpy().mean() - 1.5) < 0.005 and abs(t.numpy().std() - 0.5) < 0.005
    np.testing.assert_array_equal(init.constant_(t, 0.25).numpy(), 0.25)
    np.testing.assert_array_equal(init.ones_(t).numpy(), 1.0)
    np.testing.assert_array_equal(init.zeros_(t).numpy(), 0.0)


def test_manual_seed_and_generator_reproduce():
    init.manual_seed(11)
    a = init.normal_(empty(3, 4)).numpy().copy()
    init.manual_seed(11)
    b = init.normal_(empty(3, 4)).numpy().copy()
    c = init.normal_(empty(3, 4)).numpy().copy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(b, c)
    d = init.kaiming_uniform_(empty(3, 4), generator=np.random.default_rng(5)).numpy().copy()
    e = init.kaiming_uniform_(empty(3, 4), generator=np.random.default_rng(5)).numpy().copy()
    np.testing.assert_array_equal(d, e)
    with pytest.raises(TypeError, match="manual_seed: expected an int seed"):
        init.manual_seed(1.5)


def test_init_leaves_no_tape_and_keeps_parameter():
    p = pycnn.nn.Parameter(np.zeros((4, 5), np.float32))
    assert init.kaiming_uniform_(p) is p
    assert p.is_leaf and p.requires_grad and np.any(p.numpy())


def test_bad_arguments():
    with pytest.raises(ValueError, match="mode 'fan_avg' not supported"):
        init.kaiming_uniform_(empty(3, 4), mode="fan_avg")
    with pytest.raises(TypeError, match="normal_: expected a float32 tensor, got int64"):
        init.normal_(pycnn.tensor([1, 2]))
    with pytest.raises(TypeError, match="uniform_: expected a pycnn.Tensor, got ndarray"):
        init.uniform_(np.zeros(3))
