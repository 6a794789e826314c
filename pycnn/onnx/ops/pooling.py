"""ONNX MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool <-> pycnn max_pool2d, avg_pool2d,
adaptive_avg_pool2d (1-d pools over (N, C, L) run as 2-d ones over (N, C, 1, L), 3-d ones as a 2-d
pool over the depth then one over the plane, window.pool_3d).

ONNX declares begin and end pads separately, pycnn's pooling kernels pad symmetrically by at most
half the kernel, and the two disagree on ceil_mode's last window in places. The importer runs the
kernel directly when it computes exactly the ONNX windows and divisors, and otherwise pads explicitly
first; the exporter writes end pads that give torch's output size under ONNX's rule. Both take
output sizes from ``_C.pool_output_size``, the rule the C++ kernels use (cpp/include/pycnn/ops/pool2d.h):
floor, or with ceil_mode the ceiling, of (size + begin + end - dilation * (kernel - 1) - 1) / stride,
plus one; with ceil_mode a last window starting in the end padding is dropped.
"""
import numpy as np

from ... import _C
from ...nn import functional as F
from ...nn.functional.pooling import (AdaptiveAvgPool2dFunction, AdaptiveMaxPool2dFunction, AvgPool2dFunction,
                                      MaxPool2dFunction)
from ...tensor import tensor
from ..errors import OnnxExportError
from .common import INF, shape_of
from .pad import pad
from .registry import exporter, importer
from .window import as_2d, back_to_1d, pool_3d, spatial_pads, window_problems

POOL_ATTRIBUTES = ("auto_pad", "kernel_shape", "pads", "strides", "ceil_mode", "dilations")


def end_padding_to_fit(size, kernel, pad_begin, stride, dilation, count):
    """The end padding that makes the last of ``count`` windows end exactly at the padded edge (negative
    when it ends inside the input)."""
    return (count - 1) * stride + dilation * (kernel - 1) + 1 - size - pad_begin


# ----- import -------------------------------------------------------------------------------------
def _pool_problems(node, used):
    problems = []
    if node.attr("kernel_shape") is None:
        problems.append("kernel_shape is required")
    problems += window_problems(node, "pools")
    if node.op == "MaxPool" and node.attr("storage_order", 0) != 0:
        problems.append("storage_order=1 (column-major indices) is not supported")
    if node.op == "MaxPool" and len(node.outputs) > 1 and used[1]:
        problems.append("the Indices output is used; pycnn returns only the pooled values")
    return problems


def _pool_geometry(node, x):
    """(kernel, strides, dilations, pads, out_hw) of a MaxPool/AveragePool node on input ``x``."""
    in_hw = shape_of(x)[2:]
    kernel = list(node.attr("kernel_shape"))
    strides = list(node.attr("strides", [1, 1]))
    dilations = list(node.attr("dilations", [1, 1]))
    pads = spatial_pads(node, in_hw, kernel, strides, dilations)
    ceil = bool(node.attr("ceil_mode", 0))
    out_hw = []
    for i, (size, k, s, d) in enumerate(zip(in_hw, kernel, strides, dilations)):
        if size + pads[i] + pads[i + 2] < (k - 1) * d + 1:
            raise ValueError(f"{node.op} {node.name!r}: kernel_shape {kernel} with dilations {dilations} does not "
                             f"fit the input {tuple(in_hw)} padded by {pads}")
        out_hw.append(_C.pool_output_size(size, k, pads[i], pads[i + 2], s, d, ceil))
    return kernel, strides, dilations, pads, out_hw


def _window_counts(size, begin, end, kernel, stride, out, include_pad, dilation=1):
    """How many positions of each 1-d window ONNX averages over: those inside the input, or with
    count_include_pad inside the input plus its declared pads (never the ceil_mode overhang)."""
    low, high = (-begin, size + end) if include_pad else (0, size)
    positions = (np.arange(out) * stride - begin)[:, None] + np.arange(kernel)[None, :] * dilation
    return ((positions >= low) & (positions < high)).sum(axis=1).astype(np.float32)


