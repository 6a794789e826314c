"""Reductions: sum, mean, sum_to (to a broadcastable shape), argmax/argmin and max/min over all
elements or along a dimension, with torch's gradients (max/min over all elements share the gradient
evenly among the elements equal to the extremum; along a dimension it goes to the index taken).
"""
import builtins
import collections

import numpy as np

from .. import _C
from .._arguments import as_bool
from ..autograd import Function
from ..tensor import Tensor, as_tensor
from .common import dim_index, from_host, scalar
from .shape import reshape


class SumFunction(Function):
    def forward(self, x, scale):
        self.in_shape, self.scale, self.device = list(x.shape), scale, x.device
        out = _C.sum_to(x, [])
        return out if scale == 1.0 else _C.binary_forward(out, scalar(scale, out), 2)

    def backward(self, grad):
        zeros = _C.zeros(self.in_shape, "float32", self.device)
        g = _C.binary_forward(zeros, grad, 0)
        return (g if self.scale == 1.0 else _C.binary_forward(g, scalar(self.scale, g), 2)), None


def _reduced_dims(input, dim, op):
    """The dimensions ``dim`` (an int, a sequence of ints, or None or () for all) names, as sorted
    non-negative ints; IndexError out of range, RuntimeError for one named twice (torch's)."""
    if dim is None or (isinstance(dim, (tuple, list)) and len(dim) == 0):
        return list(range(input.ndim))
    dims = [dim_index(d, input.ndim, op) for d in (dim if isinstance(dim, (tuple, list)) else (dim,))]
    for d in dims:
        if dims.count(d) > 1:
            raise RuntimeError(f"{op}(): dim {d} appears multiple times in the list of dims")
    return sorted(d for d in dims if d < input.ndim)  # a 0-d tensor's dim 0 reduces nothing


def _reduce(input, dim, keepdim, op, mean):
    """sum or mean over ``dim`` (see _reduced_dims), keeping each reduced dimension as size 1 when
    ``keepdim``: SumToFunction down to the kept shape, then scaled and reshaped (differentiable)."""
    keepdim = as_bool(keepdim, op, "keepdim")
    dims = _reduced_dims(input, dim, op)
    shape = list(input.shape)
    kept = [1 if i in dims else n for i, n in enumerate(shape)]
    out_shape = kept if keepdim else [n for i, n in enumerate(shape) if i not in dims]
    if input.dtype == "int64":  # exact, on the host, as torch sums integers to int64
        a = np.sum(input.numpy(), axis=tuple(dims), dtype=np.int64, keepdims=True)
        return Tensor._wrap(from_host(a.reshape(out_shape), input.device))
    count = 1
    for d in dims:
        count *= shape[d]
    out = SumToFunction.apply(input, tuple(kept))
    if mean:
        out = out * (1.0 / count if count else float("nan"))  # torch: the mean of nothing is NaN
    return out if out_shape == kept else reshape(out, tuple(out_shape))


def sum(input, dim=None, keepdim=False):
    """The sum of all elements as a 0-d tensor, or over ``dim`` (an int or a tuple of ints) with each
    reduced dimension dropped, or kept as size 1 with ``keepdim``, as torch.sum. An int64 tensor (a
    comparison's 0/1) sums exactly to an int64 tensor, as torch (on the host: a CUDA tensor makes one
    round trip)."""
    as_tensor(input, "sum", "input")
    if dim is not None or keepdim or input.dtype == "int64":
        return _reduce(input, dim, keepdim, "sum", False)
    return SumFunction.apply(input, 1.0)


def mean(input, dim=None, keepdim=False):
    """The mean of all elements as a 0-d tensor, or over ``dim`` (an int or a tuple of ints), with
    ``keepdim`` as :func:`sum`'s, as torch.mean (float32 only)."""
    as_tensor(input, "mean", "input")
    if input.dtype != "float32":
        raise TypeError(f"mean(): could not infer output dtype. Input dtype must be floating point, "
                        f"got {input.dtype} (use .float().mean(), as in torch)")
    if dim is not None or keepdim:
        return _reduce(input, dim, keepdim, "mean", True)
    if input.numel() == 0:
        raise ValueError("mean: the input has no elements")
    return SumFunction.apply(input, 1.0 / input.numel())


class SumToFunction(Function):
    """Sums ``x`` down to ``shape`` (every dimension of size 1 in ``shape`` summed over)."""

    def forward(self, x, shape):
        self.in_shape, self.device = list(x.shape), x.device
        return _C.sum_to(x, list(shape))

    def backward(self, grad):
        zeros = _C.zeros(self.in_shape, "float32", self.device)
        return _C.binary_forward(zeros, grad, 0), None


def sum_to(input, shape):
    """``input`` summed over the dimensions where ``shape`` (of the same rank) has size 1, as
    torch's ``sum_to_size``: the reduction a broadcast's gradient needs."""
    return SumToFunction.apply(as_tensor(input, "sum_to", "input"), tuple(shape))


