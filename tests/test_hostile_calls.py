"""Hostile calls: wrong types, huge or zero sizes, read-only arrays, giant layers. Each must raise a
Python exception whose message names the op (or argument) and what came, never crash the process,
die in the OOM killer or return a silently wrong answer. Calls that once crashed run in a subprocess."""
import subprocess
import sys
import tempfile

import numpy as np
import pytest

import pycnn
import pycnn.nn.functional as F
from pycnn import nn
from helpers.subprocess_env import subprocess_env

x4 = pycnn.zeros(2, 3, 5, 5)
w4 = pycnn.zeros(4, 3, 3, 3)

CASES = [
    # (call, exception, message pattern)
    (lambda: F.conv2d(x4, w4, stride=2**63), ValueError, r"conv2d: expected stride to fit in a signed 64-bit"),
    (lambda: F.max_pool2d(x4, 2**70), ValueError, r"max_pool2d: expected kernel_size to fit"),
    (lambda: F.softmax(x4, 2**64), ValueError, r"softmax: expected dim to fit"),
    (lambda: F.cross_entropy(pycnn.zeros(2, 3), pycnn.tensor([0, 1]), ignore_index=2**63), ValueError,
     r"cross_entropy: expected ignore_index to fit"),
    (lambda: nn.Linear(3, 2**63), ValueError, r"Linear: expected out_features to be a positive int"),
    (lambda: nn.Linear(3, 2**62), ValueError, r"tensor: shape \(4611686018427387904, 3\) has more elements"),
    (lambda: nn.BatchNorm2d(2**62), ValueError, r"tensor: shape \(4611686018427387904,\) has more elements"),
    (lambda: pycnn.zeros(2**62), ValueError, r"tensor: shape \(4611686018427387904,\) has more elements"),
    (lambda: pycnn.randn(2**62), ValueError, r"tensor: shape \(4611686018427387904,\) has more elements"),
    (lambda: pycnn.zeros(-1, 2), ValueError, r"zeros: expected non-negative sizes, got \(-1, 2\)"),
    (lambda: pycnn.ones(2.5), TypeError, r"ones: expected sizes to be ints, got float 2.5"),
    # bigger than the machine: refused before allocating (Linux would overcommit, then OOM-kill)
    (lambda: nn.Linear(2**20, 2**20 * 64), RuntimeError, r"out of CPU memory: a tensor of \d+ bytes"),
    (lambda: nn.Conv2d(3, 3, -1), ValueError, r"Conv2d: expected kernel_size to be positive, got -1"),
    (lambda: nn.Conv2d(3, 3, 2.5), TypeError, r"Conv2d: expected kernel_size to be an int, got float"),
    (lambda: nn.Conv2d(3, 3, 3, stride=0), ValueError, r"Conv2d: expected stride to be positive"),
    (lambda: nn.Conv2d(3, 3, 3, padding=-1), ValueError, r"Conv2d: expected padding to be non-negative"),
    (lambda: nn.Conv2d(3, 3, 2, padding="same", stride=2), ValueError,
     r"Conv2d: padding='same' is not supported for strided convolutions"),
    (lambda: nn.BatchNorm2d(2, eps="a"), TypeError, r"BatchNorm2d: expected eps to be a number, got str"),
    (lambda: nn.BatchNorm2d(2, eps=float("nan")), ValueError, r"BatchNorm2d: expected eps > 0, got nan"),
    (lambda: nn.BatchNorm2d(2, momentum="a"), TypeError, r"BatchNorm2d: expected momentum to be a number"),
    (lambda: nn.PReLU(0), ValueError, r"PReLU: expected num_parameters to be a positive int, got 0"),
    (lambda: pycnn.manual_seed(-1), ValueError, r"manual_seed: expected a non-negative seed, got -1"),
    (lambda: pycnn.set_num_threads(2**40), ValueError, r"set_num_threads: expected a positive count"),
    (lambda: pycnn.tensor(np.array([2**64 - 1], np.uint64)), ValueError,
     r"tensor: uint64 value 18446744073709551615 does not fit in int64"),
    (lambda: pycnn.from_numpy(np.frombuffer(b"\0" * 8, np.float32)), ValueError,
     r"from_numpy: expected a writable array .* got a read-only one"),
    (lambda: F.relu(x4, inplace=1), TypeError, r"relu: expected inplace to be a bool, got int"),
    (lambda: F.stack([x4, pycnn.zeros(2, 3)]), ValueError,
     r"stack: expected every tensor of shape \(2, 3, 5, 5\) .* tensors\[1\] of shape \(2, 3\)"),
    (lambda: F.stack([x4], 5), ValueError, r"stack: expected dim in \[-5, 4\] for 4-d tensors, got 5"),
    (lambda: F.cross_entropy(pycnn.zeros(2, 3), pycnn.tensor([0, 1]), pycnn.tensor([1, 2, 3])), TypeError,
     r"cross_entropy: expected weight to be float32, got int64"),
    (lambda: F.cross_entropy(pycnn.zeros(2, 3), pycnn.tensor([0.5, 0.5])), ValueError,
     r"cross_entropy: expected probability targets of the input's shape \(2, 3\), got \(2,\)"),
    (lambda: F.nll_loss(pycnn.zeros(2, 3), pycnn.tensor([0, 7])), ValueError,
     r"nll_loss: target label 7 at position 1 is out of range: expected class indices in \[0, 3\)"),
    (lambda: F.mse_loss(pycnn.zeros(2), pycnn.zeros(2), weight=pycnn.zeros(3)), ValueError,
     r"mse_loss: expected weight of the input's shape \(2,\), got \(3,\)"),
    (lambda: nn.Linear(2, 2).load_state_dict({"weight": np.zeros((2, 2), np.complex64), "bias": np.zeros(2)}),
     ValueError, r'"weight": expected real numbers \(float, int or bool\), got dtype complex64'),
]


