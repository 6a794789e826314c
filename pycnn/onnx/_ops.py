"""The ONNX ops pycnn imports, opsets 7 to 25: for each op, what it supports (``check``), which inputs
must be known before the network runs (``static``: shapes, axes, pads), which are weights (``weights``,
with the layout pycnn keeps them in), how to compute it on numpy values when every input is a constant
or a shape (``host``, used to fold shape subgraphs), and how to run it on pycnn Tensors (``run``).

Attributes that changed between opsets are read per node opset: BatchNormalization's ``spatial``,
``is_test`` and ``consumed_inputs``, Gemm's and the arithmetic ops' ``broadcast``/``axis``, Dropout's
``ratio`` attribute (an input from opset 12), Clip/Pad/Reshape/Unsqueeze/Squeeze/ReduceMean arguments
that moved from attributes to inputs.
"""

import math

import numpy as np

from ..autograd import is_grad_enabled
from ..nn import functional as F
from ..tensor import tensor
from . import _host
from ._proto import OnnxImportError, tensor_to_numpy

INF = float("inf")


class Node:
    """One ONNX node as pycnn runs it."""

    __slots__ = ("name", "op", "opset", "attrs", "inputs", "outputs", "frozen")

    def __init__(self, name, op, opset, attrs, inputs, outputs):
        self.name, self.op, self.opset, self.attrs = name, op, opset, attrs
        self.inputs, self.outputs = inputs, outputs
        self.frozen = False  # set by pycnn.transfer: batch norm keeps its running statistics

    def attr(self, key, default=None):
        return self.attrs.get(key, default)

    def __repr__(self):
        return f"Node({self.name!r}, {self.op}, {self.inputs} -> {self.outputs})"


def read_attributes(node, base_dir):
    """The node's attributes as Python values; graph-valued attributes raise OnnxImportError."""
    out = {}
    for a in node.attribute:
        kind = a.type
        if kind == 0:  # files from old tools leave the type unset: infer it from the field present
            kind = 7 if a.ints else 6 if a.floats else 4 if a.HasField("t") else 3 if a.s else \
                1 if a.HasField("f") else 2
        if kind == 1:
            out[a.name] = float(a.f)
        elif kind == 2:
            out[a.name] = int(a.i)
        elif kind == 3:
            out[a.name] = a.s.decode("utf-8", "replace")
        elif kind == 4:
            out[a.name] = tensor_to_numpy(a.t, base_dir)
        elif kind == 6:
            out[a.name] = [float(v) for v in a.floats]
        elif kind == 7:
            out[a.name] = [int(v) for v in a.ints]
        elif kind == 8:
            out[a.name] = [s.decode("utf-8", "replace") for s in a.strings]
        else:
            raise OnnxImportError(f"attribute {a.name!r} holds a graph, tensors or a sparse tensor, which "
                                  "pycnn does not support")
    return out


# The type each attribute must have (read_attributes gives int, float, str, an ndarray for a tensor, or
# a list); an op may override one (Pad's ``value`` is a float, Constant's a tensor).
_ATTR_KINDS = dict(
    {k: "str" for k in ("auto_pad", "mode")},
    **{k: "ints" for k in ("dilations", "kernel_shape", "pads", "strides", "perm", "axes", "shape",
                           "consumed_inputs", "paddings", "value_ints")},
    **{k: "int" for k in ("group", "ceil_mode", "count_include_pad", "storage_order", "transA", "transB", "axis",
                          "keepdims", "allowzero", "size", "is_test", "spatial", "training_mode",
                          "noop_with_empty_axes", "start", "end", "to", "seed", "broadcast", "saturate", "value_int")},
    **{k: "float" for k in ("alpha", "beta", "bias", "epsilon", "momentum", "ratio", "min", "max", "value_float")},
    value_floats="floats", value="tensor")

_KIND_TEST = {
    "int": lambda v: isinstance(v, int), "float": lambda v: isinstance(v, (int, float)),
    "str": lambda v: isinstance(v, str), "tensor": lambda v: isinstance(v, np.ndarray),
    "ints": lambda v: isinstance(v, list) and all(isinstance(x, int) for x in v),
    "floats": lambda v: isinstance(v, list) and all(isinstance(x, (int, float)) for x in v),
}
_KIND_NAMES = {"int": "an int", "float": "a float", "str": "a string", "tensor": "a tensor",
               "ints": "a list of ints", "floats": "a list of floats"}


def _kind_of(value):
    if isinstance(value, list):
        return "a list of strings" if value and isinstance(value[0], str) else "a list"
    return {int: "an int", float: "a float", str: "a string"}.get(type(value), "a tensor")


class Op:
    """``inputs``: (fewest, most) inputs (most None: any number, none of them empty), or a function of
    the node giving it; the first ``fewest`` must not be empty names. ``outputs``: the most outputs. ``consts(node,
    values)``: problems found in the inputs known at import (numpy arrays; None for the others)."""

    def __init__(self, run=None, host=None, check=None, static=(), weights=None, buffers=(), attrs=(),
                 inputs=(1, 1), outputs=1, consts=None, attr_kinds=None):
        self.run, self.host, self.check_fn = run, host, check
        self.static = set(static)
        self.weights = weights or (lambda node: {})
        self.buffers = set(buffers)
        self.attrs = set(attrs)
        self.inputs, self.outputs, self.consts_fn = inputs, outputs, consts
        self.attr_kinds = dict(_ATTR_KINDS, **(attr_kinds or {}))

    def static_inputs(self, node):
        return self.static(node) if callable(self.static) else self.static

    def check(self, node, outputs_used):
        problems = [f"attribute {k!r} is not supported" for k in node.attrs if k not in self.attrs]
        wrong = [k for k in node.attrs if k in self.attrs and not _KIND_TEST[self.attr_kinds[k]](node.attrs[k])]
        problems += [f"attribute {k!r} must be {_KIND_NAMES[self.attr_kinds[k]]}, got {_kind_of(node.attrs[k])} "
                     f"{node.attrs[k]!r:.60}" for k in wrong]
        fewest, most = self.inputs(node) if callable(self.inputs) else self.inputs
        count = len(node.inputs)
        if count < fewest or (most is not None and count > most):
            expected = f"{fewest}" if fewest == most else f"{fewest} to {most}" if most is not None else \
                f"at least {fewest}"
            problems.append(f"expected {expected} inputs, got {count}")
        required = count if most is None else min(fewest, count)  # variadic ops use every input
        problems += [f"input {i} is required but its name is empty" for i in range(required) if not node.inputs[i]]
        if not node.outputs or len(node.outputs) > self.outputs or not node.outputs[0]:
            problems.append(f"expected 1 to {self.outputs} outputs with a named first one, got {node.outputs}")
        if self.check_fn is not None and not wrong:
            problems += self.check_fn(node, outputs_used)
        return problems

    def check_consts(self, node, values):
        return self.consts_fn(node, values) if self.consts_fn is not None else []


