"""ONNX shape ops <-> pycnn: Reshape, Flatten, Unsqueeze, Squeeze (pycnn's reshape), Concat (cat),
Transpose (permute), Shape (on shapes only), and Slice, Split, Gather, Expand, Tile on the network's
values too (on the host: :class:`SelectFunction`, :class:`ExpandFunction`).

The reshaping ops work on numpy arrays as well as Tensors (``arrays_too``), so a chain of them on
constants folds at import and a chain on shapes runs on the host."""
import math

import numpy as np

from ... import tensor_ops
from ...autograd import Function
from ...tensor_ops.common import from_host, unbroadcast
from ...tensor_ops.shape import (CatFunction, PermuteFunction, ReshapeFunction, SplitFunction, SplitPartFunction,
                                 ToDeviceFunction)
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


@importer("Reshape", arrays_too=True, static=(1,), inputs=inputs_by_opset(5, (1, 1), (2, 2)),
          attrs=("allowzero", "shape", "consumed_inputs"))
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


def _concat_axis(node):
    """``axis``: required from opset 4, 1 when absent before."""
    return node.attr("axis", 1 if node.opset < 4 else 0)


def _concat_on_arrays(node, inputs):
    arrays = [np.asarray(x) for x in inputs]
    axis = axis_index(_concat_axis(node), arrays[0].ndim, node)
    return (np.concatenate(arrays, axis=axis),)


@importer("Concat", on_arrays=_concat_on_arrays, inputs=ANY_NUMBER, attrs=("axis",))
def import_concat(node, inputs, training):
    axis = axis_index(_concat_axis(node), inputs[0].ndim, node)
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


@importer("Size", arrays_only=True, shape_only_inputs=(0,))
def import_size(node, inputs):
    return (np.asarray(math.prod(shape_of(inputs[0])), dtype=np.int64),)


@importer("Range", arrays_only=True, inputs=(3, 3))
def import_range(node, inputs):
    """numpy's arange(start, limit, delta) in the inputs' type, on constants and shapes."""
    start, limit, delta = (np.asarray(v).reshape(-1)[0] for v in inputs)
    if delta == 0:
        raise ValueError(f"Range {node.name!r}: delta is 0")
    count = max(int(np.ceil((float(limit) - float(start)) / float(delta))), 0)
    if count > 1 << 28:
        raise ValueError(f"Range {node.name!r}: {count} elements is too many")
    return ((start + np.arange(count) * delta).astype(np.result_type(np.asarray(inputs[0]))),)


@importer("Shape", arrays_only=True, shape_only_inputs=(0,), attrs=("start", "end"))
def import_shape(node, inputs):
    shape = np.asarray(shape_of(inputs[0]), dtype=np.int64)
    rank = len(shape)
    start, end = node.attr("start", 0), node.attr("end", rank)
    start = min(max(start + rank if start < 0 else start, 0), rank)
    end = min(max(end + rank if end < 0 else end, 0), rank)
    return (shape[start:end],)


# ----- selecting parts of the network's values: Slice, Split, Gather, Expand, Tile ----------------------
class SelectFunction(Function):
    """``x[key]`` for a numpy key (slices of any step, at most one integer array), on the host; the
    backward scatters the gradient back, repeated positions adding up."""

    def forward(self, x, key):
        self.key, self.shape, self.device = key, tuple(x.shape), x.device
        return from_host(x.to("cpu").numpy()[key], self.device, np.float32)

    def backward(self, grad):
        full = np.zeros(self.shape, np.float32)
        np.add.at(full, self.key, grad.to("cpu").numpy())
        return from_host(full, self.device, np.float32), None


def take(x, key):
    """``x[key]`` of a numpy array (a copy) or a Tensor (:class:`SelectFunction`)."""
    if isinstance(x, np.ndarray):
        return np.array(x[key])
    return SelectFunction.apply(x, key)


