"""dropout: Philox4x32-10 known answers, keep fraction, reproducible masks (same seed, thread count,
CPU vs CUDA), inverted scaling, gradient = upstream * mask / (1 - p), eval identity, bad input."""
import numpy as np
import pytest

import pycnn
import pycnn.nn.functional as F
from helpers.op_check import random_configs

CUDA = pycnn.cuda.is_available()


@pytest.mark.parametrize("counter,key,expected", [
    # Random123's kat_vectors for philox4x32_10
    ([0, 0, 0, 0], [0, 0], [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]),
    ([0xffffffff] * 4, [0xffffffff] * 2, [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd]),
    ([0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0],
     [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1]),
])
def test_dropout_philox_known_answers(counter, key, expected):
    assert list(pycnn._C.philox4x32(counter, key)) == expected


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_dropout_keep_fraction_and_scale(p, device):
    x = pycnn.ones(1000, 1000, device=device)
    y = F.dropout(x, p, seed=1234).numpy()
    kept = y != 0
    # 10 standard deviations of a binomial over 1e6 draws: under 0.005
    assert abs(kept.mean() - (1 - p)) < 10 * np.sqrt(p * (1 - p) / y.size)
    np.testing.assert_array_equal(y[kept], np.float32(1.0) / np.float32(1 - np.float32(p)))


def test_dropout_same_seed_same_mask(device):
    x = pycnn.tensor(np.random.default_rng(0).standard_normal((7, 13, 5)) + 10.0, device=device)
    a = F.dropout(x, 0.3, seed=42).numpy()
    b = F.dropout(x, 0.3, seed=42).numpy()
    c = F.dropout(x, 0.3, seed=43).numpy()
    np.testing.assert_array_equal(a, b)
    assert (a != c).any()


def test_dropout_manual_seed_reproduces_unseeded_calls(device):
    x = pycnn.ones(4001, device=device)
    F.manual_seed(5)
    first = [F.dropout(x, 0.5).numpy() for _ in range(2)]
    F.manual_seed(5)
    second = [F.dropout(x, 0.5).numpy() for _ in range(2)]
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])
    assert (first[0] != first[1]).any()  # successive calls draw fresh seeds


def test_dropout_mask_does_not_depend_on_thread_count():
    x = pycnn.ones(300001)
    threads = pycnn.get_num_threads()
    try:
        pycnn.set_num_threads(1)
        one = F.dropout(x, 0.4, seed=7).numpy()
        pycnn.set_num_threads(2)
        two = F.dropout(x, 0.4, seed=7).numpy()
    finally:
        pycnn.set_num_threads(threads)
    np.testing.assert_array_equal(one, two)


@pytest.mark.skipif(not CUDA, reason="no CUDA GPU")
def test_dropout_cuda_mask_is_bit_identical_to_cpu():
    x = np.random.default_rng(2).standard_normal((3, 1001)).astype(np.float32)
    cpu = F.dropout(pycnn.tensor(x), 0.37, seed=2**40 + 3).numpy()
    gpu = F.dropout(pycnn.tensor(x, device="cuda"), 0.37, seed=2**40 + 3).numpy()
    np.testing.assert_array_equal(cpu, gpu)


def test_dropout_mask_follows_philox_uniforms():
    # Element i is kept iff lane i % 4 of philox({i/4, 0, 0, 0}, {seed, 0}) >> 8, times 2^-24, is >= p.
    seed, p = 99, 0.5
    y = F.dropout(pycnn.ones(10), p, seed=seed).numpy()
    words = [w for g in range(3) for w in pycnn._C.philox4x32([g, 0, 0, 0], [seed, 0])][:10]
    expected = np.array([(w >> 8) * 2.0**-24 >= p for w in words])
    np.testing.assert_array_equal(y != 0, expected)


def make_config(rng):
    shape = tuple(int(v) for v in rng.integers(1, 9, size=int(rng.integers(1, 5))))
    return dict(shape=shape, p=float(rng.uniform(0, 1)), seed=int(rng.integers(0, 2**63)))


@pytest.mark.parametrize("cfg", random_configs(32, seed=8, make=make_config),
                         ids=lambda c: f"{c['shape']}-p{c['p']:.2f}")
def test_dropout_forward_and_gradient(cfg, device):
    rng = np.random.default_rng(1)
    x_np = rng.standard_normal(cfg["shape"]).astype(np.float32)
    upstream = rng.standard_normal(cfg["shape"]).astype(np.float32)
    x = pycnn.tensor(x_np, device=device, requires_grad=True)
    y = F.dropout(x, cfg["p"], seed=cfg["seed"])
    y_np = y.numpy()
    scale = np.float32(1.0) / (np.float32(1.0) - np.float32(cfg["p"]))
    kept = y_np != 0
    np.testing.assert_allclose(y_np[kept], x_np[kept] * scale, rtol=1e-6)
    y.backward(pycnn.tensor(upstream, device=device))
    np.testing.assert_allclose(x.grad.numpy(), np.where(kept, upstream * scale, 0.0), rtol=1e-6)


