"""ONNX shape ops <-> pycnn: Reshape, Flatten, Unsqueeze, Squeeze (pycnn's reshape), Concat (cat),
Transpose (permute), and Shape, Gather, Expand, which pycnn computes on shapes and constants only.

The reshaping ops work on numpy arrays as well as Tensors (``arrays_too``), so a chain of them on
constants folds at import and a chain on shapes runs on the host."""
import math

import numpy as np

from ... import tensor_ops
from ...tensor_ops.shape import CatFunction, PermuteFunction, ReshapeFunction, ToDeviceFunction
from .common import axis_index, ints, reshape, shape_of
from .registry import ANY_NUMBER, exporter, importer, inputs_by_opset


def _reshape_target(in_shape, shape, allowzero, node):
    """ONNX Reshape's target for ``in_shape``: 0 copies the input's dimension (unless ``allowzero``),
    -1 takes what is left."""
    shape = ints(shape)
    out = []
    for i, d in enumerate(shape):
        if d == 0 and not allowzero:
            if i >= len(in_shape):
                raise ValueError(f"Reshape {node.name!r}: 0 at position {i} copies a dimension the input "
                                 f"{tuple(in_shape)} does not have")
            out.append(int(in_shape[i]))
        else:
            out.append(d)
    if out.count(-1) > 1 or any(d < -1 for d in out):
        raise ValueError(f"Reshape {node.name!r}: invalid target shape {shape}")
    total = math.prod(in_shape)  # Python integers: an int64 product of hostile dims could wrap around
    if -1 in out:
        known = math.prod(d for d in out if d != -1)
        if known == 0 or total % known:
            raise ValueError(f"Reshape {node.name!r}: cannot view shape {tuple(in_shape)} as {shape}")
        out[out.index(-1)] = total // known
    if math.prod(out) != total:
        raise ValueError(f"Reshape {node.name!r}: cannot view shape {tuple(in_shape)} as {shape}")
    return out


@importer("Reshape", arrays_too=True, static=(1,), inputs=(2, 2), attrs=("allowzero", "shape"))
def import_reshape(node, inputs, training):
    shape = node.attr("shape") if node.opset < 5 else inputs[1]
    target = _reshape_target(shape_of(inputs[0]), shape, node.attr("allowzero", 0), node)
    return (reshape(inputs[0], target),)


@exporter(ReshapeFunction)
def export_reshape(trace, out, x, shape):
    shape = list(shape)
    if shape and x.ndim and shape[0] == x.shape[0]:
        shape[0] = 0  # ONNX Reshape: 0 copies the input's dimension, so any batch size works
    trace.node("Reshape", [trace.name_of(x), trace.const(np.asarray(shape, dtype=np.int64), "shape")], out)


@importer("Flatten", arrays_too=True, attrs=("axis",))
def import_flatten(node, inputs, training):
    shape = shape_of(inputs[0])
    axis = node.attr("axis", 1)
    axis = axis + len(shape) if axis < 0 else axis
    if not 0 <= axis <= len(shape):
        raise ValueError(f"Flatten {node.name!r}: axis {node.attr('axis', 1)} out of range for shape {shape}")
    rows, columns = int(np.prod(shape[:axis], dtype=np.int64)), int(np.prod(shape[axis:], dtype=np.int64))
    return (reshape(inputs[0], (rows, columns)),)


@importer("Unsqueeze", arrays_too=True, static=(1,), inputs=inputs_by_opset(13, (1, 1), (2, 2)), attrs=("axes",))
def import_unsqueeze(node, inputs, training):
    shape = shape_of(inputs[0])
    axes = ints(node.attr("axes", []) if node.opset < 13 else inputs[1])
    rank = len(shape) + len(axes)
    out = list(shape)
    for a in sorted(axis_index(a, rank, node) for a in axes):
        out.insert(a, 1)
    return (reshape(inputs[0], out),)


def _squeezed_shape(node, shape, axes):
    if axes is None or len(axes) == 0:
        return [d for d in shape if d != 1]
    axes = {axis_index(a, len(shape), node) for a in axes}
    for a in axes:
        if shape[a] != 1:
            raise ValueError(f"Squeeze {node.name!r}: axis {a} of shape {tuple(shape)} is not 1")
    return [d for i, d in enumerate(shape) if i not in axes]


