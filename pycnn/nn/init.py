"""Weight initialisation, in place, with torch.nn.init's names, signatures and fan rules.

Samples come from one numpy Generator owned by this module; :func:`manual_seed` reseeds it (exported
as ``pycnn.manual_seed``), so a seeded model builds with the same weights every time. Each function
also takes ``generator=`` (a numpy Generator) to draw from another stream. Values are drawn on the
host in float32 and copied into the tensor, whatever its device.
"""
import math
import numbers
import warnings

import numpy as np

from ..autograd import no_grad
from ..tensor import Tensor

_generator = np.random.default_rng()


def manual_seed(seed):
    """Reseeds the generator every init function (and so every layer's default init) draws from."""
    global _generator
    if isinstance(seed, bool) or not isinstance(seed, (numbers.Integral, np.integer)):
        raise TypeError(f"manual_seed: expected an int seed, got {type(seed).__name__} {seed!r}")
    if seed < 0:
        raise ValueError(f"manual_seed: expected a non-negative seed, got {seed}")
    _generator = np.random.default_rng(int(seed))
    return _generator


def _check(tensor, fn):
    if not isinstance(tensor, Tensor):
        raise TypeError(f"{fn}: expected a pycnn.Tensor, got {type(tensor).__name__}")
    if tensor.dtype != "float32":
        raise TypeError(f"{fn}: expected a float32 tensor, got {tensor.dtype}")


def _fill(tensor, values):
    with no_grad():
        tensor.copy_(np.asarray(values, dtype=np.float32))
    return tensor


def calculate_gain(nonlinearity, param=None):
    """The recommended gain for ``nonlinearity`` (torch's table): 1 for linear/conv/sigmoid, 5/3 for
    tanh, sqrt(2) for relu, sqrt(2 / (1 + slope^2)) for leaky_relu (slope ``param``, default 0.01),
    3/4 for selu."""
    linear = ["linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
              "conv_transpose3d"]
    if nonlinearity in linear or nonlinearity == "sigmoid":
        return 1
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, numbers.Real) and not isinstance(param, bool):
            slope = param
        else:
            raise ValueError(f"calculate_gain: negative_slope {param!r} is not a valid number")
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}; expected one of "
                     f"{linear + ['sigmoid', 'tanh', 'relu', 'leaky_relu', 'selu']}")


def _calculate_fan_in_and_fan_out(tensor):
    """fan_in = shape[1] * receptive field, fan_out = shape[0] * receptive field, where the receptive
    field is the product of shape[2:] (a conv weight is (out, in/groups, kh, kw))."""
    if tensor.ndim < 2:
        raise ValueError(f"fan in and fan out can not be computed for a tensor with fewer than 2 "
                         f"dimensions, got shape {tuple(tensor.shape)}")
    receptive_field = int(np.prod(tensor.shape[2:])) if tensor.ndim > 2 else 1
    return tensor.shape[1] * receptive_field, tensor.shape[0] * receptive_field


def _calculate_correct_fan(tensor, mode):
    mode = mode.lower()
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode {mode!r} not supported, please use one of 'fan_in', 'fan_out'")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def uniform_(tensor, a=0.0, b=1.0, generator=None):
    """Fills ``tensor`` with samples of U(a, b)."""
    _check(tensor, "uniform_")
    rng = generator or _generator
    # Drawn in float32 directly: ten times faster than float64 plus a cast, which matters for
    # VGG's 100 M-weight classifier (seconds per model).
    values = rng.random(tensor.shape, dtype=np.float32)
    values *= b - a
    values += a
    return _fill(tensor, values)


def normal_(tensor, mean=0.0, std=1.0, generator=None):
    """Fills ``tensor`` with samples of N(mean, std^2)."""
    _check(tensor, "normal_")
    rng = generator or _generator
    values = rng.standard_normal(tensor.shape, dtype=np.float32)  # float32 directly, as uniform_
    values *= std
    values += mean
    return _fill(tensor, values)


def constant_(tensor, val):
    _check(tensor, "constant_")
    return _fill(tensor, np.full(tensor.shape, val, dtype=np.float32))


def ones_(tensor):
    return constant_(tensor, 1.0)


def zeros_(tensor):
    _check(tensor, "zeros_")
    with no_grad():
        tensor.zero_()
    return tensor


def xavier_uniform_(tensor, gain=1.0, generator=None):
    """U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio 2010)."""
    _check(tensor, "xavier_uniform_")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    a = math.sqrt(3.0) * std  # a uniform on [-a, a] has standard deviation a / sqrt(3)
    return uniform_(tensor, -a, a, generator)


def xavier_normal_(tensor, gain=1.0, generator=None):
    """N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out))."""
    _check(tensor, "xavier_normal_")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return normal_(tensor, 0.0, std, generator)


def _kaiming_std(tensor, a, mode, nonlinearity, op):
    """He et al.'s standard deviation gain / sqrt(fan), or None (with torch's warning) for a tensor
    with no elements, which both kaiming initialisers leave as it is."""
    _check(tensor, op)
    if 0 in tensor.shape:
        warnings.warn("Initializing zero-element tensors is a no-op")
        return None
    return calculate_gain(nonlinearity, a) / math.sqrt(_calculate_correct_fan(tensor, mode))


def kaiming_uniform_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    """U(-bound, bound) with bound = gain * sqrt(3 / fan) (He et al. 2015); ``a`` is the leaky_relu
    slope the gain is computed for, ``mode`` picks fan_in (forward) or fan_out (backward)."""
    std = _kaiming_std(tensor, a, mode, nonlinearity, "kaiming_uniform_")
    if std is None:
        return tensor
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    """N(0, std^2) with std = gain / sqrt(fan)."""
    std = _kaiming_std(tensor, a, mode, nonlinearity, "kaiming_normal_")
    return tensor if std is None else normal_(tensor, 0.0, std, generator)