def _symmetric_output_size(size, kernel, pad, stride, dilation, ceil_mode):
    """The output size of pycnn's kernels padding ``pad`` on both sides, or 0 where no window fits."""
    try:
        return _C.pool_output_size(size, kernel, pad, pad, stride, dilation, ceil_mode)
    except ValueError:
        return 0


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
        if [_symmetric_output_size(size, k, p, s, d, ceil)
                for size, k, p, s, d in zip(in_hw, kernel, padding, strides, dilations)] != out_hw:
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
    ends = [max(end_padding_to_fit(size, k, begin, s, d, o), 0)
            for size, k, s, d, begin, o in zip(in_hw, kernel, strides, dilations, pads[:2], out_hw)]
    return [0, 0, pads[0], pads[1], 0, 0, ends[0], ends[1]]


@importer("MaxPool", ranks={0: (3, 5)}, check=_pool_problems, outputs=2, attrs=POOL_ATTRIBUTES + ("storage_order",))
def import_max_pool(node, inputs, training):
    if inputs[0].ndim == 5:
        return (pool_3d(node, inputs[0], _max_pool),)
    node, x = as_2d(node, inputs[0])
    return (back_to_1d(_max_pool(node, x), inputs[0].ndim == 3),)


def _max_pool(node, x):
    kernel, strides, dilations, pads, out_hw = _pool_geometry(node, x)
    native = _native_pool_args(node, shape_of(x)[2:], kernel, strides, dilations, pads, out_hw)
    if native is None:
        x = pad(x, _explicit_pool_pads(shape_of(x)[2:], kernel, strides, dilations, pads, out_hw), -INF)
        native = (0, 0), False
    padding, ceil = native
    return F.max_pool2d(x, tuple(kernel), tuple(strides), padding, tuple(dilations), ceil)


@importer("AveragePool", ranks={0: (3, 5)}, check=_pool_problems, attrs=POOL_ATTRIBUTES + ("count_include_pad",))
def import_average_pool(node, inputs, training):
    if inputs[0].ndim == 5:
        return (pool_3d(node, inputs[0], _average_pool),)
    node, x = as_2d(node, inputs[0])
    return (back_to_1d(_average_pool(node, x), inputs[0].ndim == 3),)


def _average_pool(node, x):
    in_hw = shape_of(x)[2:]
    kernel, strides, dilations, pads, out_hw = _pool_geometry(node, x)
    include = bool(node.attr("count_include_pad", 0))
    if dilations != [1, 1]:  # window sums as a depthwise convolution with ones, divided by each count
        padded = pad(x, _explicit_pool_pads(in_hw, kernel, strides, dilations, pads, out_hw), 0.0)
        c = shape_of(x)[1]
        ones = tensor(np.ones((c, 1, *kernel), np.float32), device=x.device)
        sums = F.conv2d(padded, ones, None, tuple(strides), 0, tuple(dilations), c)
        counts = np.outer(*[_window_counts(in_hw[i], pads[i], pads[i + 2], kernel[i], strides[i], out_hw[i], include,
                                           dilations[i]) for i in range(2)])
        return sums * tensor((1.0 / counts).astype(np.float32).reshape(1, 1, *out_hw), device=x.device)
    native = _native_pool_args(node, in_hw, kernel, strides, dilations, pads, out_hw)
    if native is not None:
        return F.avg_pool2d(x, tuple(kernel), tuple(strides), native[0], native[1], include)
    # Otherwise: whole-window averages over an explicitly zero-padded input, rescaled to each window's
    # own count (a constant: it depends on the geometry only). No divisor_override, so an imported
    # graph still exports as AveragePool and Mul.
    padded = pad(x, _explicit_pool_pads(in_hw, kernel, strides, [1, 1], pads, out_hw), 0.0)
    means = F.avg_pool2d(padded, tuple(kernel), tuple(strides), 0, False, True)
    counts = np.outer(*[_window_counts(in_hw[i], pads[i], pads[i + 2], kernel[i], strides[i], out_hw[i], include)
                        for i in range(2)])
    scale = (kernel[0] * kernel[1] / counts).astype(np.float32)
    return means * tensor(scale.reshape(1, 1, *out_hw), device=x.device)