class ExpandFunction(Function):
    """ONNX Expand / Tile of a Tensor on the host; the backward sums the copies back."""

    def forward(self, x, shape, repeats):
        self.in_shape, self.repeats, self.device = tuple(x.shape), repeats, x.device
        a = x.to("cpu").numpy()
        return from_host(np.tile(a, repeats) if repeats is not None else np.broadcast_to(a, shape), self.device,
                         np.float32)

    def backward(self, grad):
        g = grad.to("cpu").numpy()
        if self.repeats is not None:  # (r0 * d0, r1 * d1, ...) -> (r0, d0, r1, d1, ...) summed over the r
            split = [v for r, d in zip(self.repeats, self.in_shape) for v in (r, d)]
            g = g.reshape(split).sum(axis=tuple(range(0, 2 * len(self.repeats), 2)))
        else:
            g = unbroadcast(g, self.in_shape)
        return from_host(np.array(g, order="C"), self.device, np.float32), None, None


def _slice_arguments(node, inputs):
    """(starts, ends, axes, steps) from the attributes (opset < 10) or inputs 1-4."""
    if node.opset < 10:
        starts, ends = node.attr("starts"), node.attr("ends")
        axes, steps = node.attr("axes"), None
    else:
        starts, ends = ints(inputs[1]), ints(inputs[2])
        axes = ints(inputs[3]) if len(inputs) > 3 and inputs[3] is not None else None
        steps = ints(inputs[4]) if len(inputs) > 4 and inputs[4] is not None else None
    return list(starts), list(ends), axes, steps


def slice_key(node, shape, starts, ends, axes, steps):
    """The numpy key of ONNX Slice on ``shape``: starts and ends clamped as ONNX says ([0, dim] going
    forward, [0, dim - 1] and [-1, dim - 1] going backward, -1 meaning before the first element)."""
    rank = len(shape)
    axes = list(range(len(starts))) if axes is None else [axis_index(a, rank, node) for a in axes]
    steps = [1] * len(starts) if steps is None else list(steps)
    if not len(starts) == len(ends) == len(axes) == len(steps) or len(set(axes)) != len(axes):
        raise ValueError(f"Slice {node.name!r}: starts {starts}, ends {ends}, axes {axes} and steps {steps} must "
                         "have one entry per distinct axis")
    key = [slice(None)] * rank
    for start, end, axis, step in zip(starts, ends, axes, steps):
        dim = shape[axis]
        if step == 0:
            raise ValueError(f"Slice {node.name!r}: step 0 on axis {axis}")
        start = start + dim if start < 0 else start
        end = end + dim if end < 0 else end
        if step > 0:
            start, end = min(max(start, 0), dim), min(max(end, 0), dim)
            key[axis] = slice(start, end, step)
        else:
            start, end = min(max(start, 0), dim - 1), min(max(end, -1), dim - 1)
            key[axis] = slice(start, None if end < 0 else end, step)
    return tuple(key)


@importer("Slice", arrays_too=True, static=(1, 2, 3, 4), inputs=inputs_by_opset(10, (1, 1), (3, 5)),
          attrs=("starts", "ends", "axes"), runs_on_host=True)
def import_slice(node, inputs, training):
    x = inputs[0]
    return (take(x, slice_key(node, shape_of(x), *_slice_arguments(node, inputs))),)


