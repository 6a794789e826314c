"""Lowering: each graph node becomes a step of the C++ plan (``_C.InferencePlan.add_*``), a view of
its input (a reshape moves no data), or, for what the plan has no kernel for, a step run in Python by
the op's own ``on_tensors``. ``LOWERINGS`` maps an op type to a function ``lower(ctx, node)`` that
returns a :class:`Native` step or None (run it in Python); it must return None for any attribute or
input it does not handle exactly as the op's ``on_tensors`` does.

ctx (see pycnn.inference.plan) gives ``shape(name)``, ``const(name)`` (a numpy array, or None for a
value the network computes), ``dynamic(name)`` and ``offset(name)`` (only inside ``Native.add``).
"""
from types import SimpleNamespace

import numpy as np

from .. import _C
from ..graph.executor import NODE_ERRORS
from ..graph.passes.fuse_conv import clip_bounds
from ..onnx.ops import pooling
from ..onnx.ops.common import axis_index
from ..onnx.ops.reduction import _reduce_axes
from ..onnx.ops.window import spatial_pads

INF = float("inf")


class Native:
    """A node the C++ plan runs: ``add(plan, offset)`` appends its step once the arena is planned.

    reads: the network values it reads from the arena; inplace: its output may take the buffer of its
    first input when no later step reads that; view: it computes nothing, its output is its first
    input's memory seen with another shape."""

    def __init__(self, reads, add=None, inplace=False, view=False):
        self.reads, self.add, self.inplace, self.view = list(reads), add, inplace, view


LOWERINGS = {}


def lowers(*op_types):
    def register(fn):
        for op_type in op_types:
            LOWERINGS[op_type] = fn
        return fn
    return register


def _f32(array):
    return np.ascontiguousarray(array, dtype=np.float32)


def _elements(shape):
    return int(np.prod(shape, dtype=np.int64))


# ----- convolution and linear layers ---------------------------------------------------------------
def _conv_geometry(ctx, node):
    """(x, weight, bias, residual, strides, (top, left) padding, dilations) of a Conv or FusedConv the
    plan's kernel computes as the op does, or None (symmetric padding only, constant weights)."""
    x, w = node.inputs[0], ctx.const(node.inputs[1])
    b = ctx.const(node.inputs[2]) if len(node.inputs) > 2 and node.inputs[2] else None
    z = node.inputs[3] if len(node.inputs) > 3 and node.inputs[3] else ""
    shape = ctx.shape(x)
    if not ctx.dynamic(x) or w is None or w.ndim != 4 or len(shape) != 4 or (len(node.inputs) > 2 and node.inputs[2]
                                                                            and b is None):
        return None
    if z and not ctx.dynamic(z):
        return None
    strides = list(node.attr("strides", [1, 1]))
    dilations = list(node.attr("dilations", [1, 1]))
    top, left, bottom, right = spatial_pads(node, shape[2:], list(w.shape[2:]), strides, dilations)
    if top != bottom or left != right:
        return None
    return x, w, b, z, strides, (top, left), dilations


def _max_pool_geometry(pool, shape):
    """(kernel, strides, padding, dilations, ceil_mode) of a MaxPool on an input of ``shape`` that the
    plan's kernel computes as the op does, or None."""
    if len(shape) != 4 or any(pool.outputs[1:]):
        return None
    kernel, strides, dilations, pads, out_hw = pooling._pool_geometry(pool, SimpleNamespace(shape=shape))
    native = pooling._native_pool_args(pool, shape[2:], kernel, strides, dilations, pads, out_hw)
    return None if native is None else (kernel, strides, native[0], dilations, native[1])


def conv_max_pool_fusable(ctx):
    """``fusable(conv, pool)`` for passes.fuse_conv_max_pool: the plan has the one-step kernel for a
    convolution then max pool where both lower as they are, the pool is 2-d, and the convolution takes
    the packed path (_C.conv2d_packs_panels: the 3-channel stems; the other paths keep their own
    kernels and a pool step after them)."""
    def fusable(conv, pool):
        try:  # a node the op itself would refuse stays apart, so that its error names it
            geometry = _conv_geometry(ctx, conv)
            if geometry is None or _max_pool_geometry(pool, ctx.shape(pool.inputs[0])) is None:
                return False
            x, w, _, _, strides, padding, dilations = geometry
            return _C.conv2d_packs_panels(list(ctx.shape(x)), list(w.shape), tuple(strides), padding,
                                          tuple(dilations), conv.attr("group", 1))
        except NODE_ERRORS:
            return False
    return fusable


