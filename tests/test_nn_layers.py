"""Layers against torch.nn: default init, forward and backward after loading torch's weights.

Layers whose functional op lives on another branch skip (only) while ``F`` lacks that op; after the
merge they run."""
import inspect
import math

import numpy as np
import pytest
import torch

import pycnn
from pycnn import nn


def check_layer(layer, torch_layer, inputs, device, target=None, rtol=1e-4, atol=1e-5, grad=True):
    """Loads torch_layer's state into layer, runs both on ``inputs`` (float arrays get gradients),
    and compares outputs, input gradients and parameter gradients. Returns the outputs."""
    layer.load_state_dict({k: v.detach().numpy() for k, v in torch_layer.state_dict().items()})
    layer.to(device)
    xs = [pycnn.tensor(x, device=device, requires_grad=grad and x.dtype == np.float32) for x in inputs]
    txs = [torch.tensor(x, requires_grad=grad and x.dtype == np.float32) for x in inputs]
    out, torch_out = layer(*xs), torch_layer(*txs)
    np.testing.assert_allclose(out.numpy(), torch_out.detach().numpy(), rtol=rtol, atol=atol)
    if grad:
        g = np.random.default_rng(99).standard_normal(torch_out.shape).astype(np.float32)
        out.backward(pycnn.tensor(g, device=device))
        torch_out.backward(torch.from_numpy(g))
        for x, tx in zip(xs, txs):
            if tx.requires_grad:
                np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=rtol, atol=atol)
        for (name, p), (_, tp) in zip(layer.named_parameters(), torch_layer.named_parameters()):
            np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=rtol, atol=atol, err_msg=name)
    for key, value in torch_layer.state_dict().items():  # running statistics updated alike
        np.testing.assert_allclose(layer.state_dict()[key], value.numpy(), rtol=rtol, atol=atol, err_msg=key)
    return out, torch_out


def randn(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


# ----- default initialisation -----------------------------------------------------------------------
@pytest.mark.parametrize("make, fan_in", [
    (lambda lib: lib.Conv2d(64, 128, 3), 64 * 9),
    (lambda lib: lib.Conv2d(64, 96, (3, 5), groups=4), 16 * 15),
    (lambda lib: lib.Linear(1000, 300), 1000),
])
def test_default_init_bounds_equal_torch(make, fan_in):
    layer, torch_layer = make(nn), make(torch.nn)
    bound = 1 / math.sqrt(fan_in)
    torch_bound = float(torch_layer.weight.detach().abs().max())
    for p, tp in zip(layer.parameters(), torch_layer.parameters()):
        values = p.numpy()
        assert values.shape == tuple(tp.shape)
        assert np.abs(values).max() <= bound
        # the samples fill the interval: the largest is near the bound, the spread is bound/sqrt(3)
        assert np.abs(values).max() > bound * (0.99 if values.size > 10000 else 0.9)
    weight = layer.weight.numpy()
    assert abs(weight.std() - bound / math.sqrt(3)) < 0.02 * bound
    assert abs(torch_bound - np.abs(weight).max()) < 0.01 * bound


def test_seeded_layers_are_reproducible():
    pycnn.nn.init.manual_seed(3)
    a = nn.Conv2d(3, 4, 3)
    pycnn.nn.init.manual_seed(3)
    b = nn.Conv2d(3, 4, 3)
    c = nn.Conv2d(3, 4, 3)
    np.testing.assert_array_equal(a.weight.numpy(), b.weight.numpy())
    np.testing.assert_array_equal(a.bias.numpy(), b.bias.numpy())
    assert not np.array_equal(b.weight.numpy(), c.weight.numpy())


# ----- convolution, linear, flatten -----------------------------------------------------------------
@pytest.mark.parametrize("args, kwargs, shape", [
    ((3, 5, 3), {}, (2, 3, 9, 7)),
    ((4, 6, (3, 2)), dict(stride=(2, 3), padding=(2, 1), dilation=2, groups=2), (1, 4, 11, 10)),
    ((3, 4, 3), dict(padding="same", bias=False), (2, 3, 6, 5)),
    ((6, 6, 3), dict(groups=6, padding="valid"), (1, 6, 5, 5)),
])
def test_conv2d_matches_torch(device, args, kwargs, shape):
    torch.manual_seed(0)
    out, _ = check_layer(nn.Conv2d(*args, **kwargs), torch.nn.Conv2d(*args, **kwargs), [randn(*shape)], device)
    assert out.device == device


def test_linear_and_flatten_match_torch(device):
    torch.manual_seed(1)
    check_layer(nn.Linear(7, 3), torch.nn.Linear(7, 3), [randn(4, 7)], device)
    check_layer(nn.Linear(7, 3, bias=False), torch.nn.Linear(7, 3, bias=False), [randn(2, 5, 7)], device)
    check_layer(nn.Flatten(), torch.nn.Flatten(), [randn(2, 3, 4, 5)], device)
    check_layer(nn.Flatten(0, 2), torch.nn.Flatten(0, 2), [randn(2, 3, 4, 5)], device)


def test_layer_argument_errors():
    message = r"Conv2d: in_channels \(3\) and out_channels \(4\) must both be divisible by groups \(2\)"
    with pytest.raises(ValueError, match=message):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="Conv2d: only padding_mode='zeros'"):
        nn.Conv2d(3, 4, 3, padding_mode="reflect")
    with pytest.raises(ValueError, match="Conv2d: expected padding"):
        nn.Conv2d(3, 4, 3, padding="full")
    with pytest.raises(ValueError, match="Conv2d: expected kernel_size to be an int or a pair"):
        nn.Conv2d(3, 4, (3, 3, 3))
    with pytest.raises(ValueError, match="Linear: expected in_features to be a positive int, got 0"):
        nn.Linear(0, 3)
    with pytest.raises(ValueError, match="Dropout: expected p"):
        nn.Dropout(1.5)
    with pytest.raises(ValueError, match="BatchNorm2d: expected num_features"):
        nn.BatchNorm2d(-1)
    with pytest.raises(ValueError, match="MSELoss: expected reduction"):
        nn.MSELoss(reduction="avg")
    with pytest.raises(ValueError, match="CrossEntropyLoss: expected label_smoothing"):
        nn.CrossEntropyLoss(label_smoothing=2.0)
    with pytest.raises(ValueError, match=r"BatchNorm2d: expected 4D input, got 2D input of shape \(2, 3\)"):
        nn.BatchNorm2d(3)(pycnn.ones(2, 3))
    with pytest.raises(ValueError, match=r"BatchNorm1d: expected 2D or 3D input, got 4D"):
        nn.BatchNorm1d(3)(pycnn.ones(2, 3, 1, 1))


