"""Autograd refuses what would give a silently wrong gradient, as PyTorch does: a tensor saved for
backward and then written in place (version counters), and a second backward through a graph whose
saved tensors were freed (retain_graph). The normal training loop trips neither."""
import numpy as np
import pytest
import torch

import pycnn
import pycnn.nn.functional as F
from pycnn import nn

INPLACE = r"modified by an inplace operation: \[pycnn float32 tensor of shape \(3, 4\)\], which " \
          r"LinearFunction saved for backward, is at version 1; expected version 0 instead"
TWICE = r"Trying to backward through the graph a second time .*Specify retain_graph=True"


def _rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _linear_graph(device):
    """loss = sum(sigmoid(x @ w.T)); LinearFunction saves x and w."""
    x = pycnn.tensor(_rand(5, 4), device=device)
    w = pycnn.tensor(_rand(3, 4, seed=1), device=device, requires_grad=True)
    return w, F.sigmoid(F.linear(x, w)).sum()


def test_versions_count_in_place_writes_and_are_shared_by_views(device):
    t = pycnn.tensor(_rand(2, 6), device=device)
    assert t._version == 0 and pycnn.zeros(3)._version == 0 and t.clone()._version == 0
    view = t.reshape(3, 4)
    t.zero_()
    assert t._version == 1 and view._version == 1
    view.copy_(_rand(3, 4))
    assert t._version == 2 and t.detach()._version == 2
    np.testing.assert_array_equal(t.numpy(), _rand(3, 4).reshape(2, 6))
    assert (t + 1)._version == 0  # an op's output is new memory


@pytest.mark.parametrize("write", ["zero_", "copy_", "copy_view", "detach_zero_"])
def test_writing_a_saved_input_raises(write, device):
    w, loss = _linear_graph(device)
    with pycnn.no_grad():
        if write == "zero_":
            w.zero_()
        elif write == "copy_":
            w.copy_(_rand(3, 4, seed=2))
        elif write == "copy_view":
            w.reshape(-1).copy_(_rand(12, seed=2))
    if write == "detach_zero_":  # detach shares the storage, as torch's does
        w.detach().zero_()
    with pytest.raises(RuntimeError, match=INPLACE):
        loss.backward()
    assert w.grad is None  # nothing was accumulated before the check failed


def test_writing_a_saved_output_raises(device):
    x = pycnn.tensor(_rand(3, 4), device=device, requires_grad=True)
    y = F.sigmoid(x)  # sigmoid's backward reads its output
    loss = y.sum()
    y.detach().zero_()
    with pytest.raises(RuntimeError, match=r"SigmoidFunction saved for backward, is at version 1; "
                                           r"expected version 0"):
        loss.backward()


def test_writing_a_tensor_that_was_not_saved_is_allowed(device):
    # add saves no tensor, so torch allows writing its inputs afterwards; the gradient is unaffected
    a = pycnn.tensor(_rand(3, 4), device=device, requires_grad=True)
    b = pycnn.tensor(_rand(3, 4, seed=1), device=device)
    loss = (a + b).sum()
    b.zero_()
    loss.backward()
    np.testing.assert_array_equal(a.grad.numpy(), np.ones((3, 4), np.float32))


def test_the_error_names_the_elementwise_op(device):
    a = pycnn.tensor(_rand(3, 4), device=device, requires_grad=True)
    b = pycnn.tensor(_rand(3, 4, seed=1), device=device)
    loss = (a * b).sum()
    b.copy_(_rand(3, 4, seed=5))
    with pytest.raises(RuntimeError, match=r"BinaryFunction \(mul\) saved for backward, is at version 1"):
        loss.backward()


def _step(optimizer):
    def run(params):
        opt = optimizer(params)
        for p in params:
            p.grad = pycnn.tensor(np.ones(p.shape, np.float32), device=p.device)
        opt.step()
    return run


