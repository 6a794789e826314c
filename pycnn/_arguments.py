"""Argument checks shared by every op, layer and importer: each names the op, the argument, what it
expected and what came, and returns the value in the form the C++ bindings take. (The checks that a
value is a Tensor, as_tensor and as_float_tensor, live beside Tensor in pycnn.tensor.)

    stride = as_pair(stride, "conv2d", "stride")     # 2 or (2, 3) -> (h, w) ints
    device = as_device(device)                       # 'cpu', 'cuda' or 'cuda:0' -> 'cpu' or 'cuda'
"""
import numbers

import numpy as np

from . import _C, cuda

DEVICES = ("cpu", "cuda")


_INT64_MIN, _INT64_MAX = -2**63, 2**63 - 1


def as_int(value, op, name):
    """``value`` as a Python int that fits in int64 (a bool is not an int here)."""
    if type(value) is int and _INT64_MIN <= value <= _INT64_MAX:
        return value  # the common case, without the abstract-class checks (every op's arguments)
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, np.integer)):
        raise TypeError(f"{op}: expected {name} to be an int, got {type(value).__name__} {value!r}")
    value = int(value)
    if not -2**63 <= value < 2**63:
        raise ValueError(f"{op}: expected {name} to fit in a signed 64-bit int, got {value}")
    return value


def as_pair(value, op, name):
    """An int or a pair of ints, as (h, w)."""
    if type(value) is tuple and len(value) == 2:
        h, w = value
        if (type(h) is int and type(w) is int and _INT64_MIN <= h <= _INT64_MAX
                and _INT64_MIN <= w <= _INT64_MAX):
            return value  # already what the bindings take
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{op}: expected {name} to be an int or a pair (h, w), got {value!r}")
        return (as_int(value[0], op, name), as_int(value[1], op, name))
    v = as_int(value, op, name)
    return (v, v)


def as_float(value, op, name):
    """``value`` (a real number, not a bool) as a Python float."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.floating, np.integer)):
        raise TypeError(f"{op}: expected {name} to be a number, got {type(value).__name__} {value!r}")
    return float(value)


def as_bool(value, op, name):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{op}: expected {name} to be a bool, got {type(value).__name__} {value!r}")
    return bool(value)


def as_device(device):
    """A device argument ('cpu', 'cuda' or 'cuda:0') as 'cpu' or 'cuda'; 'cuda' only where a GPU can run it."""
    name = str(device)
    if name == "cuda:0":
        name = "cuda"
    if name not in DEVICES:
        raise ValueError(f"device: expected 'cpu' or 'cuda', got {device!r}")
    if name == "cuda":
        if not cuda.is_available():
            why = ("this pycnn was built without the CUDA backend" if not _C.built_with_cuda()
                   else "no CUDA GPU or driver was found")
            raise RuntimeError(f"device='cuda' requested but CUDA is not available: {why}; "
                               "use device='cpu'")
    return name