# ----- helpers ------------------------------------------------------------------------------------
def _ints(values):
    return [int(v) for v in np.asarray(values).reshape(-1)]


def _axis(axis, rank, node):
    a = axis + rank if axis < 0 else axis
    if not 0 <= a < max(rank, 1):
        raise ValueError(f"{node.op} {node.name!r}: axis {axis} is out of range for rank {rank}")
    return a


def _extra_outputs_check(count):
    def check(node, used):
        return [f"output {i} ({node.outputs[i]!r}) is used; pycnn computes only the first {count}"
                for i in range(count, len(node.outputs)) if used[i]]
    return check


def _reshape_target(in_shape, shape, allowzero, node):
    shape = _ints(shape)
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


def _shape_of(x):
    return tuple(int(d) for d in x.shape)


def _reshape(x, shape):
    return x.reshape(shape) if isinstance(x, np.ndarray) else F.reshape(x, tuple(shape))


# ----- Conv and pooling ---------------------------------------------------------------------------
def _spatial_pads(node, in_hw, kernel, strides, dilations):
    """(top, left, bottom, right) from ``pads`` or ``auto_pad``."""
    auto = node.attr("auto_pad", "NOTSET")
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        pads = []
        for size, k, s, d in zip(in_hw, kernel, strides, dilations):
            out = -(-size // s)
            pads.append(max((out - 1) * s + (k - 1) * d + 1 - size, 0))
        small = [p // 2 for p in pads]
        large = [p - p // 2 for p in pads]
        return (small + large) if auto == "SAME_UPPER" else (large + small)
    if auto == "VALID":
        return [0, 0, 0, 0]
    pads = node.attr("pads", [0, 0, 0, 0])
    return list(pads)


def _window_check(node, what):
    """Problems of the kernel_shape/strides/dilations/pads/auto_pad/group attributes of a Conv or pool."""
    problems = []
    for key, low in (("kernel_shape", 1), ("strides", 1), ("dilations", 1)):
        value = node.attr(key)
        if value is None:
            continue
        if len(value) != 2:
            problems.append(f"{key} {value} is not 2-d; pycnn {what} 2-d (N, C, H, W) tensors only")
        elif min(value) < low:
            problems.append(f"{key} {value} must be positive")
        elif max(value) >= 1 << 31:
            problems.append(f"{key} {value} is larger than 2^31")
    pads = node.attr("pads", [0, 0, 0, 0])
    if len(pads) != 4 or min(pads, default=0) < 0:
        problems.append(f"pads {pads} are not 4 non-negative values (top, left, bottom, right)")
    elif max(pads) >= 1 << 31:
        problems.append(f"pads {pads} are larger than 2^31")
    if node.attr("auto_pad", "NOTSET") not in ("NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER"):
        problems.append(f"auto_pad {node.attr('auto_pad')!r} is not an ONNX value (NOTSET, VALID, SAME_UPPER, "
                        "SAME_LOWER)")
    if node.attr("group", 1) < 1:
        problems.append(f"group {node.attr('group')} must be positive")
    return problems


def _pool_check(node, used):
    problems = []
    if node.attr("kernel_shape") is None:
        problems.append("kernel_shape is required")
    problems += _window_check(node, "pools")
    if node.op == "MaxPool" and node.attr("storage_order", 0) != 0:
        problems.append("storage_order=1 (column-major indices) is not supported")
    if node.op == "AveragePool" and node.attr("dilations", [1, 1]) != [1, 1]:
        problems.append(f"dilations {node.attr('dilations')} are not supported by average pooling")
    if node.op == "MaxPool" and len(node.outputs) > 1 and used[1]:
        problems.append("the Indices output is used; pycnn returns only the pooled values")
    return problems


def _symmetric(x, pads, value):
    """(x, (pad_h, pad_w)): asymmetric padding is applied explicitly, symmetric left to the op."""
    top, left, bottom, right = pads
    if top == bottom and left == right:
        return x, (top, left)
    return _host.pad(x, [0, 0, top, left, 0, 0, bottom, right], value), (0, 0)


def _run_conv(node, xs, training):
    x, w, b = xs[0], xs[1], (xs[2] if len(xs) > 2 else None)
    kernel = list(_shape_of(w)[2:])
    strides = list(node.attr("strides", [1, 1]))
    dilations = list(node.attr("dilations", [1, 1]))
    pads = _spatial_pads(node, _shape_of(x)[2:], kernel, strides, dilations)
    x, padding = _symmetric(x, pads, 0.0)
    return (F.conv2d(x, w, b, tuple(strides), padding, tuple(dilations), node.attr("group", 1)),)


def _conv_check(node, used):
    return _window_check(node, "convolves")


def _conv_consts(node, values):
    """The weight (M, C/group, kH, kW) against kernel_shape and group, the bias (M,)."""
    w = values[1]
    if w is None:
        return []
    if w.ndim != 4:
        return [f"weight {node.inputs[1]!r} has shape {w.shape}; pycnn convolves 2-d: expected (M, C/group, kH, kW)"]
    problems = []
    kernel = node.attr("kernel_shape")
    if kernel is not None and list(kernel) != list(w.shape[2:]):
        problems.append(f"kernel_shape {kernel} does not match the weight {node.inputs[1]!r} of shape {w.shape}")
    group = node.attr("group", 1)
    if isinstance(group, int) and group >= 1 and w.shape[0] % group:
        problems.append(f"group {group} does not divide the {w.shape[0]} output channels of weight {w.shape}")
    b = values[2] if len(values) > 2 else None
    if b is not None and b.shape != (w.shape[0],):
        problems.append(f"bias {node.inputs[2]!r} has shape {b.shape}, expected ({w.shape[0]},)")
    return problems


def _bn_consts(node, values):
    shapes = {node.inputs[i]: v.shape for i, v in enumerate(values[1:5], 1) if v is not None}
    if any(len(shape) != 1 for shape in shapes.values()) or len(set(shapes.values())) > 1:
        return [f"scale, bias, mean and var must be 1-d of one length (the channels), got "
                + ", ".join(f"{name!r} {shape}" for name, shape in shapes.items())]
    return []


def _matrix_consts(index):
    def check(node, values):
        b = values[index] if len(values) > index else None
        if b is not None and b.ndim != 2:
            return [f"input {index} ({node.inputs[index]!r}) has shape {b.shape}; pycnn multiplies by 2-d matrices"]
        return []
    return check


def _pool_geometry(node, x):
    """(kernel, strides, dilations, pads, out_hw) of a MaxPool/AveragePool node on input ``x``, with
    ONNX's output size: floor((in + begin + end - dilated kernel) / stride) + 1, or with ceil_mode the
    ceiling, dropping a last window that would start in the end padding."""
    in_hw = _shape_of(x)[2:]
    kernel = list(node.attr("kernel_shape"))
    strides = list(node.attr("strides", [1, 1]))
    dilations = list(node.attr("dilations", [1, 1]))
    pads = _spatial_pads(node, in_hw, kernel, strides, dilations)
    ceil = bool(node.attr("ceil_mode", 0))
    out_hw = []
    for i, (size, k, s, d) in enumerate(zip(in_hw, kernel, strides, dilations)):
        span = size + pads[i] + pads[i + 2] - ((k - 1) * d + 1)
        if span < 0:
            raise ValueError(f"{node.op} {node.name!r}: kernel_shape {kernel} with dilations {dilations} does not "
                             f"fit the input {tuple(in_hw)} padded by {pads}")
        out = -(-span // s) + 1 if ceil else span // s + 1
        if ceil and (out - 1) * s >= size + pads[i]:
            out -= 1
        out_hw.append(out)
    return kernel, strides, dilations, pads, out_hw


def _torch_pool_out(size, k, s, p, d, ceil):
    span = size + 2 * p - d * (k - 1) - 1
    out = (-(-span // s) if ceil else span // s) + 1
    if ceil and (out - 1) * s >= size + p:
        out -= 1
    return out


def _native_pool_args(node, in_hw, kernel, strides, dilations, pads, out_hw):
    """(padding, ceil_mode) for which pycnn's pooling kernels (symmetric padding of at most half the
    kernel) compute exactly the ONNX windows, or None. The windows start at the same places when the
    padding is the begin pads; the output sizes must agree; and the divisor of each average must be the
    same: count_include_pad=0 counts the input only, 1 counts up to the declared end pads, where the
    kernel counts up to its own (mirrored) padding."""
    padding = tuple(pads[:2])
    if any(2 * p > k for p, k in zip(padding, kernel)):
        return None
    include = node.op == "AveragePool" and bool(node.attr("count_include_pad", 0))
    for ceil in (bool(node.attr("ceil_mode", 0)), not node.attr("ceil_mode", 0)):
        if [_torch_pool_out(*args, ceil) for args in zip(in_hw, kernel, strides, padding, dilations)] != out_hw:
            continue
        if include and any(not np.array_equal(
                _window_counts(in_hw[i], pads[i], pads[i], kernel[i], strides[i], out_hw[i], True),
                _window_counts(in_hw[i], pads[i], pads[i + 2], kernel[i], strides[i], out_hw[i], True))
                for i in range(2)):
            continue
        return padding, ceil
    return None


def _explicit_pool_pads(in_hw, kernel, strides, dilations, pads, out_hw):
    """Pads (ONNX layout, 4-d) that make floor pooling without padding give exactly the ONNX windows:
    the begin pads as declared, at the end as much as the last window reaches (ceil_mode may reach past
    the declared end pads; floor mode may leave trailing elements unused, which needs no padding)."""
    ends = [max((o - 1) * s + (k - 1) * d + 1 - size - begin, 0)
            for size, k, s, d, begin, o in zip(in_hw, kernel, strides, dilations, pads[:2], out_hw)]
    return [0, 0, pads[0], pads[1], 0, 0, ends[0], ends[1]]


def _run_maxpool(node, xs, training):
    x = xs[0]
    kernel, strides, dilations, pads, out_hw = _pool_geometry(node, x)
    native = _native_pool_args(node, _shape_of(x)[2:], kernel, strides, dilations, pads, out_hw)
    if native is None:
        x = _host.pad(x, _explicit_pool_pads(_shape_of(x)[2:], kernel, strides, dilations, pads, out_hw), -INF)
        native = (0, 0), False
    padding, ceil = native
    return (F.max_pool2d(x, tuple(kernel), tuple(strides), padding, tuple(dilations), ceil),)


def _window_counts(size, begin, end, kernel, stride, out, include_pad):
    """How many positions of each 1-d window ONNX averages over: those inside the input, or with
    count_include_pad inside the input plus its declared pads (never the ceil_mode overhang)."""
    low, high = (-begin, size + end) if include_pad else (0, size)
    starts = np.arange(out) * stride - begin
    return (np.minimum(starts + kernel, high) - np.maximum(starts, low)).astype(np.float32)


def _run_avgpool(node, xs, training):
    x = xs[0]
    in_hw = _shape_of(x)[2:]
    kernel, strides, dilations, pads, out_hw = _pool_geometry(node, x)
    include = bool(node.attr("count_include_pad", 0))
    native = _native_pool_args(node, in_hw, kernel, strides, dilations, pads, out_hw)
    if native is not None:
        return (F.avg_pool2d(x, tuple(kernel), tuple(strides), native[0], native[1], include),)
    # Otherwise: whole-window averages over an explicitly zero-padded input, rescaled to each window's
    # own count (a constant: it depends on the geometry only). No divisor_override, so an imported
    # graph still exports as AveragePool and Mul.
    padded = _host.pad(x, _explicit_pool_pads(in_hw, kernel, strides, [1, 1], pads, out_hw), 0.0)
    means = F.avg_pool2d(padded, tuple(kernel), tuple(strides), 0, False, True)
    counts = np.outer(*[_window_counts(in_hw[i], pads[i], pads[i + 2], kernel[i], strides[i], out_hw[i], include)
                        for i in range(2)])
    scale = (kernel[0] * kernel[1] / counts).astype(np.float32)
    return (means * tensor(scale.reshape(1, 1, *out_hw), device=x.device),)


def _run_global_avg(node, xs, training):
    return (F.adaptive_avg_pool2d(xs[0], 1),)


def _run_global_max(node, xs, training):
    h, w = _shape_of(xs[0])[2:]
    return (F.max_pool2d(xs[0], (h, w)),)


# ----- Gemm and MatMul ----------------------------------------------------------------------------
def _gemm_weights(node):
    """B as Linear's (N, K) weight (transposed unless transB), C as a bias vector when it is one."""
    layout = {1: "as_is" if node.attr("transB", 0) else "transposed"}
    if len(node.inputs) > 2 and node.inputs[2]:
        layout[2] = "vector"
    return layout


def _run_gemm(node, xs, training):
    """Y = alpha * A' B' + beta * C; B arrives as (N, K) (see ``_gemm_weights``), C broadcasts to (M, N)."""
    a, w = xs[0], xs[1]
    c = xs[2] if len(xs) > 2 else None
    alpha, beta = node.attr("alpha", 1.0), node.attr("beta", 1.0)
    if a.ndim != 2 or w.ndim != 2:
        raise ValueError(f"Gemm {node.name!r}: expected 2-d A and B, got shapes {_shape_of(a)} and {_shape_of(w)} "
                         "(B as (N, K))")
    if node.attr("transA", 0):
        a = _host.transpose(a, (1, 0))
    n = w.shape[0]
    fused = c is not None and alpha == 1.0 and beta == 1.0 and c.ndim == 1 and c.shape[0] == n and n > 1
    y = F.linear(a, w, c if fused else None)
    if alpha != 1.0:
        y = y * alpha
    if c is not None and not fused and beta != 0.0:
        y = y + (c * beta if beta != 1.0 else c)
    return (y,)


def _run_matmul(node, xs, training):
    """numpy's matmul with B arriving as (N, K): A (..., K) @ B (K, N) is Linear's A @ W.T."""
    a, w = xs
    if w.ndim != 2 or a.ndim < 1:
        raise ValueError(f"MatMul {node.name!r}: pycnn multiplies (..., K) by a 2-d (K, N) matrix, got shapes "
                         f"{_shape_of(a)} and {_shape_of(w)[::-1]}")
    return (F.linear(a, w),)


# ----- activations --------------------------------------------------------------------------------
def _softmax_like(fn):
    def run(node, xs, training):
        x = xs[0]
        rank = x.ndim
        if node.opset >= 13:
            return (fn(x, _axis(node.attr("axis", -1), rank, node)),)
        axis = _axis(node.attr("axis", 1), rank, node)  # opset < 13: coerced to 2-d at axis
        shape = _shape_of(x)
        if axis == rank - 1:
            return (fn(x, axis),)
        flat = F.reshape(x, (int(np.prod(shape[:axis], dtype=np.int64)), -1))
        return (F.reshape(fn(flat, 1), shape),)
    return run


def _run_prelu(node, xs, training):
    """Y = X where X > 0, else slope * X, with slope broadcast to X from the right (numpy rules). A
    slope that varies along axis 1 only is pycnn's per-channel PReLU; any other slope runs as
    relu(X) + slope * (X - relu(X)), exact because X - relu(X) is X or 0 without rounding."""
    x, slope = xs
    shape, rank = _shape_of(slope), x.ndim
    try:
        np.broadcast_shapes(_shape_of(x), shape)
    except ValueError:
        raise ValueError(f"PRelu {node.name!r}: slope of shape {shape} does not broadcast to input "
                         f"{_shape_of(x)}") from None
    if len(shape) > rank or (shape and np.broadcast_shapes(_shape_of(x), shape) != _shape_of(x)):
        raise ValueError(f"PRelu {node.name!r}: slope of shape {shape} would enlarge input {_shape_of(x)}; "
                         "ONNX broadcasts the slope to the input")
    aligned = (1,) * (rank - len(shape)) + shape
    size = int(np.prod(shape, dtype=np.int64))
    if rank >= 2 and aligned[1] == size and x.shape[1] == size:  # per channel (or one slope)
        return (F.prelu(x, F.reshape(slope, (size,))),)
    if size == 1 and rank >= 2:
        return (F.prelu(x, F.reshape(slope, (1,))),)
    positive = F.relu(x)
    return (positive + slope * (x - positive),)


def _clip_bounds(node, xs):
    if node.opset < 11:
        return node.attr("min", -INF), node.attr("max", INF)
    low = float(np.asarray(xs[1]).reshape(-1)[0]) if len(xs) > 1 and xs[1] is not None else None
    high = float(np.asarray(xs[2]).reshape(-1)[0]) if len(xs) > 2 and xs[2] is not None else None
    return low, high


def _run_clip(node, xs, training):
    low, high = _clip_bounds(node, xs)
    low = None if low == -INF else low
    high = None if high == INF else high
    if low is None and high is None:
        return (xs[0],)
    return (F.clip(xs[0], low, high),)


def _host_clip(node, xs):
    low, high = _clip_bounds(node, xs)
    return (np.clip(xs[0], -INF if low is None else low, INF if high is None else high),)


# ----- normalization and dropout ------------------------------------------------------------------
def _bn_check(node, used):
    problems = _extra_outputs_check(1)(node, used)
    if node.opset < 9 and node.attr("spatial", 1) != 1:
        problems.append("spatial=0 (per-activation statistics) is not supported")
    if node.attr("training_mode", 0):
        problems.append("training_mode=1 in the file is not supported; pycnn sets the mode with "
                        "model.train()/eval()")
    return problems


def _run_bn(node, xs, training):
    x, scale, bias, mean, var = xs
    momentum = 1.0 - node.attr("momentum", 0.9)  # ONNX weighs the old statistics, torch the new batch
    use_batch = training and not node.frozen
    return (F.batch_norm(x, mean, var, scale, bias, use_batch, momentum, node.attr("epsilon", 1e-5)),)


def _run_lrn(node, xs, training):
    size = node.attr("size")
    return (F.local_response_norm(xs[0], size, node.attr("alpha", 1e-4), node.attr("beta", 0.75),
                                  node.attr("bias", 1.0), window_before=(size - 1) // 2),)


def _lrn_check(node, used):
    return [] if isinstance(node.attr("size"), int) and node.attr("size") > 0 else \
        [f"size {node.attr('size')!r} is not a positive int"]


def _dropout_ratio(node, xs):
    if node.opset >= 12:
        return float(np.asarray(xs[1]).reshape(-1)[0]) if len(xs) > 1 and xs[1] is not None else 0.5
    return node.attr("ratio", 0.5)


def _run_dropout(node, xs, training):
    if node.opset >= 12 and len(xs) > 2 and xs[2] is not None and bool(np.asarray(xs[2]).reshape(-1)[0]):
        training = True  # the file asks for dropout at inference too
    p = _dropout_ratio(node, xs)
    return (F.dropout(xs[0], p, training),) if training and p > 0 else (xs[0],)


# ----- shape ops (on Tensors and on host numpy values) ---------------------------------------------
def _flatten_shape(node, shape):
    axis = node.attr("axis", 1)
    axis = axis + len(shape) if axis < 0 else axis
    if not 0 <= axis <= len(shape):
        raise ValueError(f"Flatten {node.name!r}: axis {node.attr('axis', 1)} out of range for shape {shape}")
    return (int(np.prod(shape[:axis], dtype=np.int64)), int(np.prod(shape[axis:], dtype=np.int64)))


def _run_flatten(node, xs, training):
    return (_reshape(xs[0], _flatten_shape(node, _shape_of(xs[0]))),)


def _reshape_shape(node, xs):
    return node.attr("shape") if node.opset < 5 else xs[1]


def _run_reshape(node, xs, training):
    target = _reshape_target(_shape_of(xs[0]), _reshape_shape(node, xs), node.attr("allowzero", 0), node)
    return (_reshape(xs[0], target),)


def _unsqueeze_axes(node, xs):
    return _ints(node.attr("axes", []) if node.opset < 13 else xs[1])


def _unsqueezed_shape(node, shape, axes):
    rank = len(shape) + len(axes)
    axes = sorted(_axis(a, rank, node) for a in axes)
    out = list(shape)
    for a in axes:
        out.insert(a, 1)
    return out


def _run_unsqueeze(node, xs, training):
    return (_reshape(xs[0], _unsqueezed_shape(node, _shape_of(xs[0]), _unsqueeze_axes(node, xs))),)


def _squeezed_shape(node, shape, axes):
    if axes is None or len(axes) == 0:
        return [d for d in shape if d != 1]
    axes = {_axis(a, len(shape), node) for a in axes}
    for a in axes:
        if shape[a] != 1:
            raise ValueError(f"Squeeze {node.name!r}: axis {a} of shape {tuple(shape)} is not 1")
    return [d for i, d in enumerate(shape) if i not in axes]


def _squeeze_axes(node, xs):
    if node.opset < 13:
        return node.attr("axes")
    return _ints(xs[1]) if len(xs) > 1 and xs[1] is not None else None


def _run_squeeze(node, xs, training):
    return (_reshape(xs[0], _squeezed_shape(node, _shape_of(xs[0]), _squeeze_axes(node, xs))),)


def _run_concat(node, xs, training):
    axis = _axis(node.attr("axis", 0), xs[0].ndim, node)
    return (F.cat(list(xs), axis),)


def _host_concat(node, xs):
    arrays = [np.asarray(x) for x in xs]
    axis = _axis(node.attr("axis", 0), arrays[0].ndim, node)
    return (np.concatenate(arrays, axis=axis),)


def _run_transpose(node, xs, training):
    perm = node.attr("perm", list(range(xs[0].ndim))[::-1])
    return (_host.transpose(xs[0], perm),)


def _pad_args(node, xs, rank):
    """(pads for every axis in ONNX order, fill value) from the attributes (opset < 11) or inputs."""
    if node.opset < 11:
        pads, value, axes = node.attr("pads", node.attr("paddings")), node.attr("value", 0.0), None
    else:
        pads = _ints(xs[1])
        value = float(np.asarray(xs[2]).reshape(-1)[0]) if len(xs) > 2 and xs[2] is not None and \
            np.asarray(xs[2]).size else 0.0
        axes = _ints(xs[3]) if len(xs) > 3 and xs[3] is not None else None
    pads = _ints(pads)
    if axes is not None:
        full = [0] * (2 * rank)
        axes = [_axis(a, rank, node) for a in axes]
        if len(pads) != 2 * len(axes):
            raise ValueError(f"Pad {node.name!r}: {len(pads)} pads for {len(axes)} axes {axes}; expected "
                             f"{2 * len(axes)}")
        for i, a in enumerate(axes):
            full[a], full[a + rank] = pads[i], pads[i + len(axes)]
        pads = full
    if len(pads) != 2 * rank:
        raise ValueError(f"Pad {node.name!r}: expected {2 * rank} pads (begins then ends) for a rank-{rank} "
                         f"input, got {pads}")
    return pads, value


def _pad_check(node, used):
    mode = node.attr("mode", "constant")
    modes = _host.PAD_MODES if node.opset >= 19 else _host.PAD_MODES[:3]
    return [] if mode in modes else [f"mode {mode!r} is not supported at opset {node.opset} (expected one of "
                                     f"{', '.join(modes)})"]


def _run_pad(node, xs, training):
    pads, value = _pad_args(node, xs, xs[0].ndim)
    return (_host.pad(xs[0], pads, value, node.attr("mode", "constant")),)


def _host_pad(node, xs):
    x = np.asarray(xs[0])
    pads, value = _pad_args(node, xs, x.ndim)
    return (_host.pad_array(x, pads, value, node.attr("mode", "constant")),)


def _reduce_axes(node, xs):
    if node.opset < 18:
        return node.attr("axes")
    return _ints(xs[1]) if len(xs) > 1 and xs[1] is not None and np.asarray(xs[1]).size else None


def _mean_over(x, axes):
    """``x`` averaged over ``axes`` (sorted, distinct), keeping them as size 1: each run of adjacent axes
    is a window of average pooling over ``x`` viewed as (outer, 1, run, inner), so any axes work
    without a transpose."""
    shape = list(_shape_of(x))
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
        x = F.avg_pool2d(F.reshape(x, view), (block, 1), (block, 1))
        shape[begin:end] = [1] * (end - begin)
        x = F.reshape(x, shape)
    return x


def _run_reduce_mean(node, xs, training):
    x = xs[0]
    axes = _reduce_axes(node, xs)
    if axes is None and node.attr("noop_with_empty_axes", 0):
        return (x,)
    axes = sorted({_axis(a, x.ndim, node) for a in (axes if axes is not None else range(x.ndim))})
    if x.ndim == 4 and axes == [2, 3]:
        y = F.adaptive_avg_pool2d(x, 1)
    else:
        y = _mean_over(x, axes)
    if node.attr("keepdims", 1):
        return (y,)
    return (F.reshape(y, [d for i, d in enumerate(_shape_of(y)) if i not in axes]),)


def _host_reduce_mean(node, xs):
    x = np.asarray(xs[0], dtype=np.float32)
    axes = _reduce_axes(node, xs)
    if axes is None and node.attr("noop_with_empty_axes", 0):
        return (x,)
    axes = tuple(_axis(a, x.ndim, node) for a in axes) if axes is not None else None
    return (x.mean(axis=axes, keepdims=bool(node.attr("keepdims", 1))),)


# ----- arithmetic ---------------------------------------------------------------------------------
def _legacy_broadcast(node, a, b):
    """Opset < 7: ``broadcast=1`` aligns b with a starting at ``axis`` (default: the trailing dims)."""
    if node.opset >= 7 or not node.attr("broadcast", 0) or "axis" not in node.attrs:
        return b
    shape_b = _shape_of(b)
    axis = _axis(node.attr("axis"), a.ndim, node)
    trailing = a.ndim - axis - len(shape_b)
    if trailing < 0:
        raise ValueError(f"{node.op} {node.name!r}: cannot broadcast {shape_b} into {_shape_of(a)} at axis {axis}")
    return _reshape(b, list(shape_b) + [1] * trailing)


_NUMPY_BINARY = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply}


def _run_binary(node, xs, training):
    a, b = xs[0], _legacy_broadcast(node, xs[0], xs[1])
    return (F.binary(a, b, node.op.lower()),)


def _host_binary(node, xs):
    a, b = np.asarray(xs[0]), np.asarray(_legacy_broadcast(node, np.asarray(xs[0]), np.asarray(xs[1])))
    if node.op == "Div":
        if a.dtype.kind in "iu" and b.dtype.kind in "iu":
            if np.any(b == 0):
                raise ValueError(f"Div {node.name!r}: integer division by zero")
            return (np.trunc(a / b).astype(a.dtype),)
        return (np.divide(a, b).astype(np.result_type(a, b)),)
    return (_NUMPY_BINARY[node.op](a, b),)


def _run_sum(node, xs, training):
    out = xs[0]
    for x in xs[1:]:
        out = out + x
    return (out,)


def _run_mean(node, xs, training):
    return (_run_sum(node, xs, training)[0] / float(len(xs)),)


def _run_extremum(node, xs, training):
    """Max/Min. Against one-element bounds (ReLU6 as Max(x, 0) -> Min(., 6)) it runs on the device:
    a clip, or, when a bound is a trainable Parameter and gradients are on, b + relu(x - b) for Max
    and b - relu(b - x) for Min (equal to the clip within an ulp, with the bound's gradient: the
    gradient of the positions the bound wins). Otherwise the elementwise extremum on the host."""
    largest = node.op == "Max"
    x, bounds = xs[0], list(xs[1:])
    if bounds and all(b.numel() == 1 and b.ndim <= x.ndim and b.device == x.device for b in bounds):
        if any(b.requires_grad for b in bounds) and is_grad_enabled():
            out = x
            for b in bounds:
                out = b + F.relu(out - b) if largest else b - F.relu(b - out)
            return (out,)
        values = [float(b.numpy().reshape(-1)[0]) for b in bounds]
        if largest:
            return (F.clip(x, max(values), None),)
        return (F.clip(x, None, min(values)),)
    return (_host.extremum(list(xs), largest),)


def _host_extremum(node, xs):
    reduce = np.maximum if node.op == "Max" else np.minimum
    return (reduce.reduce(np.broadcast_arrays(*[np.asarray(x) for x in xs])),)


def _host_mean(node, xs):
    return ((_host_sum(node, xs)[0] / len(xs)).astype(np.result_type(*[np.asarray(x) for x in xs])),)


def _host_sum(node, xs):
    out = np.asarray(xs[0])
    for x in xs[1:]:
        out = out + np.asarray(x)
    return (out,)


def _run_identity(node, xs, training):
    return (xs[0],)


# ----- host-only ops (constants and shapes) -------------------------------------------------------
def _host_constant(node, xs):
    for key in ("value", "value_float", "value_floats", "value_int", "value_ints"):
        if key in node.attrs:
            value = node.attrs[key]
            if key in ("value_float", "value_floats"):
                return (np.asarray(value, dtype=np.float32),)
            if key in ("value_int", "value_ints"):
                return (np.asarray(value, dtype=np.int64),)
            return (value,)
    raise ValueError(f"Constant {node.name!r}: no value attribute")


def _constant_check(node, used):
    keys = [k for k in ("value", "value_float", "value_floats", "value_int", "value_ints") if k in node.attrs]
    return [] if len(keys) == 1 else ["expected exactly one of value, value_float(s), value_int(s)"]


def _host_shape(node, xs):
    shape = np.asarray(_shape_of(xs[0]), dtype=np.int64)
    rank = len(shape)
    start, end = node.attr("start", 0), node.attr("end", rank)
    start = min(max(start + rank if start < 0 else start, 0), rank)
    end = min(max(end + rank if end < 0 else end, 0), rank)
    return (shape[start:end],)


def _host_gather(node, xs):
    data, indices = np.asarray(xs[0]), np.asarray(xs[1]).astype(np.int64)
    axis = _axis(node.attr("axis", 0), data.ndim, node)
    size = data.shape[axis]
    if indices.size and (indices.min() < -size or indices.max() >= size):
        raise ValueError(f"Gather {node.name!r}: indices {indices.tolist()} out of range for size {size}")
    return (np.take(data, np.where(indices < 0, indices + size, indices), axis=axis),)


def _host_constant_of_shape(node, xs):
    shape = _ints(xs[0])
    if min(shape, default=0) < 0 or int(np.prod(shape, dtype=np.float64)) > 1 << 28:
        raise ValueError(f"ConstantOfShape {node.name!r}: shape {shape} is negative or too large")
    value = node.attr("value", np.zeros(1, dtype=np.float32))
    return (np.full(shape, np.asarray(value).reshape(-1)[0], dtype=np.asarray(value).dtype),)


def _host_cast(node, xs):
    to = node.attr("to", 1)
    dtype = {1: np.float32, 10: np.float32, 11: np.float32, 9: np.bool_}.get(to, np.int64)
    return (np.asarray(xs[0]).astype(dtype),)


def _host_cast_like(node, xs):
    """CastLike(value, like): only ``like``'s type matters; a network value is float32."""
    like = xs[1]
    dtype = np.asarray(like).dtype if isinstance(like, np.ndarray) else np.float32
    return (np.asarray(xs[0]).astype(dtype),)


def _host_expand(node, xs):
    x, shape = np.asarray(xs[0]), _ints(xs[1])
    try:
        target = np.broadcast_shapes(x.shape, tuple(shape))
    except ValueError:
        raise ValueError(f"Expand {node.name!r}: shape {shape} does not broadcast with {x.shape}") from None
    if int(np.prod(target, dtype=np.float64)) > 1 << 28:
        raise ValueError(f"Expand {node.name!r}: result {target} is too large")
    return (np.array(np.broadcast_to(x, target)),)


def _host_unary(fn):
    return lambda node, xs: (fn(np.asarray(xs[0])),)


def _host_via_run(node, xs):
    """Shape ops on host values reuse their Tensor implementation's numpy branch."""
    return OPS[node.op].run(node, [np.asarray(x) if x is not None else None for x in xs], False)


def _host_transpose(node, xs):
    x = np.asarray(xs[0])
    return (np.transpose(x, node.attr("perm", list(range(x.ndim))[::-1])),)


_POOL_ATTRS = ("auto_pad", "kernel_shape", "pads", "strides", "ceil_mode", "dilations")
_OLD_BINARY = ("broadcast", "axis", "consumed_inputs")

def _run_hard_sigmoid(node, xs, training):
    """max(0, min(1, alpha * x + beta)) on the device (hardtanh: the gradient alpha strictly inside)."""
    x = xs[0]
    alpha, beta = float(node.attr("alpha", 0.2)), float(node.attr("beta", 0.5))
    scaled = F.binary(F.binary(x, tensor(np.float32(alpha), device=x.device), "mul"),
                      tensor(np.float32(beta), device=x.device), "add")
    return (F.hardtanh(scaled, 0.0, 1.0),)


def _gelu_check(node, outputs_used):
    mode = node.attr("approximate", "none")
    return [] if mode in ("none", "tanh") else [f"approximate {mode!r} is not supported (expected 'none' or 'tanh')"]


_ANY = (1, None)
_FLOAT_VALUE = {"value": "float"}


def _inputs_from(opset, before, since):
    return lambda node: since if node.opset >= opset else before


OPS = {
    "Conv": Op(_run_conv, check=_conv_check, weights=lambda n: {1: "as_is", 2: "as_is"}, inputs=(2, 3),
               consts=_conv_consts, attrs=("auto_pad", "dilations", "group", "kernel_shape", "pads", "strides")),
    "MaxPool": Op(_run_maxpool, check=_pool_check, outputs=2, attrs=_POOL_ATTRS + ("storage_order",)),
    "AveragePool": Op(_run_avgpool, check=_pool_check, attrs=_POOL_ATTRS + ("count_include_pad",)),
    "GlobalAveragePool": Op(_run_global_avg),
    "GlobalMaxPool": Op(_run_global_max),
    "Gemm": Op(_run_gemm, weights=_gemm_weights, inputs=(2, 3), consts=_matrix_consts(1),
               attrs=("alpha", "beta", "transA", "transB", "broadcast")),
    "MatMul": Op(_run_matmul, weights=lambda n: {1: "transposed"}, inputs=(2, 2), consts=_matrix_consts(1)),
    "Relu": Op(lambda n, xs, t: (F.relu(xs[0]),), _host_unary(lambda x: np.maximum(x, 0)),
               attrs=("consumed_inputs",)),
    "LeakyRelu": Op(lambda n, xs, t: (F.leaky_relu(xs[0], n.attr("alpha", 0.01)),), attrs=("alpha", "consumed_inputs")),
    "Elu": Op(lambda n, xs, t: (F.elu(xs[0], n.attr("alpha", 1.0)),), attrs=("alpha", "consumed_inputs")),
    # ONNX Softplus has no threshold; torch's 20 changes nothing in float32 (log1p(e^-x) < half an ulp of x).
    "Softplus": Op(lambda n, xs, t: (F.softplus(xs[0]),)),
    "Gelu": Op(lambda n, xs, t: (F.gelu(xs[0], approximate=n.attr("approximate", "none")),), check=_gelu_check,
               attrs=("approximate",), attr_kinds={"approximate": "str"}),
    "HardSigmoid": Op(_run_hard_sigmoid, attrs=("alpha", "beta", "consumed_inputs")),
    "HardSwish": Op(lambda n, xs, t: (F.hardswish(xs[0]),)),
    "PRelu": Op(_run_prelu, inputs=(2, 2), attrs=("consumed_inputs",)),
    "Sigmoid": Op(lambda n, xs, t: (F.sigmoid(xs[0]),), attrs=("consumed_inputs",)),
    "Tanh": Op(lambda n, xs, t: (F.tanh(xs[0]),), attrs=("consumed_inputs",)),
    "Softmax": Op(_softmax_like(F.softmax), attrs=("axis",)),
    "LogSoftmax": Op(_softmax_like(F.log_softmax), attrs=("axis",)),
    "BatchNormalization": Op(_run_bn, check=_bn_check, weights=lambda n: {1: "as_is", 2: "as_is"}, buffers=(3, 4),
                             inputs=(5, 5), outputs=5, consts=_bn_consts,
                             attrs=("epsilon", "momentum", "spatial", "is_test", "consumed_inputs", "training_mode")),
    "LRN": Op(_run_lrn, check=_lrn_check, attrs=("alpha", "beta", "bias", "size")),
    "Dropout": Op(_run_dropout, check=_extra_outputs_check(1), static=(1, 2), inputs=(1, 3), outputs=2,
                  attrs=("ratio", "is_test", "seed")),
    "Flatten": Op(_run_flatten, _host_via_run, attrs=("axis",)),
    "Reshape": Op(_run_reshape, _host_via_run, static=(1,), inputs=(2, 2), attrs=("allowzero", "shape")),
    "Concat": Op(_run_concat, _host_concat, inputs=_ANY, attrs=("axis",)),
    "Add": Op(_run_binary, _host_binary, inputs=(2, 2), attrs=_OLD_BINARY),
    "Sub": Op(_run_binary, _host_binary, inputs=(2, 2), attrs=_OLD_BINARY),
    "Mul": Op(_run_binary, _host_binary, inputs=(2, 2), attrs=_OLD_BINARY),
    "Div": Op(_run_binary, _host_binary, inputs=(2, 2), attrs=_OLD_BINARY),
    "Sum": Op(_run_sum, _host_sum, inputs=_ANY, attrs=("consumed_inputs",)),
    "Mean": Op(_run_mean, _host_mean, inputs=_ANY, attrs=("consumed_inputs",)),
    "Max": Op(_run_extremum, _host_extremum, inputs=_ANY, attrs=("consumed_inputs",)),
    "Min": Op(_run_extremum, _host_extremum, inputs=_ANY, attrs=("consumed_inputs",)),
    "Clip": Op(_run_clip, _host_clip, static=(1, 2), inputs=_inputs_from(11, (1, 1), (1, 3)), attrs=("min", "max")),
    "Pad": Op(_run_pad, _host_pad, check=_pad_check, static=(1, 2, 3), inputs=_inputs_from(11, (1, 1), (2, 4)),
              attrs=("mode", "pads", "value", "paddings"), attr_kinds=_FLOAT_VALUE),
    "Identity": Op(_run_identity, lambda n, xs: (np.asarray(xs[0]),)),
    "Constant": Op(None, _host_constant, check=_constant_check, inputs=(0, 0),
                   attrs=("value", "value_float", "value_floats", "value_int", "value_ints")),
    "ConstantOfShape": Op(None, _host_constant_of_shape, attrs=("value",)),
    "Shape": Op(None, _host_shape, attrs=("start", "end")),
    "Gather": Op(None, _host_gather, inputs=(2, 2), attrs=("axis",)),
    "Unsqueeze": Op(_run_unsqueeze, _host_via_run, static=(1,), inputs=_inputs_from(13, (1, 1), (2, 2)),
                    attrs=("axes",)),
    "Squeeze": Op(_run_squeeze, _host_via_run, static=(1,), inputs=_inputs_from(13, (1, 1), (1, 2)), attrs=("axes",)),
    "Transpose": Op(_run_transpose, _host_transpose, attrs=("perm",)),
    "ReduceMean": Op(_run_reduce_mean, _host_reduce_mean, static=(1,), inputs=_inputs_from(18, (1, 1), (1, 2)),
                     attrs=("axes", "keepdims", "noop_with_empty_axes")),
    "Cast": Op(None, _host_cast, attrs=("to", "saturate")),
    "CastLike": Op(None, _host_cast_like, inputs=(2, 2), attrs=("saturate",)),
    "Expand": Op(None, _host_expand, inputs=(2, 2)),
}

# Ops whose pycnn kernels exist for CPU and CUDA vs ops computed with numpy on the host.
HOST_TENSOR_OPS = {"Transpose", "Pad", "Max", "Min"}