@lowers("Conv", "FusedConv")
def lower_conv(ctx, node):
    geometry = _conv_geometry(ctx, node)
    if geometry is None:
        return None
    x, w, b, z, strides, padding, dilations = geometry
    shape = ctx.shape(x)
    low, high = node.attr("activation_params", [-INF, INF]) if node.attr("activation") else (-INF, INF)
    gate = {"Silu": "silu", "HardSwish": "hardswish"}.get(node.attr("activation"), "")
    y = node.outputs[0]
    weight, bias = _f32(w), None if b is None else _f32(b)
    pool = node.attr("max_pool")
    if pool is not None:  # passes.fuse_conv_max_pool: the pool's output, the convolution's never stored
        pooled = _max_pool_geometry(pool, ctx.shape(pool.inputs[0]))
        if pooled is None or z or gate:
            return None
        kernel, pool_strides, pool_padding, pool_dilations, ceil_mode = pooled

        def add_pooled(plan, offset):
            plan.add_conv2d_max_pool(node.name, offset(y), offset(x), weight, bias, list(shape), tuple(strides),
                                     padding, tuple(dilations), node.attr("group", 1), low, high, tuple(kernel),
                                     tuple(pool_strides), tuple(pool_padding), tuple(pool_dilations), ceil_mode)
        return Native([x], add_pooled)

    def add(plan, offset):
        blocks = ctx.blocks  # the values kept in channel blocks (channel_blocks), by their halos
        plan.add_conv2d(node.name, offset(y), offset(x), weight, bias, list(shape), tuple(strides), padding,
                        tuple(dilations), node.attr("group", 1), offset(z) if z else -1, low, high,
                        blocks.get(x), blocks.get(y), blocks.get(z) if z else None, gate)
    native = Native([x] + ([z] if z else []), add)
    try:
        blocks = _C.conv2d_takes_channel_blocks(list(shape), list(w.shape), tuple(strides), padding,
                                                tuple(dilations), node.attr("group", 1))
    except NODE_ERRORS:
        blocks = False
    native.conv = SimpleNamespace(x=x, y=y, z=z, padding=tuple(padding), blocks=blocks)
    return native


def channel_blocks(nodes, lowered, outputs):
    """{value: (halo_h, halo_w)} of the values the plan keeps in channel blocks (onnxruntime's NCHWc,
    padded: _C.channel_block_width() channels a pixel, one vector, and a zero halo around each plane)
    instead of NCHW: those that a step able to write blocks computes and only steps able to read them
    read; not the graph's outputs. Writers: a convolution taking blocks (_C.conv2d_takes_channel_blocks:
    row tiles, small or strided depthwise layers), and a squeeze-and-excitation Mul (x by a [N, C, 1, 1]
    scale: Native.scale) whose x is in blocks. Readers: such a convolution (its input or its residual),
    the Mul (its x) and a global average pool (Native.channel_mean). The halo is the largest padding
    among the convolutions reading the value as input, so they read it in place: no padded or
    transposed copy, and the producer stores a pixel's channels as one vector instead of transposing
    them back into planes; a Mul's x and output share one halo (it scales every float of a block).
    nodes, lowered: the graph's nodes and their Natives (None: run in Python)."""
    readers = {}
    for node, native in zip(nodes, lowered):
        for index, name in enumerate(node.inputs):
            if name:
                readers.setdefault(name, []).append((native, index, name))

    def reads_blocks(native, index, name):
        conv, scale = getattr(native, "conv", None), getattr(native, "scale", None)
        if conv is not None:
            return conv.blocks and index in (0, 3)
        if scale is not None:
            return name == scale.x
        return getattr(native, "channel_mean", None) == name

    convs = [n.conv for n in lowered if getattr(n, "conv", None) is not None and n.conv.blocks]
    scales = [n.scale for n in lowered if getattr(n, "scale", None) is not None]
    kept = {v.y for v in convs + scales
            if v.y not in outputs and readers.get(v.y) and all(reads_blocks(*r) for r in readers[v.y])}
    # A Mul writes blocks only from blocks, and reads blocks only into blocks.
    while any((s.y in kept) != (s.x in kept) for s in scales):
        for s in scales:
            if (s.y in kept) != (s.x in kept):
                kept.discard(s.x), kept.discard(s.y)
    blocks = {}
    for name in kept:
        halo = (0, 0)
        for native, index, _ in readers[name]:
            conv = getattr(native, "conv", None)
            if conv is not None and index == 0:
                halo = (max(halo[0], conv.padding[0]), max(halo[1], conv.padding[1]))
        blocks[name] = halo
    changed = True
    while changed:  # a Mul's two values take the larger of their halos
        changed = False
        for s in scales:
            if s.y in blocks:
                halo = tuple(max(a, b) for a, b in zip(blocks[s.x], blocks[s.y]))
                changed |= blocks[s.x] != halo or blocks[s.y] != halo
                blocks[s.x] = blocks[s.y] = halo
    return blocks