@pytest.mark.parametrize("update", [
    _step(lambda p: pycnn.optim.SGD(p, lr=0.1)),
    _step(lambda p: pycnn.optim.SGD(p, lr=0.1, momentum=0.9)),
    _step(lambda p: pycnn.optim.Adam(p, lr=0.1, amsgrad=True)),
    _step(lambda p: pycnn.optim.AdamW(p, lr=0.1)),
    _step(lambda p: pycnn.optim.RMSprop(p, lr=0.1, momentum=0.5, centered=True)),
], ids=["sgd", "sgd_momentum", "adam_amsgrad", "adamw", "rmsprop"])
def test_an_optimizer_step_between_forward_and_backward_raises(update, device):
    w, loss = _linear_graph(device)
    update([w])
    assert w._version == 1  # one fused update, one bump
    with pytest.raises(RuntimeError, match=INPLACE):
        loss.backward()


def test_load_state_dict_between_forward_and_backward_raises(device):
    model = nn.Linear(4, 3, bias=False).to(device)
    x = pycnn.tensor(_rand(5, 4), device=device)
    loss = model(x).sum()
    v = model.weight._version  # initialisation wrote it already
    model.load_state_dict({"weight": _rand(3, 4, seed=7)})
    with pytest.raises(RuntimeError, match=INPLACE.replace("version 1", f"version {v + 1}")
                       .replace("version 0", f"version {v}")):
        loss.backward()


def test_in_place_writes_to_tensors_on_the_tape_are_refused(device):
    w = pycnn.tensor(_rand(3, 4), device=device, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"zero_: a leaf Variable that requires grad is being used "
                                           r"in an in-place operation"):
        w.zero_()
    with pytest.raises(RuntimeError, match=r"copy_: a leaf Variable that requires grad"):
        w.copy_(_rand(3, 4))
    y = w * 2.0
    with pytest.raises(RuntimeError, match=r"zero_: in-place operations on a tensor that is part of "
                                           r"the autograd tape are not supported"):
        y.zero_()
    assert w._version == 0 and y._version == 0
    with pycnn.no_grad():
        w.zero_()  # allowed outside the tape, as torch's no_grad
    assert w._version == 1


def _torch_loop(x, y, w1, w2, steps, accumulate):
    params = [torch.tensor(w1, dtype=torch.float64, requires_grad=True),
              torch.tensor(w2, dtype=torch.float64, requires_grad=True)]
    opt = torch.optim.SGD(params, lr=0.05, momentum=0.9)
    for _ in range(steps):
        opt.zero_grad()
        for chunk in np.array_split(np.arange(len(x)), accumulate):
            h = torch.relu(torch.tensor(x[chunk], dtype=torch.float64) @ params[0].T)
            logits = h @ params[1].T
            torch.nn.functional.cross_entropy(logits, torch.tensor(y[chunk])).backward()
        opt.step()
    return [p.detach().numpy() for p in params]


@pytest.mark.parametrize("accumulate", [1, 2])
def test_the_training_loop_and_gradient_accumulation_keep_working(accumulate, device):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((12, 6)).astype(np.float32)
    y = rng.integers(0, 4, 12)
    w1, w2 = _rand(8, 6, seed=4) * 0.5, _rand(4, 8, seed=5) * 0.5
    params = [pycnn.tensor(w1, device=device, requires_grad=True),
              pycnn.tensor(w2, device=device, requires_grad=True)]
    opt = pycnn.optim.SGD(params, lr=0.05, momentum=0.9)
    steps = 4
    for _ in range(steps):
        opt.zero_grad()
        for chunk in np.array_split(np.arange(len(x)), accumulate):
            h = F.relu(F.linear(pycnn.tensor(x[chunk], device=device), params[0]))
            loss = F.cross_entropy(F.linear(h, params[1]), pycnn.tensor(y[chunk], device=device))
            loss.backward()  # accumulates into .grad in place: no version error
        opt.step()  # bumps the parameters after the graph was used: allowed
    for ours, theirs in zip(params, _torch_loop(x, y, w1, w2, steps, accumulate)):
        np.testing.assert_allclose(ours.numpy(), theirs, rtol=1e-4, atol=1e-5)
        assert ours._version == steps


