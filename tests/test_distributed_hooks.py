"""The autograd hooks DistributedDataParallel stands on: Tensor.register_post_accumulate_grad_hook
fires once a leaf's gradient for the pass is final (torch's contract), as early as the tape allows,
and autograd.queue_callback runs after every leaf is accumulated."""
import numpy as np
import pytest
import torch

import pycnn
from pycnn import autograd, nn


def _residual_net():
    pycnn.manual_seed(0)
    first, second, head = nn.Conv2d(3, 4, 3, padding=1), nn.Conv2d(4, 4, 3, padding=1), nn.Linear(4 * 5 * 5, 3)
    return first, second, head


def _forward(first, second, head, x):
    h = nn.functional.relu(first(x))
    h = h + second(h)  # the second conv's input feeds two ops; its weight is used once
    h = h + second(h)  # ... and the second conv's weight twice: its hook must wait for both uses
    return head(h.flatten(1)).sum()


def test_hooks_fire_once_with_the_final_gradient_last_layers_first():
    first, second, head = _residual_net()
    x = pycnn.tensor(np.random.default_rng(0).standard_normal((2, 3, 5, 5)))
    reference = [p.numpy().copy() for p in (first.weight, second.weight, head.weight)]
    _forward(first, second, head, x).backward()
    final = {name: p.grad.numpy().copy() for name, p in
             (("first", first.weight), ("second", second.weight), ("head", head.weight))}
    for p in (first.weight, second.weight, head.weight):
        p.grad = None
    events = []
    for name, p in (("first", first.weight), ("second", second.weight), ("head", head.weight)):
        p.register_post_accumulate_grad_hook(lambda t, name=name: events.append((name, t.grad.numpy().copy())))
    loss = _forward(first, second, head, x)
    loss.backward()
    assert [name for name, _ in events] == ["head", "second", "first"]  # the order backward finishes them
    for name, grad in events:
        np.testing.assert_array_equal(grad, final[name])  # the whole gradient, not a part
    # The gradient equals torch's for the same net (second's weight used twice).
    t_first, t_second, t_head = (torch.nn.Parameter(torch.tensor(r)) for r in reference)
    tx = torch.tensor(x.numpy())
    h = torch.nn.functional.conv2d(tx, t_first, torch.tensor(first.bias.numpy()), padding=1).relu()
    for _ in range(2):
        h = h + torch.nn.functional.conv2d(h, t_second, torch.tensor(second.bias.numpy()), padding=1)
    (h.flatten(1) @ t_head.T + torch.tensor(head.bias.numpy())).sum().backward()
    np.testing.assert_allclose(final["second"], t_second.grad.numpy(), rtol=1e-4, atol=1e-5)


def test_hooks_fire_while_backward_still_runs_and_callbacks_after_all_leaves():
    first, second, head = _residual_net()
    x = pycnn.tensor(np.ones((1, 3, 5, 5), np.float32))
    timeline = []

    def on_head(t):
        timeline.append(("head", first.weight.grad is None))
        autograd.queue_callback(lambda: timeline.append(("callback", first.weight.grad is not None)))
    head.weight.register_post_accumulate_grad_hook(on_head)
    first.bias.register_post_accumulate_grad_hook(lambda t: timeline.append(("first.bias", True)))
    _forward(first, second, head, x).backward()
    # head's hook ran before first's gradient existed; the queued callback after every leaf.
    assert timeline == [("head", True), ("first.bias", True), ("callback", True)]


def test_hook_handles_remove_and_errors_are_named():
    first, _, _ = _residual_net()
    calls = []
    handle = first.bias.register_post_accumulate_grad_hook(lambda t: calls.append(1))
    first(pycnn.tensor(np.ones((1, 3, 5, 5), np.float32))).sum().backward()
    handle.remove()
    handle.remove()
    first(pycnn.tensor(np.ones((1, 3, 5, 5), np.float32))).sum().backward()
    assert calls == [1]
    with pytest.raises(RuntimeError, match="only leaf tensors"):
        (first.bias * 2.0).register_post_accumulate_grad_hook(lambda t: None)
    with pytest.raises(TypeError, match="expected a callable"):
        first.bias.register_post_accumulate_grad_hook(3)


def test_a_raising_callback_leaves_no_queue_behind():
    p = nn.Parameter(np.ones(3, np.float32))

    def hook(t):
        autograd.queue_callback(lambda: (_ for _ in ()).throw(ValueError("from the callback")))
    handle = p.register_post_accumulate_grad_hook(hook)
    with pytest.raises(ValueError, match="from the callback"):
        (p * 2.0).sum().backward()
    handle.remove()
    (p * 2.0).sum().backward()  # the failed pass's callback is not run again here
    assert autograd._final_callbacks() == []
    np.testing.assert_array_equal(p.grad.numpy(), [4.0, 4.0, 4.0])
