"""Lowering of the shape ops (see pycnn.inference.lowering for the contract): Reshape and its kin as
views of their input, Identity as a copy, Concat as the plan's cat step, and Transpose, Slice and Split
as strided copies (a view of the input with permuted strides, an offset and steps, copied contiguous:
cpu::strided_copy), with ONNX's clamping and part sizes taken from the importer's own helpers."""
import numpy as np

from ..onnx.ops.common import axis_index
from ..onnx.ops.shape import _slice_arguments, _split_sizes, slice_key
from .lowering import Native, _elements, _f32, lowers


@lowers("Reshape", "Flatten", "Squeeze", "Unsqueeze")
def lower_view(ctx, node):
    return Native([node.inputs[0]], view=True) if ctx.dynamic(node.inputs[0]) else None


@lowers("Identity", "Dropout")
def lower_copy(ctx, node):
    x, y = node.inputs[0], node.outputs[0]
    if not ctx.dynamic(x) or any(node.outputs[1:]):
        return None
    n = _elements(ctx.shape(x))
    return Native([x], lambda plan, offset: plan.add_copy(node.name, offset(y), offset(x), n))


@lowers("Concat")
def lower_concat(ctx, node):
    consts = [ctx.const(name) for name in node.inputs]
    reads = [name for name, c in zip(node.inputs, consts) if c is None]
    if not reads or any(c is not None and c.dtype != np.float32 for c in consts) or \
            not all(ctx.dynamic(name) for name in reads):
        return None
    shapes = [ctx.shape(name) for name in node.inputs]
    rank = len(shapes[0])
    axis = node.attr("axis", 1)
    if not -rank <= axis < rank:
        return None
    axis %= rank
    y = node.outputs[0]
    outer, inner = _elements(shapes[0][:axis]), _elements(shapes[0][axis + 1:])
    sizes = [s[axis] for s in shapes]
    return Native(reads, lambda plan, offset: plan.add_cat(
        node.name, offset(y), [-1 if c is not None else offset(name) for name, c in zip(node.inputs, consts)],
        [None if c is None else _f32(c) for c in consts], outer, inner, sizes))


# ----- copies through a view: one strided copy (cpu::strided_copy) -----------------------------------
def _row_major_strides(shape):
    strides, step = [], 1
    for dim in reversed(shape):
        strides.append(step)
        step *= dim
    return strides[::-1]


def _strided(ctx, node, shape, strides, offset):
    x, y = node.inputs[0], node.outputs[0]
    floats = _elements(ctx.shape(x))
    return Native([x], lambda plan, offset_of: plan.add_strided_copy(node.name, offset_of(y), offset_of(x), floats,
                                                                     list(shape), list(strides), int(offset)))


@lowers("Transpose")
def lower_transpose(ctx, node):
    """The input's strides permuted (ShuffleNet's channel shuffle: [N, 2, C/2, H, W], axes 1 and 2)."""
    shape = ctx.shape(node.inputs[0])
    perm = node.attr("perm", list(range(len(shape)))[::-1])
    if not ctx.dynamic(node.inputs[0]) or sorted(perm) != list(range(len(shape))):
        return None
    strides = _row_major_strides(shape)
    return _strided(ctx, node, [shape[p] for p in perm], [strides[p] for p in perm], 0)


@lowers("Slice")
def lower_slice(ctx, node):
    """Constant starts, ends, axes and steps (ShuffleNet's channel split): the start as the offset,
    the steps times the strides, ONNX's clamping as the importer's (slice_key)."""
    x = node.inputs[0]
    if not ctx.dynamic(x) or any(name and ctx.const(name) is None for name in node.inputs[1:]):
        return None
    shape = ctx.shape(x)
    inputs = [None] + [ctx.const(name) if name else None for name in node.inputs[1:]]
    key = slice_key(node, shape, *_slice_arguments(node, inputs))
    strides = _row_major_strides(shape)
    out, steps, offset = [], [], 0
    for dim, stride, part in zip(shape, strides, key):
        picked = range(dim)[part]
        out.append(len(picked))
        steps.append(picked.step * stride)
        offset += (picked.start if len(picked) else 0) * stride
    return _strided(ctx, node, out, steps, offset)


@lowers("Split")
def lower_split(ctx, node):
    """Constant parts along one axis (a CSP block's or a channel split's halves): one strided copy a
    part, the importer's own sizes (_split_sizes)."""
    x = node.inputs[0]
    if not ctx.dynamic(x) or (len(node.inputs) > 1 and node.inputs[1] and ctx.const(node.inputs[1]) is None):
        return None
    shape = ctx.shape(x)
    axis = axis_index(node.attr("axis", 0), len(shape), node)
    inputs = [None] + [ctx.const(name) if name else None for name in node.inputs[1:]]
    sizes = _split_sizes(node, inputs, shape[axis])
    strides, floats = _row_major_strides(shape), _elements(shape)

    def add(plan, offset_of):
        begin = 0
        for name, size in zip(node.outputs, sizes):
            if name and name in ctx.shapes:
                part = shape[:axis] + [size] + shape[axis + 1:]
                plan.add_strided_copy(node.name, offset_of(name), offset_of(x), floats, part, strides,
                                      begin * strides[axis])
            begin += size
    return Native([x], add)
