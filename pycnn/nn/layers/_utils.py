"""What several layer families share: argument checks made at construction (as torch makes them, so a
bad layer fails where it is built, not at its first call), zero Parameters from pycnn's allocator, and
torch's default init of a weight and its bias."""
import math
import numbers

import numpy as np

from ... import _C
from ..._arguments import as_pair
from .. import init
from ..module import Parameter


def pair_at_least(value, layer, name, low):
    """An int or a pair of ints as (h, w), each >= ``low`` (1: positive, 0: non-negative)."""
    pair = as_pair(value, layer, name)
    if any(v < low for v in pair):
        raise ValueError(f"{layer}: expected {name} to be {'positive' if low == 1 else 'non-negative'}, "
                         f"got {value!r}")
    return pair


def positive_int(value, layer, name):
    """``value`` as an int in [1, 2**63); anything else (a bool, a float, 0) is a ValueError."""
    if (isinstance(value, bool) or not isinstance(value, (numbers.Integral, np.integer)) or value <= 0
            or value >= 2**63):
        raise ValueError(f"{layer}: expected {name} to be a positive int, got {value!r} (the most is "
                         f"2**63 - 1)")
    return int(value)


def empty(*shape):
    """A zero Parameter from pycnn's allocator, which refuses shapes too large for the machine with a
    ValueError/RuntimeError that names the shape (numpy would raise MemoryError or be OOM-killed)."""
    return Parameter(_C.zeros(list(shape), "float32", "cpu"))


def add_weight_and_bias(module, weight_shape, bias):
    """Registers ``module.weight``, zeros of ``weight_shape``, and ``module.bias``, zeros of
    (weight_shape[0],) or None when ``bias`` is False, as torch's Conv2d and Linear hold them."""
    module.weight = empty(*weight_shape)
    if bias:
        module.bias = empty(weight_shape[0])
    else:
        module.register_parameter("bias", None)


def reset_weight_and_bias(weight, bias):
    """PyTorch's default for Conv2d and Linear: kaiming_uniform_(a=sqrt(5)) on the weight, which is
    U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and the bias uniform on the same bound."""
    init.kaiming_uniform_(weight, a=math.sqrt(5))
    if bias is not None:
        fan_in, _ = init._calculate_fan_in_and_fan_out(weight)
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
        init.uniform_(bias, -bound, bound)
