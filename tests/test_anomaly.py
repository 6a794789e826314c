"""pycnn.autograd.detect_anomaly / set_detect_anomaly: the first op whose backward returns NaN is
named, with its forward op and call site, as torch.autograd.detect_anomaly names it; off, backward
runs unchecked (NaN flows into .grad, as in torch)."""
import re
import warnings

import numpy as np
import pytest
import torch

import pycnn
import pycnn.nn.functional as F
from pycnn import autograd

# torch's backward node -> pycnn's, for the cases below.
NAMES = {"SqrtBackward0": "SqrtBackward", "ConvolutionBackward0": "Conv2dBackward",
         "LogBackward0": "LogBackward", "MulBackward0": "BinaryBackward (mul)"}


def conv_of_cancelled_sqrt(lib, x, w):
    """sqrt(y - y) has gradient +inf and -inf into y; they sum to NaN, so conv2d's backward is the
    first op to return NaN (the subtraction's own outputs are infinite, not NaN)."""
    conv = F.conv2d if lib is pycnn else torch.nn.functional.conv2d
    y = conv(x, w, padding=1)
    return (y - y).sqrt().sum()


def sqrt_of_negative(lib, x, w):
    return (x.sqrt() * 2).sum()


def log_times_zero(lib, x, w):
    """log(0) = -inf forward; times 0 is NaN forward; backward of mul gives 0 * ... then log's backward
    1/0 * 0 = NaN: LogBackward."""
    return (x.abs().log() * 0.0).sum()


CASES = [(conv_of_cancelled_sqrt, "ConvolutionBackward0", 0), (sqrt_of_negative, "SqrtBackward0", 0),
         (log_times_zero, "LogBackward0", 0)]


def inputs(lib):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 5, 5)).astype(np.float32)
    x[0, 0, 0, 0] = 0.0
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    if lib is pycnn:
        return pycnn.tensor(x, requires_grad=True), pycnn.tensor(w, requires_grad=True)
    return torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)


def torch_failing_node(case):
    x, w = inputs(torch)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with torch.autograd.detect_anomaly():
            with pytest.raises(RuntimeError, match="returned nan values") as error:
                case(torch, x, w).backward()
    return re.search(r"Function '(\w+)'", str(error.value)).group(1)


@pytest.mark.parametrize("case, torch_node, index", CASES, ids=[c[0].__name__ for c in CASES])
def test_names_the_op_torch_names(case, torch_node, index):
    assert torch_failing_node(case) == torch_node  # the expectation itself is torch's
    x, w = inputs(pycnn)
    with pytest.warns(RuntimeWarning, match=rf"(?s)Error detected in {re.escape(NAMES[torch_node])}\. Traceback of "
                                            r"forward call that caused the error:\n.*test_anomaly.py"):
        with autograd.detect_anomaly():
            assert autograd.is_anomaly_enabled() and autograd.is_anomaly_check_nan_enabled()
            loss = case(pycnn, x, w)
            with pytest.raises(RuntimeError, match=rf"Function '{re.escape(NAMES[torch_node])}' returned nan values "
                                                   rf"in its {index}th output .*its forward op .* was called at "
                                                   r".*test_anomaly.py:\d+"):
                loss.backward()
    assert not autograd.is_anomaly_enabled()
    x, w = inputs(pycnn)
    case(pycnn, x, w).backward()  # off: no check, the NaN reaches the leaves as in torch
    assert np.isnan(x.grad.numpy()).any() or np.isnan(w.grad.numpy()).any()


def test_set_detect_anomaly_check_nan_and_decorator():
    x, w = inputs(pycnn)
    with autograd.detect_anomaly(check_nan=False):
        assert autograd.is_anomaly_enabled() and not autograd.is_anomaly_check_nan_enabled()
        sqrt_of_negative(pycnn, x, w).backward()
    assert np.isnan(x.grad.numpy()).any()
    previous = autograd.set_detect_anomaly(True)
    try:
        assert autograd.is_anomaly_enabled()
        with pytest.raises(RuntimeError, match="Function 'SqrtBackward'"), pytest.warns(RuntimeWarning):
            sqrt_of_negative(pycnn, *inputs(pycnn)).backward()
        with autograd.set_detect_anomaly(False):
            assert not autograd.is_anomaly_enabled()
            sqrt_of_negative(pycnn, *inputs(pycnn)).backward()
        assert autograd.is_anomaly_enabled()  # the context restored the setting before it
    finally:
        previous.__exit__(None, None, None)
    assert not autograd.is_anomaly_enabled()

    @autograd.detect_anomaly()
    def step():
        sqrt_of_negative(pycnn, *inputs(pycnn)).backward()

    with pytest.raises(RuntimeError, match="Function 'SqrtBackward'"), pytest.warns(RuntimeWarning):
        step()
    assert not autograd.is_anomaly_enabled()
    x, w = inputs(pycnn)
    with autograd.detect_anomaly():  # a finite backward is untouched by the checks
        F.conv2d(x, w, padding=1).sum().backward()
    assert x.grad.shape == (2, 3, 5, 5) and np.isfinite(w.grad.numpy()).all()
