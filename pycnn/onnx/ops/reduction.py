"""ONNX ReduceMean, ReduceSum, ReduceMax, ReduceMin (imported: axes as the attribute, or as input 1 from
opset 13 for ReduceSum and 18 for the others) and ReduceSum (exported from pycnn's sum/mean)."""
import numpy as np

from ... import tensor_ops
from ...creation import tensor
from ...nn import functional as F
from ...tensor_ops.reduction import SumFunction, SumToFunction
from .common import axis_index, ints, shape_of
from .registry import exporter, importer


# The opset from which each reduction reads its axes from input 1 instead of the ``axes`` attribute.
_AXES_INPUT_SINCE = {"ReduceSum": 13}


def _reduce_axes(node, inputs):
    if node.opset < _AXES_INPUT_SINCE.get(node.op, 18):
        return node.attr("axes")
    return ints(inputs[1]) if len(inputs) > 1 and inputs[1] is not None and np.asarray(inputs[1]).size else None


def _axes_inputs(node):
    return (1, 2) if node.opset >= _AXES_INPUT_SINCE.get(node.op, 18) else (1, 1)


def _reduced_axes(node, inputs, rank):
    """The sorted axes a Reduce* node reduces over a rank-``rank`` input, or None for none (an empty
    ``axes`` with ``noop_with_empty_axes``)."""
    axes = _reduce_axes(node, inputs)
    if axes is None and node.attr("noop_with_empty_axes", 0):
        return None
    return sorted({axis_index(a, rank, node) for a in (axes if axes is not None else range(rank))})


def _mean_over(x, axes):
    """``x`` averaged over ``axes`` (sorted, distinct), keeping them as size 1: each run of adjacent axes
    is a window of average pooling over ``x`` viewed as (outer, 1, run, inner), so any axes work
    without a transpose."""
    shape = list(shape_of(x))
    runs = []
    for a in axes:
        if runs and runs[-1][1] == a:
            runs[-1][1] = a + 1
        else:
            runs.append([a, a + 1])
    for begin, end in runs:
        block = int(np.prod(shape[begin:end], dtype=np.int64))
        if block == 1:
            continue
        view = (int(np.prod(shape[:begin], dtype=np.int64)), 1, block, int(np.prod(shape[end:], dtype=np.int64)))
        x = F.avg_pool2d(tensor_ops.reshape(x, view), (block, 1), (block, 1))
        shape[begin:end] = [1] * (end - begin)
        x = tensor_ops.reshape(x, shape)
    return x


def _reduce_mean_on_arrays(node, inputs):
    x = np.asarray(inputs[0], dtype=np.float32)
    axes = _reduce_axes(node, inputs)
    if axes is None and node.attr("noop_with_empty_axes", 0):
        return (x,)
    axes = tuple(axis_index(a, x.ndim, node) for a in axes) if axes is not None else None
    return (x.mean(axis=axes, keepdims=bool(node.attr("keepdims", 1))),)


@importer("ReduceMean", on_arrays=_reduce_mean_on_arrays, static=(1,), inputs=_axes_inputs,
          attrs=("axes", "keepdims", "noop_with_empty_axes"))
def import_reduce_mean(node, inputs, training):
    x = inputs[0]
    axes = _reduce_axes(node, inputs)
    if axes is None and node.attr("noop_with_empty_axes", 0):
        return (x,)
    axes = sorted({axis_index(a, x.ndim, node) for a in (axes if axes is not None else range(x.ndim))})
    if x.ndim == 4 and axes == [2, 3]:
        y = F.adaptive_avg_pool2d(x, 1)
    else:
        y = _mean_over(x, axes)
    if node.attr("keepdims", 1):
        return (y,)
    return (tensor_ops.reshape(y, [d for i, d in enumerate(shape_of(y)) if i not in axes]),)


_NUMPY_REDUCE = {"ReduceSum": np.sum, "ReduceMax": np.max, "ReduceMin": np.min}
# What ReduceMax/ReduceMin give over an empty set (ONNX): the identity of the reduction.
_EMPTY_VALUE = {"ReduceMax": lambda t: -np.inf if t.kind == "f" else np.iinfo(t).min,
                "ReduceMin": lambda t: np.inf if t.kind == "f" else np.iinfo(t).max}


def _reduce_on_arrays(node, inputs):
    x = np.asarray(inputs[0])
    axes = _reduced_axes(node, inputs, x.ndim)
    if axes is None:
        return (x,)
    empty = {} if node.op == "ReduceSum" else {"initial": _EMPTY_VALUE[node.op](x.dtype)}
    return (_NUMPY_REDUCE[node.op](x, axis=tuple(axes), keepdims=bool(node.attr("keepdims", 1)), **empty)
            .astype(x.dtype),)


@importer("ReduceSum", "ReduceMax", "ReduceMin", on_arrays=_reduce_on_arrays, static=(1,), inputs=_axes_inputs,
          attrs=("axes", "keepdims", "noop_with_empty_axes"))
def import_reduce(node, inputs, training):
    """ReduceSum sums down to the kept shape on the device; ReduceMax/ReduceMin reduce one axis after
    another (torch.max's gradient: to the first index of the extremum)."""
    x = inputs[0]
    axes = _reduced_axes(node, inputs, x.ndim)
    if axes is None:
        return (x,)
    shape = shape_of(x)
    if node.op == "ReduceSum":
        y = tensor_ops.sum_to(x, tuple(1 if i in axes else d for i, d in enumerate(shape)))
    else:
        if any(shape[a] == 0 for a in axes):  # -inf or inf, without a gradient
            return (tensor(_reduce_on_arrays(node, [np.zeros(shape, np.float32)] + list(inputs[1:]))[0],
                           device=x.device),)
        y = x
        for a in axes:
            y = (tensor_ops.max if node.op == "ReduceMax" else tensor_ops.min)(y, a, keepdim=True).values
    if node.attr("keepdims", 1):
        return (y,)
    return (tensor_ops.reshape(y, tuple(d for i, d in enumerate(shape_of(y)) if i not in axes)),)


@exporter(SumFunction)
def export_sum(trace, out, x, scale):  # pycnn's sum and mean: the sum of all elements, times scale
    total = trace.node("ReduceSum", [trace.name_of(x)], keepdims=0)
    trace.node("Mul", [total, trace.const(np.asarray(scale, dtype=np.float32))], out)


@exporter(SumToFunction)
def export_sum_to(trace, out, x, shape):
    """sum_to (Tensor.sum/mean over dims, an imported ReduceSum): ReduceSum over the axes that
    shrink to 1, the reduced dimensions kept."""
    axes = [i for i, (n, m) in enumerate(zip(x.shape, shape)) if m == 1 and n != 1]
    if not axes:
        trace.node("Identity", [trace.name_of(x)], out)
        return
    trace.node("ReduceSum", [trace.name_of(x), trace.const(np.asarray(axes, dtype=np.int64))], out, keepdims=1)