# ----- layers whose ops are merged from other branches ----------------------------------------------
def test_max_pool2d_matches_torch(device):
    check_layer(nn.MaxPool2d(3, 2, 1, ceil_mode=True), torch.nn.MaxPool2d(3, 2, 1, ceil_mode=True),
                [randn(2, 3, 9, 8)], device)
    check_layer(nn.MaxPool2d(2), torch.nn.MaxPool2d(2), [randn(1, 2, 6, 7)], device)
    check_layer(nn.MaxPool2d(2, dilation=2), torch.nn.MaxPool2d(2, dilation=2), [randn(1, 2, 7, 7)], device)
    # torch's positional order: (kernel_size, stride, padding, dilation, return_indices, ceil_mode)
    check_layer(nn.MaxPool2d(3, 2, 1, 1, False, True), torch.nn.MaxPool2d(3, 2, 1, 1, False, True),
                [randn(2, 3, 8, 8)], device)
    x = randn(2, 3, 7, 5)
    out, indices = nn.MaxPool2d(2, return_indices=True)(pycnn.tensor(x, device=device))
    ref, ref_indices = torch.nn.MaxPool2d(2, return_indices=True)(torch.tensor(x))
    assert np.array_equal(indices.numpy(), ref_indices.numpy())
    assert np.allclose(out.numpy(), ref.numpy())


def test_avg_pool2d_matches_torch(device):
    check_layer(nn.AvgPool2d(3, 2, 1), torch.nn.AvgPool2d(3, 2, 1), [randn(2, 3, 9, 8)], device)
    check_layer(nn.AvgPool2d(3, 2, 1, ceil_mode=True, count_include_pad=False),
                torch.nn.AvgPool2d(3, 2, 1, ceil_mode=True, count_include_pad=False), [randn(1, 2, 8, 7)], device)
    check_layer(nn.AvgPool2d(2, divisor_override=3), torch.nn.AvgPool2d(2, divisor_override=3),
                [randn(1, 2, 6, 6)], device)


def test_adaptive_avg_pool2d_matches_torch(device):
    check_layer(nn.AdaptiveAvgPool2d((1, 1)), torch.nn.AdaptiveAvgPool2d((1, 1)), [randn(2, 3, 5, 7)], device)
    check_layer(nn.AdaptiveAvgPool2d(3), torch.nn.AdaptiveAvgPool2d(3), [randn(1, 2, 7, 8)], device)


def test_activations_match_torch(device):
    x = randn(2, 3, 4, 5)
    check_layer(nn.ReLU(), torch.nn.ReLU(), [x], device)
    check_layer(nn.ReLU(inplace=True), torch.nn.ReLU(), [x], device)
    check_layer(nn.LeakyReLU(0.2), torch.nn.LeakyReLU(0.2), [x], device)
    check_layer(nn.LeakyReLU(), torch.nn.LeakyReLU(), [x], device)
    check_layer(nn.Sigmoid(), torch.nn.Sigmoid(), [x], device)
    check_layer(nn.Tanh(), torch.nn.Tanh(), [x], device)


def test_softmax_layers_match_torch(device):
    check_layer(nn.Softmax(dim=1), torch.nn.Softmax(dim=1), [randn(4, 10)], device)
    check_layer(nn.LogSoftmax(dim=-1), torch.nn.LogSoftmax(dim=-1), [randn(2, 3, 6)], device)
    check_layer(nn.LogSoftmax(dim=1), torch.nn.LogSoftmax(dim=1), [randn(2, 5, 3, 3)], device)


