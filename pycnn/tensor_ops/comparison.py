"""Comparisons: ``input (op) other`` elementwise as int64 0/1 masks (pycnn has no bool dtype), and
BoolTensor, the type of those masks, which indexing reads as a mask like torch's bool tensors."""
import functools
import numbers

import numpy as np

from ..tensor import Tensor, as_tensor
from .common import from_host


class BoolTensor(Tensor):
    """What comparisons and ``.bool()`` return: pycnn has no bool dtype, so an int64 tensor of 0 and
    1 (``dtype`` reads 'int64') that indexing reads as a mask, like torch's bool tensors. Reshaping,
    indexing, permuting, detaching, cloning and moving it keep it a mask; ``~``, ``&``, ``|`` and
    ``^`` combine masks; arithmetic and reductions (sum, float()) give ordinary tensors."""

    __slots__ = ()

    def _logical(self, other, fn):
        if isinstance(other, Tensor):
            if other.device != self.device:
                raise ValueError(f"{fn.__name__}: expected both masks on the same device, got "
                                 f"{self.device} and {other.device}")
            other = other.numpy()
        other = np.asarray(other)
        if other.dtype.kind not in "biu":
            raise TypeError(f"{fn.__name__}: expected a mask (a comparison's result or bools), got "
                            f"{other.dtype} values")
        out = fn(self.numpy().astype(bool), other.astype(bool))
        return BoolTensor._wrap(from_host(out, self.device, np.int64))

    def __invert__(self):
        return self._logical(True, np.logical_xor)

    def __and__(self, other):
        return self._logical(other, np.logical_and)

    def __or__(self, other):
        return self._logical(other, np.logical_or)

    def __xor__(self, other):
        return self._logical(other, np.logical_xor)

    __rand__, __ror__, __rxor__ = __and__, __or__, __xor__


def _keeps_mask(method):
    """For a method that only moves or copies values (reshape, index, permute, detach, ...): called
    on a mask, it returns a mask too, so ``m.reshape(-1)`` still indexes as a mask."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        result = method(self, *args, **kwargs)
        if isinstance(self, BoolTensor) and isinstance(result, Tensor) and result.dtype == "int64":
            result.__class__ = BoolTensor
        return result
    return wrapper


# Tensor's methods that only move or copy values keep a mask a mask; installed here, beside BoolTensor.
for _name in ("to", "cpu", "cuda", "detach", "clone", "reshape", "view", "flatten", "__getitem__",
              "squeeze", "unsqueeze", "permute", "transpose", "t"):
    setattr(Tensor, _name, _keeps_mask(getattr(Tensor, _name)))
Tensor.T = property(_keeps_mask(Tensor.T.fget), doc=Tensor.T.__doc__)
del _name


_COMPARE = {"eq": np.equal, "ne": np.not_equal, "lt": np.less, "le": np.less_equal,
            "gt": np.greater, "ge": np.greater_equal}


def compare(input, other, op):
    """``input (op) other`` elementwise with broadcasting, op one of 'eq', 'ne', 'lt', 'le', 'gt',
    'ge'; ``other`` a tensor on the same device, an array or a number. pycnn has no bool dtype: the
    result is an int64 tensor of 0 and 1 (a BoolTensor, which indexing reads as a mask, as torch's
    bool tensors), so ``(pred == y).sum().item()`` counts like torch and ``.float().mean()`` is the
    fraction. No gradient. Runs on the host (a CUDA tensor makes one round trip)."""
    as_tensor(input, op, "input")
    if isinstance(other, Tensor):
        if other.device != input.device:
            raise ValueError(f"{op}: expected both tensors on the same device, got {input.device} and "
                             f"{other.device}")
        b = other.numpy()
    elif isinstance(other, (numbers.Number, np.ndarray, np.generic, list, tuple)):
        b = np.asarray(other)
    else:
        raise TypeError(f"{op}: expected other to be a tensor, an array or a number, got "
                        f"{type(other).__name__}")
    a = input.numpy()
    try:
        shape = np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise ValueError(f"{op}: shapes {tuple(a.shape)} and {tuple(b.shape)} do not broadcast") from None
    with np.errstate(invalid="ignore"):
        out = _COMPARE[op](a, b)
    return BoolTensor._wrap(from_host(np.broadcast_to(out, shape), input.device, np.int64))