def test_dropout_eval_and_edge_probabilities(device):
    x_np = np.random.default_rng(4).standard_normal((5, 6)).astype(np.float32) + 5.0
    x = pycnn.tensor(x_np, device=device, requires_grad=True)
    assert F.dropout(x, 0.7, training=False) is x
    np.testing.assert_array_equal(F.dropout(x, 0.0, seed=1).numpy(), x_np)
    y = F.dropout(x, 1.0, seed=1)
    np.testing.assert_array_equal(y.numpy(), np.zeros_like(x_np))
    y.backward(pycnn.ones(5, 6, device=device))
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros_like(x_np))


def test_dropout_bad_input(device):
    x = pycnn.zeros(3, 4, device=device)
    with pytest.raises(ValueError, match=r"dropout: expected p in \[0, 1\], got -0.1"):
        F.dropout(x, -0.1)
    with pytest.raises(ValueError, match=r"dropout: expected p in \[0, 1\], got 1.5"):
        F.dropout(x, 1.5)
    with pytest.raises(TypeError, match="dropout: expected p to be a number"):
        F.dropout(x, "0.5")
    with pytest.raises(TypeError, match="dropout: expected input to be float32"):
        F.dropout(pycnn.tensor(np.zeros(3, dtype=np.int64), device=device), 0.5)
    with pytest.raises(TypeError, match="dropout: expected input to be a pycnn.Tensor"):
        F.dropout(np.zeros(3), 0.5)
    with pytest.raises(ValueError, match=r"dropout: expected seed in \[0, 2\*\*64\)"):
        F.dropout(x, 0.5, seed=-1)
    with pytest.raises(TypeError, match="manual_seed: expected seed to be an int"):
        F.manual_seed(1.5)


@pytest.mark.parametrize("op, shape, channel_dims", [
    ("dropout2d", (16, 24, 3, 5), 2), ("dropout2d", (40, 2, 7), 1),  # batched, and unbatched (C, H, W)
    ("dropout1d", (16, 24, 9), 2), ("dropout1d", (50, 6), 1)])
@pytest.mark.parametrize("p", [0.2, 0.6])
def test_channel_dropout_zeroes_whole_channels(op, shape, channel_dims, p, device):
    # Each (sample, channel) is all zero or all 1 / (1 - p) times the input, about a fraction p of them
    # dropped; the gradient is the same mask; the same seed draws the same channels.
    rng = np.random.default_rng(3)
    data = rng.standard_normal(shape).astype(np.float32)
    x = pycnn.tensor(data, device=device, requires_grad=True)
    y = getattr(F, op)(x, p, seed=11)
    ratio = (y.numpy() / data).reshape(int(np.prod(shape[:channel_dims])), -1)
    dropped = np.all(ratio == 0, axis=1)
    kept = np.all(np.isclose(ratio, 1 / (1 - p), rtol=1e-6), axis=1)
    assert np.all(dropped | kept)
    assert abs(dropped.mean() - p) < 4 * np.sqrt(p * (1 - p) / dropped.size) + 0.02
    upstream = rng.standard_normal(shape).astype(np.float32)
    y.backward(pycnn.tensor(upstream, device=device))
    np.testing.assert_allclose(x.grad.numpy(), upstream * (y.numpy() / data), rtol=1e-6)
    np.testing.assert_array_equal(getattr(F, op)(x, p, seed=11).numpy(), y.numpy())
    assert getattr(F, op)(x, p, training=False) is x


def test_channel_dropout_layers_and_errors():
    x = pycnn.ones(2, 3, 4, 5)
    layer = pycnn.nn.Dropout2d(0.25)
    assert repr(layer) == "Dropout2d(p=0.25, inplace=False)"
    assert layer.eval()(x) is x
    np.testing.assert_array_equal(pycnn.nn.Dropout1d(1.0)(pycnn.ones(2, 3, 4)).numpy(), 0.0)
    np.testing.assert_array_equal(F.dropout2d(x, 0.0).numpy(), 1.0)
    with pytest.raises(ValueError, match=r"Dropout2d: expected p to be a probability between 0 and 1, got 2"):
        pycnn.nn.Dropout2d(2)
    with pytest.raises(ValueError, match=r"dropout2d: expected a 3-d or 4-d input"):
        F.dropout2d(pycnn.ones(2, 3), 0.5)
    with pytest.raises(ValueError, match=r"dropout1d: expected p in \[0, 1\], got 1.5"):
        F.dropout1d(pycnn.ones(2, 3), 1.5)
    with pytest.raises(TypeError, match=r"dropout2d: expected a float32 input, got int64"):
        F.dropout2d(pycnn.tensor(np.ones((2, 3, 4), np.int64)), 0.5)