def _linear(ctx, node, x, weight, bias):
    """y = x @ weight.T + bias for a 2-d x; weight (out, in), bias (out,) or None."""
    shape, y = ctx.shape(x), node.outputs[0]
    if not ctx.dynamic(x) or len(shape) != 2 or weight.shape[1] != shape[1]:
        return None

    def add(plan, offset):
        plan.add_linear(node.name, offset(y), offset(x), _f32(weight), None if bias is None else _f32(bias), shape[0])
    return Native([x], add)


@lowers("Gemm")
def lower_gemm(ctx, node):
    b = ctx.const(node.inputs[1])
    c = ctx.const(node.inputs[2]) if len(node.inputs) > 2 and node.inputs[2] else None
    if b is None or b.ndim != 2 or node.attr("transA", 0) or node.attr("alpha", 1.0) != 1.0 or node.attr("broadcast"):
        return None
    if len(node.inputs) > 2 and node.inputs[2] and (c is None or node.attr("beta", 1.0) != 1.0):
        return None
    weight = b if node.attr("transB", 0) else b.T
    if c is not None:
        if c.size != weight.shape[0] or c.ndim > 2 or (c.ndim == 2 and c.shape[0] != 1):
            return None
        c = c.reshape(-1)
    return _linear(ctx, node, node.inputs[0], weight, c)


@lowers("MatMul")
def lower_matmul(ctx, node):
    b = ctx.const(node.inputs[1])
    return None if b is None or b.ndim != 2 else _linear(ctx, node, node.inputs[0], b.T, None)


# ----- pooling -------------------------------------------------------------------------------------
def _pool(ctx, node, add_step):
    x, y = node.inputs[0], node.outputs[0]
    shape = ctx.shape(x)
    if not ctx.dynamic(x) or len(shape) != 4 or any(node.outputs[1:]):
        return None
    kernel, strides, dilations, pads, out_hw = pooling._pool_geometry(node, SimpleNamespace(shape=shape))
    native = pooling._native_pool_args(node, shape[2:], kernel, strides, dilations, pads, out_hw)
    if native is None:
        return None
    padding, ceil_mode = native

    def add(plan, offset):
        add_step(plan, node.name, offset(y), offset(x), list(shape), tuple(kernel), tuple(strides), tuple(padding),
                 tuple(dilations), ceil_mode)
    return Native([x], add)


@lowers("MaxPool")
def lower_max_pool(ctx, node):
    return _pool(ctx, node, lambda plan, name, y, x, shape, kernel, strides, padding, dilations, ceil:
                 plan.add_max_pool2d(name, y, x, shape, kernel, strides, padding, dilations, ceil))


@lowers("AveragePool")
def lower_average_pool(ctx, node):
    if list(node.attr("dilations", [1, 1])) != [1, 1]:  # the average kernel has no dilation
        return None
    include = bool(node.attr("count_include_pad", 0))
    return _pool(ctx, node, lambda plan, name, y, x, shape, kernel, strides, padding, dilations, ceil:
                 plan.add_avg_pool2d(name, y, x, shape, kernel, strides, padding, ceil, include))


@lowers("GlobalAveragePool")
def lower_global_average_pool(ctx, node):
    x, y = node.inputs[0], node.outputs[0]
    shape = ctx.shape(x)
    if not ctx.dynamic(x) or len(shape) != 4:
        return None

    def add(plan, offset):
        if x in ctx.blocks:  # channel_blocks: its input in channel blocks
            plan.add_channel_blocks_mean(node.name, offset(y), offset(x), list(shape), ctx.blocks[x])
        else:
            plan.add_adaptive_avg_pool2d(node.name, offset(y), offset(x), list(shape), (1, 1))
    native = Native([x], add)
    native.channel_mean = x
    return native


