"""pycnn.optim against torch.optim: the same parameters and gradients through 20 steps of each
optimizer must land on the same values (relative error < 1e-6, torch float32 single-tensor path)."""
import numpy as np
import pytest
import torch

import pycnn
from pycnn import _C
from helpers.op_check import rel_error

# Odd, non-square shapes; the last is large enough (> 2^16 elements) to take the OpenMP path.
SHAPES = [(3,), (4, 5), (2, 3, 3, 3), (7, 11), (70001,)]
STEPS = 20

SGD_CONFIGS = [
    dict(lr=0.1),
    dict(lr=0.05, momentum=0.9),
    dict(lr=0.05, momentum=0.9, nesterov=True),
    dict(lr=0.05, momentum=0.9, dampening=0.1, weight_decay=1e-2),
    dict(lr=0.02, weight_decay=1e-3),
    dict(lr=0.03, momentum=0.5, nesterov=True, weight_decay=5e-4, maximize=True),
]
ADAM_CONFIGS = [
    dict(),
    dict(lr=1e-2, weight_decay=1e-2),
    dict(lr=1e-2, amsgrad=True),
    dict(lr=5e-3, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1, amsgrad=True, maximize=True),
]
ADAMW_CONFIGS = [
    dict(),
    dict(lr=1e-2, weight_decay=0.1, amsgrad=True),
    dict(lr=3e-3, betas=(0.5, 0.9), weight_decay=0.0),
]
RMSPROP_CONFIGS = [
    dict(),
    dict(centered=True),
    dict(lr=1e-3, momentum=0.9),
    dict(lr=1e-3, momentum=0.9, centered=True, weight_decay=1e-2),
    dict(lr=5e-3, alpha=0.9, eps=1e-6, maximize=True),
]