@importer("GlobalAveragePool", ranks={0: (3, 4)})
def import_global_average_pool(node, inputs, training):
    _, x = as_2d(node, inputs[0])
    return (back_to_1d(F.adaptive_avg_pool2d(x, 1), inputs[0].ndim == 3),)


@importer("GlobalMaxPool", ranks={0: (3, 4)})
def import_global_max_pool(node, inputs, training):
    _, x = as_2d(node, inputs[0])
    h, w = shape_of(x)[2:]
    return (back_to_1d(F.max_pool2d(x, (h, w)), inputs[0].ndim == 3),)


# ----- export -------------------------------------------------------------------------------------
def _onnx_pads(x, kernel, stride, padding, dilation, ceil_mode):
    """(ONNX pads, whether the end pads grew) reproducing torch's output size without ceil_mode: extra
    end padding covers the windows ceil_mode adds (onnxruntime and torch disagree on ceil_mode's last
    window)."""
    pads_end = list(padding)
    for i in range(2):
        size = x.shape[2 + i]
        count = _C.pool_output_size(size, kernel[i], padding[i], padding[i], stride[i], dilation[i], ceil_mode)
        # the least end padding that fits `count` windows; below the kernel because torch's last
        # window starts inside the input or the begin padding
        pads_end[i] = max(padding[i], end_padding_to_fit(size, kernel[i], padding[i], stride[i], dilation[i], count))
    return list(padding) + pads_end, pads_end != list(padding)


@exporter(MaxPool2dFunction)
def export_max_pool2d(trace, out, x, kernel, stride, padding, dilation, ceil_mode, indices_out=None):
    pads, _ = _onnx_pads(x, kernel, stride, padding, dilation, ceil_mode)
    trace.node("MaxPool", [trace.name_of(x)], out, kernel_shape=list(kernel), strides=list(stride), pads=pads,
               dilations=list(dilation))


@exporter(AvgPool2dFunction)
def export_avg_pool2d(trace, out, x, kernel, stride, padding, ceil_mode, count_include_pad, divisor):
    if divisor is not None:
        raise OnnxExportError("avg_pool2d with divisor_override has no ONNX equivalent")
    pads, overhang = _onnx_pads(x, kernel, stride, padding, (1, 1), ceil_mode)
    if overhang and count_include_pad and any(padding):
        raise OnnxExportError("avg_pool2d with ceil_mode, padding and count_include_pad=True divides the "
                              "last windows by a count ONNX cannot express")
    include = count_include_pad and not overhang
    trace.node("AveragePool", [trace.name_of(x)], out, kernel_shape=list(kernel), strides=list(stride),
               pads=pads, count_include_pad=int(include))


def _export_adaptive(trace, out, x, output_size, op, whole, window):
    """An adaptive pool as ``whole`` (GlobalMaxPool, GlobalAveragePool) to 1x1, or as ``window``
    (MaxPool, AveragePool) where the windows tile the input; overlapping windows have no ONNX form."""
    h, w = x.shape[2:]
    oh, ow = output_size
    if (oh, ow) == (1, 1):
        trace.node(whole, [trace.name_of(x)], out)
    elif h % oh == 0 and w % ow == 0:
        trace.node(window, [trace.name_of(x)], out, kernel_shape=[h // oh, w // ow], strides=[h // oh, w // ow])
    else:
        raise OnnxExportError(f"{op} from {h}x{w} to {oh}x{ow} has overlapping windows, which ONNX cannot express")


@exporter(AdaptiveMaxPool2dFunction)
def export_adaptive_max_pool2d(trace, out, x, output_size, indices_out=None):
    _export_adaptive(trace, out, x, output_size, "adaptive_max_pool2d", "GlobalMaxPool", "MaxPool")


@exporter(AdaptiveAvgPool2dFunction)
def export_adaptive_avg_pool2d(trace, out, x, output_size):
    _export_adaptive(trace, out, x, output_size, "adaptive_avg_pool2d", "GlobalAveragePool", "AveragePool")
