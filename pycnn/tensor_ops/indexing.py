"""Indexing: ``x[key]`` with torch's rules, computed in numpy on the host (a copy, not a view), with
a backward that scatters the gradient back (repeated indices accumulate).
"""
import builtins
import numbers

import numpy as np

from ..autograd import Function
from ..tensor import Tensor, as_tensor
from .common import from_host
from .comparison import BoolTensor


def _index_array(item):
    """A tensor index: int64 positions (tensor, ndarray, list) or a boolean mask (a comparison's
    result, .bool(), a numpy bool array, a list of bools), as a numpy int64 or bool array."""
    if isinstance(item, Tensor):
        if item.dtype != "int64":
            raise IndexError(f"tensors used as indices must be long, int, byte or bool tensors, got "
                             f"{item.dtype}")
        return item.numpy().astype(bool) if isinstance(item, BoolTensor) else item.numpy()
    array = np.asarray(item)
    if array.size == 0 and array.dtype.kind == "f":  # [] is an empty list of positions
        return array.astype(np.int64)
    if array.dtype.kind not in "iub":
        raise IndexError(f"indices must be ints, slices, None, Ellipsis, or int64/bool tensors, "
                         f"arrays or lists; got an array of dtype {array.dtype}")
    return array if array.dtype.kind == "b" else array.astype(np.int64)


def _index_key(key, shape):
    """torch's indexing rules as a plan for numpy: ``(basic, axis, merged, index)``. ``basic`` holds
    ints, slices (step > 0) and None with the Ellipsis expanded and the tensor index replaced by
    full slices (None for a 0-d mask); ``axis`` is the dimension of ``x[basic]`` the tensor index
    applies to (None without one), ``merged`` how many dimensions it covers there (a mask covers its
    own rank), ``index`` the int64 positions along them (negative ones wrapped). Integer indices
    select first, as in torch."""
    if not isinstance(key, tuple):
        key = (key,)
    items, consumed, arrays = [], 0, 0
    for item in key:
        if isinstance(item, (bool, np.bool_)):
            raise IndexError("indexing with a Python bool is not supported; use None to add a "
                             "dimension")
        if isinstance(item, (numbers.Integral, np.integer)):
            items.append(int(item))
            consumed += 1
        elif item is None or item is Ellipsis:
            items.append(item)
        elif isinstance(item, slice):
            for part in (item.start, item.stop, item.step):
                if part is not None and (isinstance(part, bool) or
                                         not isinstance(part, (numbers.Integral, np.integer))):
                    raise IndexError(f"slice indices must be ints or None, got {item!r}")
            if item.step is not None and item.step <= 0:
                raise ValueError("step must be greater than zero")
            items.append(item)
            consumed += 1
        elif isinstance(item, (Tensor, np.ndarray, list)):
            array = _index_array(item)
            items.append(array)
            consumed += array.ndim if array.dtype.kind == "b" else 1
            arrays += 1
        else:
            raise IndexError(f"indices must be ints, slices, None, Ellipsis, or int64/bool tensors, "
                             f"arrays or lists; got {type(item).__name__}")
    if builtins.sum(item is Ellipsis for item in items) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    if arrays > 1:
        raise IndexError(f"pycnn supports one tensor, array or list index per indexing, got {arrays}; "
                         "index in two steps")
    if consumed > len(shape):
        raise IndexError(f"too many indices for tensor of dimension {len(shape)}")
    basic, axis, merged, index = [], None, 1, None
    d = o = 0  # the input dimension the next item indexes, the dimension it makes in x[basic]
    for item in items:
        if item is Ellipsis:
            fill = len(shape) - consumed
            basic.extend([slice(None)] * fill)
            d, o = d + fill, o + fill
        elif item is None:
            basic.append(None)
            o += 1
        elif isinstance(item, slice):
            basic.append(item)
            d, o = d + 1, o + 1
        elif isinstance(item, int):
            if not -shape[d] <= item < shape[d]:
                raise IndexError(f"index {item} is out of bounds for dimension {d} with size {shape[d]}")
            basic.append(item)
            d += 1
        elif item.dtype.kind == "b":
            want = tuple(shape[d:d + item.ndim])
            if item.shape != want:
                raise IndexError(f"The shape of the mask {list(item.shape)} at index {d} does not "
                                 f"match the shape of the indexed tensor {list(want)} at index {d}")
            # a mask over k dimensions takes its true positions from those dimensions flattened; a
            # 0-d mask adds a dimension of size 1 (True) or 0 (False), as torch
            basic.extend([slice(None)] * item.ndim if item.ndim else [None])
            axis, merged, index = o, max(item.ndim, 1), np.flatnonzero(item)
            d, o = d + item.ndim, o + merged
        else:
            size = shape[d]
            bad = (item < -size) | (item >= size)
            if bad.any():
                raise IndexError(f"index {int(item[bad].reshape(-1)[0])} is out of bounds for "
                                 f"dimension {d} with size {size}")
            basic.append(slice(None))
            axis, merged, index = o, 1, item % size if size else item
            d, o = d + 1, o + 1
    return tuple(basic), axis, merged, index


def _merged_shape(shape, axis, merged):
    """``shape`` with its ``merged`` dimensions from ``axis`` on merged into one."""
    return shape[:axis] + (int(np.prod(shape[axis:axis + merged])),) + shape[axis + merged:]


def _gather(view, axis, merged, index):
    """``index`` taken along ``axis`` of ``view`` after merging ``merged`` dimensions there."""
    if merged != 1:
        view = view.reshape(_merged_shape(view.shape, axis, merged))
    return np.take(view, index, axis=axis)


class IndexFunction(Function):
    def forward(self, x, plan):
        self.in_shape, self.device = tuple(x.shape), x.device
        self.basic, self.axis, self.merged, self.index = plan
        view = x.numpy()[self.basic]
        self.view_shape = view.shape
        out = view if self.axis is None else _gather(view, self.axis, self.merged, self.index)
        return from_host(out, x.device)

    def backward(self, grad):
        g = grad.numpy()
        if self.axis is None:
            partial = g
        else:
            partial = np.zeros(_merged_shape(self.view_shape, self.axis, self.merged), np.float32)
            np.add.at(partial, (slice(None),) * self.axis + (self.index,), g)  # repeats add up
            partial = partial.reshape(self.view_shape)
        full = np.zeros(self.in_shape, np.float32)
        full[self.basic] = partial
        return from_host(full, self.device), None


def index(input, key):
    """``input[key]`` with torch's rules for ints, slices (step > 0), None, Ellipsis and one int64
    index (tensor, ndarray or list; any shape; negative entries count from the end) or boolean mask
    (a comparison's result, ``.bool()``, a numpy bool array) along consecutive dimensions. Integer
    indices select first. The result is a new tensor (a copy: pycnn has no strided views, so writing
    to it does not change ``input``); backward adds the gradient back into zeros of the input's
    shape, repeated indices accumulating. Runs in numpy on the host (a CUDA tensor makes one round
    trip)."""
    as_tensor(input, "index", "input")
    return IndexFunction.apply(input, _index_key(key, tuple(input.shape)))