@pytest.fixture(autouse=True, scope="module")
def torch_single_thread():
    """torch's reference runs are tiny; its thread pool only fights pycnn's for the cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


CASES = ([("SGD", c) for c in SGD_CONFIGS] + [("Adam", c) for c in ADAM_CONFIGS]
         + [("AdamW", c) for c in ADAMW_CONFIGS] + [("RMSprop", c) for c in RMSPROP_CONFIGS])


def _make_data(seed, shapes=SHAPES, steps=STEPS):
    rng = np.random.default_rng(seed)
    init = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    grads = [[rng.standard_normal(s).astype(np.float32) for s in shapes] for _ in range(steps)]
    return init, grads


def _pycnn_params(init, device):
    return [pycnn.tensor(w, device=device, requires_grad=True) for w in init]


def _run_pycnn(opt, params, grads, device):
    for step_grads in grads:
        for p, g in zip(params, step_grads):
            p.grad = pycnn.tensor(g, device=device)
        opt.step()


def _run_torch(name, config, init, grads):
    params = [torch.tensor(w, requires_grad=True) for w in init]
    opt = getattr(torch.optim, name)(params, foreach=False, **config)
    for step_grads in grads:
        for p, g in zip(params, step_grads):
            p.grad = torch.tensor(g)
        opt.step()
    return params, opt


@pytest.mark.parametrize("name,config", CASES,
                         ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
def test_matches_torch(name, config, device):
    init, grads = _make_data(seed=len(name) * 100 + len(config))
    params = _pycnn_params(init, device)
    opt = getattr(pycnn.optim, name)(params, **config)
    _run_pycnn(opt, params, grads, device)
    ref_params, ref_opt = _run_torch(name, config, init, grads)
    for i, (p, r) in enumerate(zip(params, ref_params)):
        err = rel_error(p.numpy(), r.detach().numpy())
        assert err < 1e-6, f"{name}{config} param {i} {tuple(p.shape)}: relative error {err:.3g}"
        # The state buffers carry torch's names and values.
        ours = opt.state[p]
        for key, value in ref_opt.state[r].items():
            if key == "step":
                assert ours["step"] == int(value), f"{name} step count"
            else:
                err = rel_error(ours[key].numpy(), value.numpy())
                assert err < 1e-6, f"{name}{config} state {key} of param {i}: rel error {err:.3g}"
        assert set(ours) == set(ref_opt.state[r]), f"{name}: state keys differ from torch's"


def test_param_groups_with_their_own_hyperparameters(device):
    init, grads = _make_data(seed=7, shapes=[(5, 3), (6,), (2, 2)])
    params = _pycnn_params(init, device)
    groups = [{"params": params[:2]}, {"params": params[2:], "lr": 0.2, "momentum": 0.0}]
    opt = pycnn.optim.SGD(groups, lr=0.05, momentum=0.9, weight_decay=1e-3)
    assert opt.param_groups[0]["lr"] == 0.05 and opt.param_groups[1]["lr"] == 0.2
    assert opt.param_groups[1]["weight_decay"] == 1e-3  # filled from the defaults
    _run_pycnn(opt, params, grads, device)
    ref = [torch.tensor(w, requires_grad=True) for w in init]
    ref_opt = torch.optim.SGD([{"params": ref[:2]}, {"params": ref[2:], "lr": 0.2, "momentum": 0.0}],
                              lr=0.05, momentum=0.9, weight_decay=1e-3, foreach=False)
    for step_grads in grads:
        for r, g in zip(ref, step_grads):
            r.grad = torch.tensor(g)
        ref_opt.step()
    for p, r in zip(params, ref):
        assert rel_error(p.numpy(), r.detach().numpy()) < 1e-6


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop"])
def test_parameters_without_grad_or_frozen_are_untouched(name, device):
    init, grads = _make_data(seed=3, shapes=[(4, 3), (5,), (2, 6)], steps=3)
    params = _pycnn_params(init, device)
    params[2].requires_grad_(False)  # frozen, but with a stale gradient lying around
    config = dict(lr=0.1, weight_decay=0.1)
    if name in ("SGD", "RMSprop"):
        config["momentum"] = 0.9
    opt = getattr(pycnn.optim, name)(params, **config)
    for step_grads in grads:
        params[0].grad = pycnn.tensor(step_grads[0], device=device)
        params[1].grad = None
        params[2].grad = pycnn.tensor(step_grads[2], device=device)
        opt.step()
    assert not np.array_equal(params[0].numpy(), init[0])
    np.testing.assert_array_equal(params[1].numpy(), init[1])
    np.testing.assert_array_equal(params[2].numpy(), init[2])
    assert not opt.state.get(params[1]) and not opt.state.get(params[2])


@pytest.mark.parametrize("name,config", [("SGD", dict(lr=0.05, momentum=0.9, nesterov=True)),
                                         ("Adam", dict(lr=1e-2, amsgrad=True, weight_decay=1e-2)),
                                         ("AdamW", dict(lr=1e-2)),
                                         ("RMSprop", dict(momentum=0.5, centered=True))])
def test_state_dict_round_trip_then_continue(name, config, device, tmp_path):
    init, grads = _make_data(seed=11, shapes=[(3, 4), (9,), (2, 3, 5)])
    cls = getattr(pycnn.optim, name)
    # Uninterrupted: all 20 steps with one optimizer.
    straight = _pycnn_params(init, device)
    _run_pycnn(cls(straight, **config), straight, grads, device)
    # Interrupted: 10 steps, save parameters and optimizer state, restore both into new objects.
    first = _pycnn_params(init, device)
    opt = cls(first, **config)
    _run_pycnn(opt, first, grads[:10], device)
    saved = opt.state_dict()
    for entry in saved["state"].values():
        for value in entry.values():
            assert isinstance(value, (np.ndarray, int, float)), type(value)
    snapshot = [p.numpy().copy() for p in first]
    _run_pycnn(opt, first, grads[10:11], device)  # the saved arrays are copies, not views
    resumed = _pycnn_params(snapshot, device)
    opt2 = cls(resumed, lr=123.0)
    opt2.load_state_dict(saved)
    assert opt2.param_groups[0]["lr"] == config.get("lr", opt.defaults["lr"])
    _run_pycnn(opt2, resumed, grads[10:], device)
    for p, q in zip(resumed, straight):
        np.testing.assert_array_equal(p.numpy(), q.numpy())


def test_state_dict_matches_torch_layout():
    init, grads = _make_data(seed=5, shapes=[(2, 3), (4,)], steps=2)
    params = _pycnn_params(init, "cpu")
    opt = pycnn.optim.Adam(params, lr=1e-2, amsgrad=True)
    _run_pycnn(opt, params, grads, "cpu")
    ours = opt.state_dict()
    _, ref_opt = _run_torch("Adam", dict(lr=1e-2, amsgrad=True), init, grads)
    theirs = ref_opt.state_dict()
    assert sorted(ours["state"]) == sorted(theirs["state"]) == [0, 1]
    assert set(ours["state"][0]) == set(theirs["state"][0])
    assert ours["param_groups"][0]["params"] == theirs["param_groups"][0]["params"]
    for key in ("lr", "betas", "eps", "weight_decay", "amsgrad", "maximize"):
        assert ours["param_groups"][0][key] == theirs["param_groups"][0][key], key


def test_load_state_dict_rejects_mismatches():
    params = _pycnn_params([np.zeros((2, 3), np.float32), np.zeros(4, np.float32)], "cpu")
    for p in params:
        p.grad = pycnn.ones(*p.shape)
    opt = pycnn.optim.Adam(params)
    opt.step()
    saved = opt.state_dict()
    with pytest.raises(ValueError, match="Adam.load_state_dict: the state dict has 1 parameter "
                                         "groups, this optimizer has 2"):
        pycnn.optim.Adam([{"params": [params[0]]}, {"params": [params[1]]}]).load_state_dict(saved)
    with pytest.raises(ValueError, match="parameter group 0 has 2 parameters in the state dict, 1"):
        pycnn.optim.Adam([params[0]]).load_state_dict(saved)
    other = _pycnn_params([np.zeros((3, 2), np.float32), np.zeros(4, np.float32)], "cpu")
    with pytest.raises(ValueError, match=r"state 'exp_avg' of parameter 0 has shape \(2, 3\), the "
                                         r"parameter has \(3, 2\)"):
        pycnn.optim.Adam(other).load_state_dict(saved)
    with pytest.raises(ValueError, match="expected a dict with keys 'state' and 'param_groups'"):
        opt.load_state_dict({"state": {}})


def test_zero_grad():
    params = _pycnn_params([np.ones((2, 2), np.float32), np.ones(3, np.float32)], "cpu")
    for p in params:
        p.grad = pycnn.ones(*p.shape)
    opt = pycnn.optim.SGD(params, lr=0.1)
    opt.zero_grad(set_to_none=False)
    for p in params:
        np.testing.assert_array_equal(p.grad.numpy(), np.zeros(p.shape, np.float32))
    opt.zero_grad()
    assert all(p.grad is None for p in params)


def test_step_calls_closure_and_returns_its_loss():
    p = pycnn.tensor([1.0, -2.0], requires_grad=True)
    opt = pycnn.optim.SGD([p], lr=0.5)

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    loss = opt.step(closure)
    assert loss.item() == pytest.approx(5.0)
    np.testing.assert_allclose(p.numpy(), [0.0, 0.0])  # p - 0.5 * 2p


def test_kernels_on_device_match_cpu(device):
    """The fused kernels called directly: the device's result equals the CPU's (< 1e-6)."""
    rng = np.random.default_rng(21)
    n = 100003
    p0, g, m0, v0 = (rng.standard_normal(n).astype(np.float32) for _ in range(4))
    v0 = np.abs(v0) + 0.5  # keeps the centered variance sq - ga^2 positive
    results = []
    for dev in ("cpu", device):
        p, m, v, vmax = (pycnn.tensor(a, device=dev)._data for a in (p0, m0, v0, v0))
        grad = pycnn.tensor(g, device=dev)._data
        _C.adam_update(p, grad, m, v, vmax, 3, 1e-2, 0.9, 0.999, 1e-8, 0.1, True, False, True)
        buf = pycnn.tensor(m0, device=dev)._data
        _C.sgd_update(p, grad, buf, 0.1, 0.9, 0.0, 1e-2, True, False, False)
        sq, ga = pycnn.tensor(v0, device=dev)._data, pycnn.tensor(m0 * 0.1, device=dev)._data
        _C.rmsprop_update(p, grad, sq, ga, None, 1e-2, 0.99, 1e-8, 0.0, 0.0, True, False)
        results.append([t.numpy() for t in (p, m, v, vmax, buf, sq, ga)])
    for ours, ref in zip(results[1], results[0]):
        assert rel_error(ours, ref) < 1e-6


# ----- bad input ------------------------------------------------------------------------------
@pytest.mark.parametrize("make,error,match", [
    (lambda ps: pycnn.optim.SGD(ps, lr=-0.1), ValueError, r"SGD: invalid lr value: -0.1"),
    (lambda ps: pycnn.optim.SGD(ps, lr=0.1, momentum=-1), ValueError, "SGD: invalid momentum"),
    (lambda ps: pycnn.optim.SGD(ps, lr=0.1, weight_decay=-1e-4), ValueError,
     "SGD: invalid weight_decay value: -0.0001"),
    (lambda ps: pycnn.optim.SGD(ps, lr=0.1, nesterov=True), ValueError,
     "SGD: Nesterov momentum requires a momentum > 0 and zero dampening"),
    (lambda ps: pycnn.optim.SGD(ps, lr=0.1, momentum=0.9, dampening=0.1, nesterov=True),
     ValueError, "Nesterov momentum requires .* dampening=0.1"),
    (lambda ps: pycnn.optim.SGD(ps, lr="0.1"), TypeError, "SGD: expected lr to be a number, got str"),
    (lambda ps: pycnn.optim.Adam(ps, lr=-1e-3), ValueError, "Adam: invalid lr value: -0.001"),
    (lambda ps: pycnn.optim.Adam(ps, betas=(1.0, 0.999)), ValueError,
     r"Adam: invalid betas\[0\] value: 1.0 \(expected betas\[0\] < 1\)"),
    (lambda ps: pycnn.optim.Adam(ps, betas=(0.9, -0.1)), ValueError, r"Adam: invalid betas\[1\]"),
    (lambda ps: pycnn.optim.Adam(ps, betas=0.9), TypeError, "Adam: expected betas to be a pair"),
    (lambda ps: pycnn.optim.Adam(ps, eps=-1e-8), ValueError, "Adam: invalid eps value: -1e-08"),
    (lambda ps: pycnn.optim.AdamW(ps, weight_decay=-0.01), ValueError,
     "AdamW: invalid weight_decay value: -0.01"),
    (lambda ps: pycnn.optim.RMSprop(ps, alpha=-0.5), ValueError, "RMSprop: invalid alpha value"),
    (lambda ps: pycnn.optim.RMSprop(ps, momentum=-0.5), ValueError, "RMSprop: invalid momentum"),
    (lambda ps: pycnn.optim.RMSprop(ps, eps=-1.0), ValueError, "RMSprop: invalid eps value: -1.0"),
    (lambda ps: pycnn.optim.SGD(ps[0], lr=0.1), TypeError, "SGD: params should be an iterable of "
                                                           "Tensors or dicts, got a single Tensor"),
    (lambda ps: pycnn.optim.SGD([], lr=0.1), ValueError, "SGD: got an empty parameter list"),
    (lambda ps: pycnn.optim.SGD(5, lr=0.1), TypeError, "SGD: params should be an iterable"),
    (lambda ps: pycnn.optim.Adam([np.zeros(3)]), TypeError,
     "Adam: can only optimize pycnn.Tensor parameters, got ndarray"),
    (lambda ps: pycnn.optim.Adam([ps[0] * 2.0]), ValueError, "Adam: can't optimize a non-leaf"),
    (lambda ps: pycnn.optim.Adam([{"params": ps}, {"params": [ps[0]]}]), ValueError,
     "Adam: some parameters appear in more than one parameter group"),
    (lambda ps: pycnn.optim.Adam([{"lr": 0.1}]), ValueError, "Adam: a param group needs a 'params'"),
    (lambda ps: pycnn.optim.SGD([{"params": ps, "lr": -1.0}], lr=0.1), ValueError,
     "SGD: invalid lr value: -1.0"),
])
def test_bad_hyperparameters(make, error, match):
    params = _pycnn_params([np.zeros((2, 3), np.float32), np.zeros(4, np.float32)], "cpu")
    with pytest.raises(error, match=match):
        make(params)


def test_bad_gradients_name_the_kernel():
    p = pycnn.tensor(np.zeros((2, 3), np.float32), requires_grad=True)
    p.grad = pycnn.tensor(np.zeros((3, 2), np.float32))
    with pytest.raises(ValueError, match=r"sgd: expected grad of shape \(2, 3\), got \(3, 2\)"):
        pycnn.optim.SGD([p], lr=0.1).step()
    p.grad = pycnn.tensor(np.zeros((2, 3), np.int64))
    with pytest.raises(TypeError, match="adam: expected grad to be float32, got int64"):
        pycnn.optim.Adam([p]).step()
    p.grad = np.zeros((2, 3), np.float32)
    with pytest.raises(TypeError, match="RMSprop: expected .grad to be a pycnn.Tensor or None, got "
                                        "ndarray"):
        pycnn.optim.RMSprop([p]).step()


def test_bindings_check_state_buffers():
    t = lambda *shape: pycnn.zeros(*shape)._data  # noqa: E731
    with pytest.raises(ValueError, match="sgd: expected a momentum_buffer exactly when momentum != 0"):
        _C.sgd_update(t(3), t(3), None, 0.1, 0.9, 0.0, 0.0, False, False, True)
    with pytest.raises(ValueError, match=r"sgd: expected momentum_buffer of shape \(3,\), got \(4,\)"):
        _C.sgd_update(t(3), t(3), t(4), 0.1, 0.9, 0.0, 0.0, False, False, True)
    with pytest.raises(ValueError, match="adam: expected step >= 1"):
        _C.adam_update(t(3), t(3), t(3), t(3), None, 0, 1e-3, 0.9, 0.999, 1e-8, 0.0, False, False,
                       False)
    with pytest.raises(ValueError, match="adam: expected max_exp_avg_sq exactly when amsgrad"):
        _C.adam_update(t(3), t(3), t(3), t(3), None, 1, 1e-3, 0.9, 0.999, 1e-8, 0.0, True, False,
                       False)
    with pytest.raises(ValueError, match=r"adam: expected exp_avg_sq of shape \(3,\), got \(2, 2\)"):
        _C.adam_update(t(3), t(3), t(3), t(2, 2), None, 1, 1e-3, 0.9, 0.999, 1e-8, 0.0, False,
                       False, False)
    with pytest.raises(ValueError, match="rmsprop: expected grad_avg exactly when centered"):
        _C.rmsprop_update(t(3), t(3), t(3), None, None, 1e-2, 0.99, 1e-8, 0.0, 0.0, True, False)
    with pytest.raises(ValueError, match="rmsprop: expected a momentum_buffer exactly when momentum"):
        _C.rmsprop_update(t(3), t(3), t(3), None, None, 1e-2, 0.99, 1e-8, 0.0, 0.5, False, False)
    with pytest.raises(TypeError, match="rmsprop: expected param to be float32, got int64"):
        _C.rmsprop_update(pycnn.tensor([1, 2, 3])._data, t(3), t(3), None, None, 1e-2, 0.99, 1e-8,
                          0.0, 0.0, False, False)


@pytest.mark.cuda
@pytest.mark.skipif(not pycnn.cuda.is_available(), reason="no CUDA GPU: needs tensors on two devices")
def test_grad_on_another_device_is_refused():
    p = pycnn.zeros(3, device="cuda", requires_grad=True)
    p.grad = pycnn.zeros(3)
    with pytest.raises(ValueError, match="adam: expected param and grad on the same device, got "
                                         "cuda and cpu"):
        pycnn.optim.Adam([p]).step()
