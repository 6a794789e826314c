"""pycnn.use_deterministic_algorithms(True): training bitwise independent of the thread count."""
import numpy as np
import pytest

import pycnn
import pycnn.nn.functional as F
from pycnn import models, optim


def train_steps(name, threads, steps=3, batch=32, size=28, channels=1):
    """The parameters after ``steps`` SGD steps of a seeded model on seeded data, run on ``threads`` threads."""
    before = pycnn.get_num_threads()
    pycnn.set_num_threads(threads)
    try:
        pycnn.manual_seed(0)
        model = getattr(models, name)(num_classes=10)
        opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)
        rng = np.random.default_rng(0)
        for _ in range(steps):
            x = pycnn.tensor(rng.standard_normal((batch, channels, size, size)).astype(np.float32))
            y = pycnn.tensor(rng.integers(0, 10, batch))
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()
        return {k: v.copy() for k, v in model.state_dict().items()}
    finally:
        pycnn.set_num_threads(before)


@pytest.fixture
def deterministic():
    pycnn.use_deterministic_algorithms(True)
    yield
    pycnn.use_deterministic_algorithms(False)


def test_the_switch():
    assert pycnn.are_deterministic_algorithms_enabled() is False
    pycnn.use_deterministic_algorithms(True)
    try:
        assert pycnn.are_deterministic_algorithms_enabled() is True
    finally:
        pycnn.use_deterministic_algorithms(False)
    assert pycnn.are_deterministic_algorithms_enabled() is False
    with pytest.raises(TypeError, match="use_deterministic_algorithms: expected mode to be a bool, got int"):
        pycnn.use_deterministic_algorithms(1)


def test_default_mode_depends_on_the_thread_count():
    """What deterministic mode is for: by default conv2d's weight gradient is summed per thread. (The
    thread governor, which would run the 2-thread steps on one thread if another process kept the
    cores busy, is off in the test session: conftest.py.)"""
    one, two = train_steps("lenet5", 1), train_steps("lenet5", 2)
    assert any(not np.array_equal(one[k], two[k]) for k in one)


@pytest.mark.parametrize("name, size, channels, batch", [("lenet5", 28, 1, 32), ("lenet5", 28, 1, 7),
                                                         ("resnet20", 16, 3, 12)])
def test_training_is_bitwise_independent_of_threads(deterministic, name, size, channels, batch):
    runs = [train_steps(name, threads, batch=batch, size=size, channels=channels) for threads in (1, 2, 3)]
    for other in runs[1:]:
        for key in runs[0]:
            assert np.array_equal(runs[0][key], other[key]), key
    # and a step computes what the default mode's does, to float32 rounding (one step: over several, a
    # batch of 12 through batch norm grows rounding differences of 1e-7 to 1e-3 in two steps)
    one_step = train_steps(name, 1, steps=1, batch=batch, size=size, channels=channels)
    pycnn.use_deterministic_algorithms(False)
    default = train_steps(name, 1, steps=1, batch=batch, size=size, channels=channels)
    for key in default:
        np.testing.assert_allclose(one_step[key], default[key], rtol=1e-5, atol=1e-6)
