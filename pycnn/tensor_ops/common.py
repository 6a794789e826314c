"""What the tensor-level ops share: numpy results moved to a device, scalars, dimension indices.

Indexing, permutations, argmax/max/min, comparisons, dtype casts and exp/log/sqrt/abs/pow have no
C++ kernel: their forward runs in numpy on the host (sharing a CPU tensor's memory; a CUDA tensor
makes one round trip to the host and back, which is acceptable for these small ops and documented
on each) and the result is a new tensor on the input's device, made by :func:`from_host`.
"""
import numpy as np

from .. import _C
from .._arguments import as_int


def from_host(array, device, dtype=None):
    """A new raw tensor holding a copy of ``array`` on ``device`` (float32, or int64 for integers
    and bools)."""
    array = np.asarray(array)
    if dtype is None:
        dtype = np.int64 if array.dtype.kind in "iub" else np.float32
    return _C.from_numpy(np.array(array, dtype=dtype, order="C", copy=True)).to(device)


def dim_index(dim, ndim, op="dim"):
    """``dim`` in [-ndim, ndim - 1] (a 0-d tensor takes -1 and 0, as torch), as a non-negative int."""
    dim = as_int(dim, op, "dim")
    n = max(ndim, 1)
    if not -n <= dim < n:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], but "
                         f"got {dim})")
    return dim % n


def scalar(value, like):
    """A 0-d float32 raw tensor holding ``value`` on the device of the raw tensor ``like``."""
    return _C.from_numpy(np.array(value, dtype=np.float32)).to(like.device)


def unbroadcast(g, shape):
    """``g`` summed down to ``shape``, which broadcast to g's shape (numpy's rules)."""
    extra = g.ndim - len(shape)
    if extra:
        g = g.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, d in enumerate(shape) if d == 1 and g.shape[i] != 1)
    return (g.sum(axis=axes, keepdims=True) if axes else g).reshape(shape)