@importer("Squeeze", arrays_too=True, static=(1,), inputs=inputs_by_opset(13, (1, 1), (1, 2)), attrs=("axes",))
def import_squeeze(node, inputs, training):
    if node.opset < 13:
        axes = node.attr("axes")
    else:
        axes = ints(inputs[1]) if len(inputs) > 1 and inputs[1] is not None else None
    return (reshape(inputs[0], _squeezed_shape(node, shape_of(inputs[0]), axes)),)


def _concat_on_arrays(node, inputs):
    arrays = [np.asarray(x) for x in inputs]
    axis = axis_index(node.attr("axis", 0), arrays[0].ndim, node)
    return (np.concatenate(arrays, axis=axis),)


@importer("Concat", on_arrays=_concat_on_arrays, inputs=ANY_NUMBER, attrs=("axis",))
def import_concat(node, inputs, training):
    axis = axis_index(node.attr("axis", 0), inputs[0].ndim, node)
    return (tensor_ops.cat(list(inputs), axis),)


@exporter(CatFunction)
def export_cat(trace, out, *xs, dim):
    trace.node("Concat", [trace.name_of(x) for x in xs], out, axis=int(dim))


def _transpose_on_arrays(node, inputs):
    x = np.asarray(inputs[0])
    return (np.transpose(x, node.attr("perm", list(range(x.ndim))[::-1])),)


@importer("Transpose", on_arrays=_transpose_on_arrays, attrs=("perm",), runs_on_host=True)
def import_transpose(node, inputs, training):
    """Output axis i is input axis perm[i] (default: the axes reversed), as pycnn's permute."""
    x = inputs[0]
    perm = tuple(int(p) for p in node.attr("perm", list(range(x.ndim))[::-1]))
    if sorted(perm) != list(range(x.ndim)):
        raise ValueError(f"Transpose: perm {perm} is not a permutation of the {x.ndim} axes of shape "
                         f"{tuple(x.shape)}")
    return (tensor_ops.permute(x, perm),)


@exporter(PermuteFunction)
def export_permute(trace, out, x, dims):
    trace.node("Transpose", [trace.name_of(x)], out, perm=list(dims))


@exporter(ToDeviceFunction)
def export_to_device(trace, out, x, device):  # a copy between devices: the same ONNX value
    trace.alias(out, x)


@importer("Shape", arrays_only=True, shape_only_inputs=(0,), attrs=("start", "end"))
def import_shape(node, inputs):
    shape = np.asarray(shape_of(inputs[0]), dtype=np.int64)
    rank = len(shape)
    start, end = node.attr("start", 0), node.attr("end", rank)
    start = min(max(start + rank if start < 0 else start, 0), rank)
    end = min(max(end + rank if end < 0 else end, 0), rank)
    return (shape[start:end],)


@importer("Gather", arrays_only=True, inputs=(2, 2), attrs=("axis",))
def import_gather(node, inputs):
    data, indices = np.asarray(inputs[0]), np.asarray(inputs[1]).astype(np.int64)
    axis = axis_index(node.attr("axis", 0), data.ndim, node)
    size = data.shape[axis]
    if indices.size and (indices.min() < -size or indices.max() >= size):
        raise ValueError(f"Gather {node.name!r}: indices {indices.tolist()} out of range for size {size}")
    return (np.take(data, np.where(indices < 0, indices + size, indices), axis=axis),)


@importer("Expand", arrays_only=True, inputs=(2, 2))
def import_expand(node, inputs):
    x, shape = np.asarray(inputs[0]), ints(inputs[1])
    try:
        target = np.broadcast_shapes(x.shape, tuple(shape))
    except ValueError:
        raise ValueError(f"Expand {node.name!r}: shape {shape} does not broadcast with {x.shape}") from None
    if int(np.prod(target, dtype=np.float64)) > 1 << 28:
        raise ValueError(f"Expand {node.name!r}: result {target} is too large")
    return (np.array(np.broadcast_to(x, target)),)
