"""Creation ops: pycnn.tensor (copies, like torch.tensor), from_numpy and from_dlpack (share memory),
zeros, ones and randn. Float data becomes float32, integer and bool data int64."""
import numbers

import numpy as np

from . import _C
from ._arguments import as_device
from .tensor import Tensor


def _as_numpy(data, dtype=None):
    if isinstance(data, Tensor):
        data = data.numpy()
    try:
        array = np.asarray(data) if dtype is None else np.asarray(data, dtype=dtype)
    except (ValueError, TypeError) as error:
        raise ValueError(f"tensor: expected rectangular numeric data (nested lists of equal lengths), "
                         f"got {type(data).__name__}: {error}") from None
    kind = array.dtype.kind
    if kind == "u" and array.dtype.itemsize == 8 and array.size and array.max() >= 2**63:
        raise ValueError(f"tensor: uint64 value {array.max()} does not fit in int64")
    if kind == "f":
        return array.astype(np.float32, copy=False)
    if kind in "iub":
        return array.astype(np.int64, copy=False)
    raise TypeError(f"tensor: expected numeric (float, int or bool) data, got numpy dtype {array.dtype}")


def tensor(data, dtype=None, device="cpu", requires_grad=False):
    """A new tensor holding a copy of ``data``: float data becomes float32, integers int64.

    ``dtype`` may force 'float32' or 'int64'.
    """
    if dtype not in (None, "float32", "int64", np.float32, np.int64):
        raise TypeError(f"tensor: expected dtype 'float32' or 'int64', got {dtype!r}")
    array = np.asarray(_as_numpy(data, None if dtype is None else np.dtype(dtype)), order="C")
    if not array.flags.writeable:  # _C.from_numpy takes writable arrays; this copy is read only once
        array = array.copy()
    device = as_device(device)
    # One copy, into memory from pycnn's own (64-byte aligned) allocator; a new tensor is at
    # version 0 (clone is no in-place write).
    storage = _C.from_numpy(array).clone()
    t = Tensor._wrap(storage if device == "cpu" else storage.to(device))
    if requires_grad:
        t.requires_grad_(True)
    return t


def from_numpy(array):
    """A CPU tensor sharing ``array``'s memory (float32 or int64, C-contiguous), like torch.from_numpy."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected a numpy.ndarray, got {type(array).__name__}")
    if array.dtype not in (np.float32, np.int64):
        raise TypeError(f"from_numpy: expected dtype float32 or int64, got {array.dtype} "
                        "(convert with .astype(np.float32) or use pycnn.tensor, which converts)")
    if not array.flags.writeable:
        raise ValueError("from_numpy: expected a writable array (the tensor shares its memory and "
                         "may write to it), got a read-only one (use pycnn.tensor, which copies)")
    if not array.flags.c_contiguous:
        raise ValueError(f"from_numpy: expected a C-contiguous array, got strides {array.strides} for "
                         f"shape {array.shape} (use np.ascontiguousarray or pycnn.tensor, which copies)")
    return Tensor._wrap(_C.from_numpy(array))


def from_dlpack(obj):
    """A tensor sharing the memory of any DLPack producer (numpy, PyTorch, CuPy; CPU or CUDA)."""
    if isinstance(obj, Tensor):
        return obj.detach()
    if not hasattr(obj, "__dlpack__"):
        raise TypeError(f"from_dlpack: expected an object with __dlpack__, got {type(obj).__name__}")
    return Tensor._wrap(_C.from_dlpack(obj))


def _shape(shape, op):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    for d in shape:
        if isinstance(d, bool) or not isinstance(d, (numbers.Integral, np.integer)):
            raise TypeError(f"{op}: expected sizes to be ints, got {type(d).__name__} {d!r} in {shape!r}")
        if not 0 <= int(d) < 2**63:
            raise ValueError(f"{op}: expected non-negative sizes, got {tuple(shape)}")
    return [int(d) for d in shape]


def _filled(shape, value, device, requires_grad, op):
    # pycnn's allocator first: it refuses a shape too large for the machine with a message naming
    # it, where numpy would raise MemoryError or be OOM-killed while filling.
    device = as_device(device)
    storage = _C.zeros(_shape(shape, op), "float32", "cpu")
    if value:
        storage.numpy()[...] = value
    t = Tensor._wrap(storage if device == "cpu" else storage.to(device))
    return t.requires_grad_(True) if requires_grad else t


def zeros(*shape, device="cpu", requires_grad=False):
    return _filled(shape, 0.0, device, requires_grad, "zeros")


def ones(*shape, device="cpu", requires_grad=False):
    return _filled(shape, 1.0, device, requires_grad, "ones")


def randn(*shape, device="cpu", requires_grad=False, seed=None):
    """Standard normal samples (numpy's generator, seeded when ``seed`` is given)."""
    shape = _shape(shape, "randn")
    _C.empty(shape, "float32", "cpu")  # refuses a shape too large for the machine, naming it
    data = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    return tensor(data, device=device, requires_grad=requires_grad)
