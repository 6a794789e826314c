"""One helper that checks an op's forward and backward against PyTorch in float64.

    check_op(pycnn_fn, torch_fn, inputs, device=...)

``inputs`` is a list of numpy arrays (or ``(array, requires_grad)`` pairs). Both functions receive
tensors made from the same data: pycnn float32 on ``device``, torch float64 on the CPU; int64 arrays
stay int64 (labels) and never require grad. The output is compared, then both sides back-propagate
the same random upstream gradient and every input gradient is compared. The measure is the relative
error ||pycnn - torch|| / ||torch|| (tinygrad's helper_test_op, llm.c's reference discipline).
"""
import numpy as np
import torch

import pycnn


def rel_error(ours, reference):
    ours = np.asarray(ours, dtype=np.float64)
    reference = np.asarray(reference, dtype=np.float64)
    assert ours.shape == reference.shape, f"shape {ours.shape} != reference {reference.shape}"
    assert np.all(np.isfinite(ours)), "non-finite values in pycnn's result"
    denom = np.linalg.norm(reference)
    diff = np.linalg.norm(ours - reference)
    return diff / denom if denom > 0 else diff


def check_op(pycnn_fn, torch_fn, inputs, device="cpu", tol=1e-4, seed=0, check_grad=True):
    rng = np.random.default_rng(seed)
    arrays, grads = [], []
    for item in inputs:
        array, wants_grad = item if isinstance(item, tuple) else (item, True)
        array = np.asarray(array)
        arrays.append(array)
        grads.append(wants_grad and check_grad and array.dtype.kind == "f")
    ours = [pycnn.tensor(a, device=device, requires_grad=g) if a.dtype.kind == "f"
            else pycnn.tensor(a, device=device) for a, g in zip(arrays, grads)]
    theirs = [torch.tensor(a, dtype=torch.float64, requires_grad=g) if a.dtype.kind == "f"
              else torch.tensor(a) for a, g in zip(arrays, grads)]
    out = pycnn_fn(*ours)
    ref = torch_fn(*theirs)
    err = rel_error(out.numpy(), ref.detach().numpy())
    assert err < tol, f"forward: relative error {err:.3g} >= {tol}"
    if not any(grads):
        return
    upstream = rng.standard_normal(ref.shape)
    out.backward(pycnn.tensor(upstream, device=device))
    ref.backward(torch.tensor(upstream, dtype=torch.float64))
    for i, (ours_t, theirs_t, g) in enumerate(zip(ours, theirs, grads)):
        if not g:
            continue
        assert ours_t.grad is not None, f"input {i}: pycnn produced no gradient"
        err = rel_error(ours_t.grad.numpy(), theirs_t.grad.numpy())
        assert err < tol, f"backward: input {i} relative error {err:.3g} >= {tol}"


def random_configs(count, seed, make):
    """``count`` configurations from ``make(rng)``, reproducible from ``seed``."""
    rng = np.random.default_rng(seed)
    return [make(rng) for _ in range(count)]