def _arg_extreme(input, dim, keepdim, largest):
    op = "argmax" if largest else "argmin"
    as_tensor(input, op, "input")
    keepdim = as_bool(keepdim, op, "keepdim")
    a = input.numpy()
    pick = np.argmax if largest else np.argmin
    if dim is None:
        if a.size == 0:
            raise IndexError(f"{op}(): Expected reduction dim to be specified for input.numel() == 0.")
        out = np.asarray(pick(a))
        if keepdim:
            out = out.reshape((1,) * a.ndim)
    else:
        dim = dim_index(dim, a.ndim, op)
        a = a.reshape(1) if a.ndim == 0 else a
        if a.shape[dim] == 0:
            raise IndexError(f"{op}(): Expected reduction dim {dim} to have non-zero size.")
        out = pick(a, axis=dim, keepdims=keepdim)
        if input.ndim == 0:
            out = out.reshape(())
    return Tensor._wrap(from_host(out, input.device, np.int64))


def argmax(input, dim=None, keepdim=False):
    """The int64 index of the largest value: of the flattened input when ``dim`` is None, else along
    ``dim`` (that dimension dropped unless ``keepdim``). The first one wins a tie; NaN counts as the
    largest, as torch. No gradient. Runs on the host (a CUDA tensor makes one round trip)."""
    return _arg_extreme(input, dim, keepdim, True)


def argmin(input, dim=None, keepdim=False):
    """The int64 index of the smallest value, like :func:`argmax`."""
    return _arg_extreme(input, dim, keepdim, False)


class ExtremeAllFunction(Function):
    def forward(self, x, largest):
        a = x.numpy()
        value = np.max(a) if largest else np.min(a)
        # torch spreads the gradient evenly over every element equal to the extremum
        hits = np.isnan(a) if np.isnan(value) else (a == value)
        self.share = from_host(hits / builtins.max(int(hits.sum()), 1), x.device, np.float32)
        return from_host(value, x.device)

    def backward(self, grad):
        return _C.binary_forward(self.share, grad, 2), None


class ExtremeDimFunction(Function):
    def forward(self, x, dim, keepdim, largest, indices_out):
        a = x.numpy()
        a = a.reshape(1) if a.ndim == 0 else a
        where = (np.argmax if largest else np.argmin)(a, axis=dim, keepdims=True)
        values = np.take_along_axis(a, where, axis=dim)
        self.in_shape, self.dim, self.where, self.device = a.shape, dim, where, x.device
        self.out_ndim = x.ndim
        if not keepdim:
            values, where = np.squeeze(values, dim), np.squeeze(where, dim)
        if x.ndim == 0:
            values, where = values.reshape(()), where.reshape(())
        indices_out.append(Tensor._wrap(from_host(where, x.device, np.int64)))
        return from_host(values, x.device)

    def backward(self, grad):
        g = grad.numpy().reshape(self.where.shape)
        full = np.zeros(self.in_shape, np.float32)
        np.put_along_axis(full, self.where, g, axis=self.dim)
        if self.out_ndim == 0:
            full = full.reshape(())
        return from_host(full, self.device), None, None, None, None


def _extreme(input, dim, keepdim, largest):
    op = "max" if largest else "min"
    as_tensor(input, op, "input")
    keepdim = as_bool(keepdim, op, "keepdim")
    if isinstance(dim, Tensor):
        raise TypeError(f"{op}: the elementwise {op} of two tensors is not supported; pass dim as an "
                        "int")
    if dim is None:
        if input.numel() == 0:
            raise RuntimeError(f"{op}(): Expected reduction dim to be specified for input.numel() == 0. "
                               "Specify the reduction dim with the 'dim' argument.")
        return ExtremeAllFunction.apply(input, largest)
    dim = dim_index(dim, input.ndim, op)
    if input.ndim and input.shape[dim] == 0:
        raise IndexError(f"{op}(): Expected reduction dim {dim} to have non-zero size.")
    indices = []
    values = ExtremeDimFunction.apply(input, dim, keepdim, largest, indices)
    return (MaxResult if largest else MinResult)(values, indices[0])


MaxResult = collections.namedtuple("max", ["values", "indices"])
MinResult = collections.namedtuple("min", ["values", "indices"])


def max(input, dim=None, keepdim=False):
    """torch.max: without ``dim``, the largest value as a 0-d tensor (its gradient shared evenly by
    every element equal to it); with ``dim``, a named tuple ``(values, indices)`` along that
    dimension (dropped unless ``keepdim``), the gradient going to the index taken (the first of a
    tie). NaN propagates. Runs on the host (a CUDA tensor makes one round trip)."""
    return _extreme(input, dim, keepdim, True)


def min(input, dim=None, keepdim=False):
    """torch.min, like :func:`max`."""
    return _extreme(input, dim, keepdim, False)