# ----- backward twice -------------------------------------------------------------------------------
def test_backward_twice_raises_like_torch(device):
    w, loss = _linear_graph(device)
    loss.backward()
    first = w.grad.numpy().copy()
    with pytest.raises(RuntimeError, match=TWICE):
        loss.backward()
    np.testing.assert_array_equal(w.grad.numpy(), first)  # not accumulated a second time

    tw = torch.tensor(_rand(3, 4, seed=1), dtype=torch.float64, requires_grad=True)
    tloss = torch.sigmoid(torch.tensor(_rand(5, 4), dtype=torch.float64) @ tw.T).sum()
    tloss.backward()
    with pytest.raises(RuntimeError, match=TWICE):
        tloss.backward()
    np.testing.assert_allclose(first, tw.grad.numpy(), rtol=1e-5)


def test_retain_graph_allows_a_second_backward(device):
    w, loss = _linear_graph(device)
    loss.backward(retain_graph=True)
    once = w.grad.numpy().copy()
    loss.backward(retain_graph=True)
    np.testing.assert_allclose(w.grad.numpy(), 2 * once, rtol=1e-6)
    loss.backward()  # the third frees the graph
    np.testing.assert_allclose(w.grad.numpy(), 3 * once, rtol=1e-6)
    with pytest.raises(RuntimeError, match=TWICE):
        loss.backward()


def test_a_graph_with_no_saved_tensors_can_be_gone_through_again(device):
    # torch frees only saved tensors: add, sum and reshape save none, so this works there too
    a = pycnn.tensor(_rand(3, 4), device=device, requires_grad=True)
    loss = (a + a).reshape(12).sum()
    loss.backward()
    loss.backward()
    np.testing.assert_array_equal(a.grad.numpy(), np.full((3, 4), 4.0, np.float32))


def test_two_losses_sharing_a_trunk_need_retain_graph(device):
    x = pycnn.tensor(_rand(3, 4), device=device, requires_grad=True)
    h = F.sigmoid(x)
    first, second = h.sum(), (h * h).sum()
    first.backward()
    with pytest.raises(RuntimeError, match=r"second time.*freed at SigmoidFunction"):
        second.backward()
    x.grad = None
    h = F.sigmoid(x)
    first, second = h.sum(), (h * h).sum()
    first.backward(retain_graph=True)
    second.backward()
    tx = torch.tensor(_rand(3, 4), dtype=torch.float64, requires_grad=True)
    th = torch.sigmoid(tx)
    (th.sum() + (th * th).sum()).backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-5)


def test_backward_frees_the_saved_activations(device):
    w, loss = _linear_graph(device)
    fns = []
    fn = loss._fn
    while fn is not None:
        fns.append(fn)
        parents = [e for e in fn.edges if isinstance(e, pycnn.autograd.Function)]
        fn = parents[0] if parents else None
    assert [type(f).__name__ for f in fns] == ["SumFunction", "SigmoidFunction", "LinearFunction"]
    loss.backward()
    assert fns[1].saved_versions is None and fns[2].saved_versions is None
    assert not fns[1].__dict__ and not fns[2].__dict__  # the activations are no longer held


def test_backward_signature_matches_torch(device):
    w, loss = _linear_graph(device)
    with pytest.raises(NotImplementedError, match=r"create_graph=True \(higher-order gradients\) is not "
                                                  r"supported"):
        loss.backward(create_graph=True)
    loss.backward(gradient=pycnn.tensor(2.0, device=device), retain_graph=False)
    w2, loss2 = _linear_graph(device)
    loss2.backward()
    np.testing.assert_allclose(w.grad.numpy(), 2 * w2.grad.numpy(), rtol=1e-6)


def test_fit_and_a_module_graph_train_as_before(device):
    pycnn.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                          nn.Linear(4 * 6 * 6, 3)).to(device)
    opt = pycnn.optim.Adam(model.parameters(), lr=1e-2)
    x = pycnn.tensor(_rand(6, 1, 8, 8), device=device)
    y = pycnn.tensor(np.arange(6) % 3, device=device)
    losses = []
    for _ in range(15):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
