"""pycnn.tensor_ops: the tensor-level ops behind ``pycnn.Tensor``'s methods and operators.

    arithmetic.py   + - * / with broadcasting, exp/log/sqrt/abs/pow, clip, casts, matmul
    comparison.py   == != < <= > >= as int64 0/1 masks
    indexing.py     x[key] with torch's rules
    reduction.py    sum, mean, sum_to, argmax/argmin, max/min
    shape.py        reshape, flatten, squeeze/unsqueeze, permute/transpose, cat/stack, split/chunk,
                    to_device

Each op is an autograd Function with a forward and a backward, like pycnn.nn.functional's; these are
the ones torch keeps on ``torch`` and ``torch.Tensor`` rather than in ``torch.nn.functional``.
pycnn.tensor imports this package once, after Tensor is defined.
"""
from .arithmetic import absolute, binary, broadcast_to, cast, clip, exp, log, matmul, power, rpow, sqrt
from .comparison import compare
from .indexing import index
from .reduction import argmax, argmin, max, mean, min, sum, sum_to
from .shape import cat, chunk, flatten, permute, reshape, split, squeeze, stack, to_device, transpose, unsqueeze

__all__ = ["absolute", "argmax", "argmin", "binary", "broadcast_to", "cast", "cat", "chunk", "clip", "compare",
           "exp", "flatten", "index", "log", "matmul", "max", "mean", "min", "permute", "power", "reshape", "rpow",
           "split", "sqrt", "squeeze", "stack", "sum", "sum_to", "to_device", "transpose", "unsqueeze"]