@lowers("ReduceMean")
def lower_reduce_mean(ctx, node):
    """A mean over trailing axes (MnasNet's and ShuffleNet's [2, 3], a global average pool) as the
    adaptive average pool of the value seen as [outer, 1, inner, 1]; other axes run in Python."""
    x, y = node.inputs[0], node.outputs[0]
    shape = ctx.shape(x)
    if not ctx.dynamic(x) or not shape:
        return None
    if len(node.inputs) > 1 and node.inputs[1] and ctx.const(node.inputs[1]) is None:
        return None  # axes the network computes
    axes = _reduce_axes(node, [None] + [ctx.const(name) if name else None for name in node.inputs[1:]])
    if axes is None and node.attr("noop_with_empty_axes", 0):
        return None
    axes = sorted({axis_index(a, len(shape), node) for a in (axes if axes is not None else range(len(shape)))})
    if axes != list(range(axes[0], len(shape))):
        return None
    outer, inner = _elements(shape[:axes[0]]), _elements(shape[axes[0]:])
    if outer <= 0 or inner <= 0:
        return None
    return Native([x], lambda plan, offset: plan.add_adaptive_avg_pool2d(node.name, offset(y), offset(x),
                                                                         [outer, 1, inner, 1], (1, 1)))


# ----- elementwise ---------------------------------------------------------------------------------
def _unary(ctx, node, kind, alpha=0.0, beta=0.0):
    x, y = node.inputs[0], node.outputs[0]
    if not ctx.dynamic(x):
        return None
    n = _elements(ctx.shape(x))
    return Native([x], lambda plan, offset: plan.add_unary(node.name, kind, offset(y), offset(x), n, alpha, beta),
                  inplace=True)


@lowers("Relu", "Sigmoid", "Tanh")
def lower_simple_activation(ctx, node):
    return _unary(ctx, node, node.op.lower())


@lowers("LeakyRelu")
def lower_leaky_relu(ctx, node):
    return _unary(ctx, node, "leaky_relu", node.attr("alpha", 0.01))


@lowers("Elu")
def lower_elu(ctx, node):
    return _unary(ctx, node, "elu", node.attr("alpha", 1.0))


@lowers("Silu")  # graph.passes.fuse_swish: x * Sigmoid(x)
def lower_silu(ctx, node):
    return _unary(ctx, node, "silu")


@lowers("HardSwish")
def lower_hard_swish(ctx, node):
    return _unary(ctx, node, "hardswish")


@lowers("HardSigmoid")
def lower_hard_sigmoid(ctx, node):
    return _unary(ctx, node, "hardsigmoid", float(node.attr("alpha", 0.2)), float(node.attr("beta", 0.5)))


@lowers("Gelu")
def lower_gelu(ctx, node):
    mode = node.attr("approximate", "none")
    return _unary(ctx, node, "gelu", 1.0 if mode == "tanh" else 0.0) if mode in ("none", "tanh") else None


@lowers("Softplus")
def lower_softplus(ctx, node):  # ONNX Softplus: log(1 + e^x), as the importer's F.softplus(x)
    return _unary(ctx, node, "softplus", 1.0, 20.0)


@lowers("Clip")
def lower_clip(ctx, node):
    bounds = clip_bounds(ctx.ir, node)
    return None if bounds is None else _unary(ctx, node, "clip", *bounds)


@lowers("PRelu")
def lower_prelu(ctx, node):
    """A constant slope shared by all values or varying along axis 1 only (pycnn's PReLU kernel)."""
    x, y = node.inputs[0], node.outputs[0]
    slope = ctx.const(node.inputs[1])
    shape = ctx.shape(x)
    if not ctx.dynamic(x) or slope is None or slope.ndim > len(shape) or len(shape) < 1:
        return None
    aligned = (1,) * (len(shape) - slope.ndim) + tuple(slope.shape)
    if slope.size == 1:
        outer, channels, inner = 1, 1, _elements(shape)
    elif len(shape) >= 2 and aligned[1] == shape[1] and slope.size == shape[1]:
        outer, channels, inner = shape[0], shape[1], _elements(shape[2:])
    else:
        return None
    weight = _f32(slope).reshape(channels)
    return Native([x], lambda plan, offset: plan.add_prelu(node.name, offset(y), offset(x), weight, outer, inner),
                  inplace=True)


_BINARY = {"Add": "add", "Sub": "sub", "Mul": "mul", "Div": "div"}