def _split_sizes(node, inputs, dim):
    """The sizes of Split's outputs along its axis: ``split`` (attribute before opset 13, input 1 from),
    or ``num_outputs`` (opset 18: the last part smaller), or equal parts."""
    split = node.attr("split") if node.opset < 13 else \
        (ints(inputs[1]) if len(inputs) > 1 and inputs[1] is not None else None)
    if node.opset < 2 and split is None and len(inputs) > 1 and inputs[1] is not None:
        split = ints(inputs[1])
    count = node.attr("num_outputs", len(node.outputs))
    if split is None:
        if node.opset >= 18 and "num_outputs" in node.attrs:
            part = -(-dim // count)
            split = [min(part, dim - part * i) for i in range(count)]
        else:
            if dim % count:
                raise ValueError(f"Split {node.name!r}: axis of size {dim} does not split into {count} equal parts")
            split = [dim // count] * count
    split = list(split)
    if sum(split) != dim or min(split, default=0) < 0 or len(split) != len(node.outputs):
        raise ValueError(f"Split {node.name!r}: parts {split} do not cover an axis of size {dim} with "
                         f"{len(node.outputs)} outputs")
    return split


@importer("Split", arrays_too=True, static=(1,), inputs=(1, 2), outputs=1 << 16,
          attrs=("axis", "split", "num_outputs"), runs_on_host=True)
def import_split(node, inputs, training):
    x = inputs[0]
    shape = shape_of(x)
    axis = axis_index(node.attr("axis", 0), len(shape), node)
    outputs, begin = [], 0
    for size in _split_sizes(node, inputs, shape[axis]):
        key = (slice(None),) * axis + (slice(begin, begin + size),)
        outputs.append(take(x, key))
        begin += size
    return tuple(outputs)


def _gather_key(node, data_shape, indices):
    indices = np.asarray(indices).astype(np.int64)
    axis = axis_index(node.attr("axis", 0), len(data_shape), node)
    size = data_shape[axis]
    if indices.size and (indices.min() < -size or indices.max() >= size):
        raise ValueError(f"Gather {node.name!r}: indices {indices.reshape(-1)[:10].tolist()} out of range for size "
                         f"{size}")
    return (slice(None),) * axis + (np.where(indices < 0, indices + size, indices),)


@importer("Gather", arrays_too=True, static=(1,), inputs=(2, 2), attrs=("axis",), runs_on_host=True)
def import_gather(node, inputs, training):
    """ONNX Gather (numpy's take along ``axis``) of constants, shapes or the network's values; the
    indices must be known before the network runs (an embedding of int64 inputs is not supported)."""
    x = inputs[0]
    return (take(x, _gather_key(node, shape_of(x), inputs[1])),)


def _expanded_shape(node, in_shape, shape):
    try:
        target = np.broadcast_shapes(tuple(in_shape), tuple(ints(shape)))
    except ValueError:
        raise ValueError(f"Expand {node.name!r}: shape {ints(shape)} does not broadcast with {tuple(in_shape)}") \
            from None
    if int(np.prod(target, dtype=np.float64)) > 1 << 28:
        raise ValueError(f"Expand {node.name!r}: result {target} is too large")
    return target


@importer("Expand", arrays_too=True, static=(1,), inputs=(2, 2), runs_on_host=True)
def import_expand(node, inputs, training):
    x = inputs[0]
    target = _expanded_shape(node, shape_of(x), inputs[1])
    if isinstance(x, np.ndarray):
        return (np.array(np.broadcast_to(x, target)),)
    return (ExpandFunction.apply(x, target, None),)


@importer("Tile", arrays_too=True, static=(1, 2), inputs=inputs_by_opset(6, (3, 3), (2, 2)), runs_on_host=True)
def import_tile(node, inputs, training):
    """np.tile with one repeat count per axis (opsets 1-5: ``tiles`` copies along input 2's ``axis``)."""
    x = inputs[0]
    rank = len(shape_of(x))
    if node.opset < 6:
        repeats = [1] * rank
        repeats[axis_index(int(np.asarray(inputs[2]).reshape(-1)[0]), rank, node)] = \
            int(np.asarray(inputs[1]).reshape(-1)[0])
    else:
        repeats = ints(inputs[1])
    if len(repeats) != rank or min(repeats, default=1) < 0:
        raise ValueError(f"Tile {node.name!r}: repeats {repeats} must be {rank} non-negative counts")
    if int(np.prod(shape_of(x), dtype=np.float64) * np.prod(repeats, dtype=np.float64)) > 1 << 28:
        raise ValueError(f"Tile {node.name!r}: result is too large")
    if isinstance(x, np.ndarray):
        return (np.tile(x, repeats),)
    return (ExpandFunction.apply(x, None, tuple(repeats)),)


def _block(node, x):
    b = node.attr("blocksize")
    if not isinstance(b, int) or b < 1:
        raise ValueError(f"{node.op} {node.name!r}: blocksize {b!r} is not a positive int")
    if len(shape_of(x)) != 4:
        raise ValueError(f"{node.op} {node.name!r}: expected a 4-d input (N, C, H, W), got shape {shape_of(x)}")
    return b


def _permute(x, perm):
    return np.transpose(x, perm) if isinstance(x, np.ndarray) else tensor_ops.permute(x, perm)


@importer("DepthToSpace", arrays_too=True, attrs=("blocksize", "mode"), ranks={0: 4}, runs_on_host=True)
def import_depth_to_space(node, inputs, training):
    """(N, C * b * b, H, W) -> (N, C, H * b, W * b); mode DCR (the default: depth, column, row) or CRD
    (torch's pixel_shuffle)."""
    x = inputs[0]
    b = _block(node, x)
    n, c, h, w = shape_of(x)
    if c % (b * b):
        raise ValueError(f"DepthToSpace {node.name!r}: {c} channels are not divisible by blocksize^2 = {b * b}")
    if node.attr("mode", "DCR") == "DCR":
        y = _permute(reshape(x, (n, b, b, c // (b * b), h, w)), (0, 3, 4, 1, 5, 2))
    else:
        y = _permute(reshape(x, (n, c // (b * b), b, b, h, w)), (0, 1, 4, 2, 5, 3))
    return (reshape(y, (n, c // (b * b), h * b, w * b)),)


@importer("SpaceToDepth", arrays_too=True, attrs=("blocksize", "mode"), ranks={0: 4}, runs_on_host=True)
def import_space_to_depth(node, inputs, training):
    """(N, C, H * b, W * b) -> (N, C * b * b, H, W), the inverse of DepthToSpace DCR (mode DCR, the
    default) or CRD (mode CRD, opset 28)."""
    x = inputs[0]
    b = _block(node, x)
    n, c, h, w = shape_of(x)
    if h % b or w % b:
        raise ValueError(f"SpaceToDepth {node.name!r}: spatial size {(h, w)} is not divisible by blocksize {b}")
    crd = node.attr("mode", "DCR") == "CRD"
    y = _permute(reshape(x, (n, c, h // b, b, w // b, b)), (0, 1, 3, 5, 2, 4) if crd else (0, 3, 5, 1, 2, 4))
    return (reshape(y, (n, c * b * b, h // b, w // b)),)


# ----- export of the selections --------------------------------------------------------------------
_INT64_MIN = -(1 << 63)


@exporter(SelectFunction)
def export_select(trace, out, x, key):
    """The slices as one Slice (starts, ends, axes, steps), then the integer array as a Gather."""
    name = trace.name_of(x)
    starts, ends, axes, steps = [], [], [], []
    gather = None
    for axis, (item, size) in enumerate(zip(key, x.shape)):
        if isinstance(item, np.ndarray):
            gather = (axis, item)
        elif isinstance(item, slice) and item != slice(None):
            start, stop, step = item.indices(size)
            starts.append(start)
            ends.append(stop if stop >= 0 else _INT64_MIN)  # a backward slice down to element 0
            axes.append(axis)
            steps.append(step)
    parts = [starts, ends, axes, steps]
    if starts:
        inputs = [name] + [trace.const(np.asarray(v, np.int64), stem) for v, stem in zip(parts, ("starts", "ends",
                                                                                            "axes", "steps"))]
        name = trace.node("Slice", inputs, None if gather else out)
    if gather:
        trace.node("Gather", [name, trace.const(np.asarray(gather[1], np.int64), "indices")], out, axis=gather[0])
    elif not starts:
        trace.alias(out, x)


@exporter(ExpandFunction)
def export_expand(trace, out, x, shape, repeats):
    if repeats is not None:
        trace.node("Tile", [trace.name_of(x), trace.const(np.asarray(repeats, np.int64), "repeats")], out)
    else:
        trace.node("Expand", [trace.name_of(x), trace.const(np.asarray(shape, np.int64), "shape")], out)


@exporter(SplitFunction)
def export_split(trace, out, x, shapes, dim, parts_out):
    """split's parts become Slices of its input: each part's (raw tensor) bounds are filed here for
    export_split_part (the handle, an empty tensor, exports as nothing)."""
    parts = trace.__dict__.setdefault("split_parts", {})
    start = 0
    for shape, part in zip(shapes, parts_out):
        parts[id(part)] = (trace.name_of(x), start, start + shape[dim], dim)
        start += shape[dim]


@exporter(SplitPartFunction)
def export_split_part(trace, out, handle, split, index, part):
    name, *bounds = trace.split_parts[id(part)]
    inputs = [name] + [trace.const(np.asarray([v], np.int64), stem)
                       for v, stem in zip(bounds, ("starts", "ends", "axes"))]
    trace.node("Slice", inputs, out)