@pytest.mark.parametrize("call,error,match", CASES, ids=[f"case{i}" for i in range(len(CASES))])
def test_hostile_call_raises_a_clear_error(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_read_only_numpy_is_copied_by_tensor():
    array = np.arange(6, dtype=np.float32).reshape(2, 3)
    array.flags.writeable = False
    t = pycnn.tensor(array)
    t.zero_()
    assert array.sum() == 15 and t.numpy().sum() == 0


def test_giant_shapes_do_not_wrap_to_small_allocations():
    # 2^62 floats are 2^64 bytes, which wrapped to a 0-byte buffer that numpy() then exposed
    with pytest.raises(ValueError, match="has more elements than fit in memory"):
        pycnn._C.empty([2**62], "float32", "cpu")
    with pytest.raises(ValueError, match="has more elements than fit in memory"):
        pycnn._C.empty([2**61, 2], "int64", "cpu")


def test_calls_that_once_crashed_run_in_a_subprocess():
    # prelu on an empty batch and linear with in_features = 0 divided by zero in their bindings
    # (SIGFPE killed the interpreter).
    code = (
        "import numpy as np, pycnn, pycnn.nn.functional as F\n"
        "x = pycnn.zeros(0, 3, 2, requires_grad=True)\n"
        "y = F.prelu(x, pycnn.ones(3, requires_grad=True)); y.backward(pycnn.zeros(0, 3, 2))\n"
        "x = pycnn.zeros(2, 0, requires_grad=True)\n"
        "y = F.linear(x, pycnn.zeros(4, 0), pycnn.ones(4)); y.sum().backward()\n"
        "assert y.numpy().tolist() == [[1.0] * 4] * 2, y.numpy()\n"
        "print('ok')\n")
    with tempfile.TemporaryDirectory() as cwd:
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd,
                                env=subprocess_env(), timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-2000:]