def test_dropout_train_and_eval(device):
    layer = nn.Dropout(0.25).to(device)
    x = pycnn.ones(200, 500, device=device)
    out = layer(x).numpy()
    kept = out != 0
    assert abs(1 - kept.mean() - 0.25) < 0.01
    np.testing.assert_allclose(out[kept], 1 / 0.75, rtol=1e-6)
    layer.eval()
    np.testing.assert_array_equal(layer(x).numpy(), x.numpy())


@pytest.mark.parametrize("kwargs", [{}, dict(momentum=None), dict(affine=False), dict(bias=False),
                                    dict(track_running_stats=False), dict(momentum=0.3, eps=1e-3)])
def test_batch_norm2d_train_then_eval_matches_torch(device, kwargs):
    if "bias" in kwargs and "bias" not in inspect.signature(torch.nn.BatchNorm2d).parameters:
        pytest.skip(f"torch {torch.__version__} has no BatchNorm2d(bias=...) to compare with (2.13 has)")
    torch.manual_seed(2)
    layer, torch_layer = nn.BatchNorm2d(3, **kwargs), torch.nn.BatchNorm2d(3, **kwargs)
    for p in torch_layer.parameters():
        torch.nn.init.uniform_(p, 0.5, 1.5)
    for step in range(3):  # check_layer reloads torch's running stats, so compare them after each step
        check_layer(layer, torch_layer, [randn(4, 3, 5, 6, seed=step) * 2 + 1], device)
    if torch_layer.track_running_stats:
        assert layer.num_batches_tracked.item() == torch_layer.num_batches_tracked.item() == 3
    layer.eval(), torch_layer.eval()
    check_layer(layer, torch_layer, [randn(2, 3, 4, 4, seed=7)], device)


def test_batch_norm_counts_batches_itself(device):
    layer = nn.BatchNorm2d(2, momentum=None).to(device)
    torch_layer = torch.nn.BatchNorm2d(2, momentum=None)
    for step in range(4):
        x = randn(3, 2, 4, 4, seed=step)
        layer(pycnn.tensor(x, device=device))
        torch_layer(torch.from_numpy(x))
    assert layer.num_batches_tracked.item() == 4
    np.testing.assert_allclose(layer.running_var.numpy(), torch_layer.running_var.numpy(), rtol=1e-5)
    np.testing.assert_allclose(layer.running_mean.numpy(), torch_layer.running_mean.numpy(), atol=1e-6)
    layer.eval()
    layer(pycnn.tensor(randn(3, 2, 4, 4), device=device))
    assert layer.num_batches_tracked.item() == 4


def test_batch_norm1d_matches_torch(device):
    torch.manual_seed(3)
    check_layer(nn.BatchNorm1d(5), torch.nn.BatchNorm1d(5), [randn(8, 5)], device)
    check_layer(nn.BatchNorm1d(4), torch.nn.BatchNorm1d(4), [randn(3, 4, 6)], device)


def test_local_response_norm_matches_torch(device):
    check_layer(nn.LocalResponseNorm(5, 1e-4, 0.75, 2.0), torch.nn.LocalResponseNorm(5, 1e-4, 0.75, 2.0),
                [randn(2, 7, 4, 5)], device)
    check_layer(nn.LocalResponseNorm(2, alpha=0.1), torch.nn.LocalResponseNorm(2, alpha=0.1),
                [randn(1, 4, 3, 3)], device)


@pytest.mark.parametrize("kwargs", [{}, dict(reduction="sum"), dict(reduction="none"),
                                    dict(ignore_index=2), dict(label_smoothing=0.1)])
def test_cross_entropy_loss_matches_torch(device, kwargs):
    target = np.array([0, 2, 1, 4, 2, 3], dtype=np.int64)
    check_layer(nn.CrossEntropyLoss(**kwargs), torch.nn.CrossEntropyLoss(**kwargs), [randn(6, 5), target], device)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_loss_matches_torch(device, reduction):
    check_layer(nn.MSELoss(reduction=reduction), torch.nn.MSELoss(reduction=reduction),
                [randn(3, 4), randn(3, 4, seed=1)], device)


def test_small_cnn_with_loss_matches_torch(device):
    def build(lib):
        class WithLoss(lib.Module):
            def __init__(self):
                super().__init__()
                self.features = lib.Sequential(lib.Conv2d(3, 6, 3, padding=1), lib.BatchNorm2d(6), lib.ReLU(),
                                               lib.MaxPool2d(2), lib.Flatten(), lib.Dropout(0.0),
                                               lib.Linear(6 * 4 * 4, 5))
                self.loss = lib.CrossEntropyLoss()

            def forward(self, x, target):
                return self.loss(self.features(x), target)

        return WithLoss()

    torch.manual_seed(4)
    x, target = randn(4, 3, 8, 8), np.array([0, 3, 1, 4], dtype=np.int64)
    check_layer(build(nn), build(torch.nn), [x, target], device)