@lowers(*_BINARY)
def lower_binary(ctx, node):
    if node.attr("broadcast") is not None or node.attr("axis") is not None:  # opset < 7 broadcasting
        return None
    a, b = node.inputs
    ca, cb = ctx.const(a), ctx.const(b)
    if (ca is not None and ca.dtype != np.float32) or (cb is not None and cb.dtype != np.float32):
        return None
    y = node.outputs[0]
    shape_a = list(ca.shape) if ca is not None else ctx.shape(a)
    shape_b = list(cb.shape) if cb is not None else ctx.shape(b)
    reads = [name for name, c in ((a, ca), (b, cb)) if c is None]
    # In place over the first operand read from the arena, when it has the output's shape.
    inplace = bool(reads) and ctx.shape(reads[0]) == ctx.shape(y)

    scale = _channel_scale(ctx, node) if node.op == "Mul" else None

    def add(plan, offset):
        if scale is not None and scale.x in ctx.blocks:  # channel_blocks: x and y in channel blocks
            plan.add_channel_blocks_scale(node.name, offset(y), offset(scale.x), offset(scale.s), scale.images,
                                          ctx.shape(scale.x), ctx.blocks[scale.x])
            return
        plan.add_binary(node.name, _BINARY[node.op], offset(y), -1 if ca is not None else offset(a), shape_a,
                        None if ca is None else _f32(ca), -1 if cb is not None else offset(b), shape_b,
                        None if cb is None else _f32(cb))
    native = Native(reads, add, inplace=inplace)
    native.scale = scale
    return native


def _channel_scale(ctx, node):
    """A squeeze-and-excitation Mul, x [N, C, H, W] times a computed s [N or 1, C, 1, 1] (either
    order), as SimpleNamespace(x, s, y, images), or None: channel_blocks may keep x and y in channel
    blocks."""
    a, b = node.inputs
    for x, s in ((a, b), (b, a)):
        if not (ctx.dynamic(x) and ctx.dynamic(s)) or x == s:
            continue
        shape, scale = ctx.shape(x), ctx.shape(s)
        if len(shape) == 4 and shape[2] * shape[3] > 1 and ctx.shape(node.outputs[0]) == shape and \
                len(scale) == 4 and scale[0] in (1, shape[0]) and scale[1:] == [shape[1], 1, 1]:
            return SimpleNamespace(x=x, s=s, y=node.outputs[0], images=scale[0])
    return None


@lowers("BatchNormalization")
def lower_batch_norm(ctx, node):
    x, y = node.inputs[0], node.outputs[0]
    stats = [ctx.const(name) for name in node.inputs[1:5]] if len(node.inputs) == 5 else [None]
    shape = ctx.shape(x)
    if not ctx.dynamic(x) or any(s is None for s in stats) or len(shape) < 2 or any(node.outputs[1:]) \
            or node.attr("training_mode", 0):
        return None
    scale, bias, mean, var = (s.astype(np.float64).reshape(-1) for s in stats)
    if any(s.shape != (shape[1],) for s in (scale, bias, mean, var)):
        return None
    factor = scale / np.sqrt(var + node.attr("epsilon", 1e-5))
    shift = bias - mean * factor
    inner = _elements(shape[2:])
    return Native([x], lambda plan, offset: plan.add_channel_affine(node.name, offset(y), offset(x), _f32(factor),
                                                                    _f32(shift), shape[0], inner, -INF, INF),
                  inplace=True)


@lowers("Softmax", "LogSoftmax")
def lower_softmax(ctx, node):
    x, y = node.inputs[0], node.outputs[0]
    shape = ctx.shape(x)
    if not ctx.dynamic(x) or not shape:
        return None
    rank = len(shape)
    axis = node.attr("axis", -1 if node.opset >= 13 else 1)
    if not -rank <= axis < rank:
        return None
    axis %= rank
    if node.opset >= 13:
        view, dim = list(shape), axis
    else:  # opset < 13: the input as a 2-d matrix (before axis, from axis on), normalised along its rows
        view, dim = [_elements(shape[:axis]), _elements(shape[axis:])], 1
    log = node.op == "LogSoftmax"
    return Native([x], lambda plan, offset: plan.add_softmax(node.name, offset(y), offset(x), view, dim, log))


@lowers("LRN")
def lower_local_response_norm(ctx, node):
    x, y = node.inputs[0], node.outputs[0]
    shape, size = ctx.shape(x), node.attr("size")
    if not ctx.dynamic(x) or len(shape) < 2:
        return None
    return Native([x], lambda plan, offset: plan.add_local_response_norm(
        node.name, offset(y), offset(x), list(shape), size, node.attr("window_before", (size - 1) // 2),
        node.attr("alpha", 1e-4), node.attr("beta", 0.75), node.attr("bias", 1.0)))


# The shape family (views, copies, Concat, Transpose, Slice, Split) lives in lowering_shapes.py; importing
# it registers its lowerings in LOWERINGS (it imports this module's Native and lowers, defined above).
from . import lowering_shapes  # noqa: E402,F401
