"""ONNX Conv <-> pycnn conv2d (1-d, 2-d and 3-d convolution, any group count, dilation and padding;
asymmetric pads are applied explicitly before a symmetric convolution; a 3-d one is a sum of 2-d ones
over the kernel's depth, :func:`_conv3d`), ConvTranspose <-> pycnn conv_transpose2d (1-d, 2-d and 3-d,
the 3-d one a sum of 2-d ones placed along the depth, :func:`_conv_transpose3d`; pads, output_padding,
output_shape, auto_pad)."""
from ... import tensor_ops
from ...nn import functional as F
from ...nn.functional.conv import Conv2dFunction
from ...nn.functional.conv_transpose import (
    ConvTranspose2dFunction,
    conv_transpose_output_size,
    conv_transpose_window,
)
from ..errors import OnnxExportError
from .common import shape_of
from .pad import pad
from .registry import exporter, importer
from .window import as_2d, back_to_1d, spatial_pads, symmetric_padding, window_problems


def _conv_problems(node, used):
    return window_problems(node, "convolves")


def _conv_constant_problems(node, values):
    """The weight (M, C/group, kH, kW) against kernel_shape and group, the bias (M,)."""
    w = values[1]
    if w is None:
        return []
    if w.ndim not in (3, 4, 5):
        return [f"weight {node.inputs[1]!r} has shape {w.shape}; pycnn convolves 1-d, 2-d and 3-d: expected "
                "(M, C/group, kL), (M, C/group, kH, kW) or (M, C/group, kD, kH, kW)"]
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


@importer("Conv", check=_conv_problems, check_constants=_conv_constant_problems, weights={1: "as_is", 2: "as_is"},
          inputs=(2, 3), ranks={0: (3, 5)}, attrs=("auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"))
def import_conv(node, inputs, training):
    """2-d; 1-d over (N, C, L) as 2-d over (N, C, 1, L) with the weight viewed as (M, C/group, 1, kL);
    3-d over (N, C, D, H, W) as :func:`_conv3d`."""
    x, w, b = inputs[0], inputs[1], (inputs[2] if len(inputs) > 2 else None)
    if x.ndim != w.ndim:
        raise ValueError(f"Conv {node.name!r}: input of shape {shape_of(x)} and weight of shape {shape_of(w)} "
                         "have different ranks")
    if x.ndim == 5:
        return (_conv3d(node, x, w, b),)
    node, x = as_2d(node, x)
    if w.ndim == 3:
        w = tensor_ops.reshape(w, (w.shape[0], w.shape[1], 1, w.shape[2]))
        return (back_to_1d(_conv2d(node, x, w, b), True),)
    return (_conv2d(node, x, w, b),)


def _conv2d(node, x, w, b):
    kernel = list(shape_of(w)[2:])
    strides = list(node.attr("strides", [1, 1]))
    dilations = list(node.attr("dilations", [1, 1]))
    pads = spatial_pads(node, shape_of(x)[2:], kernel, strides, dilations)
    x, padding = symmetric_padding(x, pads, 0.0)
    return F.conv2d(x, w, b, tuple(strides), padding, tuple(dilations), node.attr("group", 1))


def _conv3d(node, x, w, b):
    """A 3-d convolution as kD 2-d ones: for each depth tap kd of the kernel, the input's depth slices
    that tap reads (every stride-th from kd * dilation, after the depth padding), the output depths
    stacked into the batch, convolved over (H, W) with w[:, :, kd] and summed; then the bias. The
    backward is the 2-d kernels', the slicing's and the two permutes' (differentiable, on the host)."""
    n, c, depth = shape_of(x)[:3]
    kernel = list(shape_of(w)[2:])
    strides = list(node.attr("strides", [1, 1, 1]))
    dilations = list(node.attr("dilations", [1, 1, 1]))
    pads = spatial_pads(node, shape_of(x)[2:], kernel, strides, dilations)
    front, back = pads[0], pads[3]
    d_out = (depth + front + back - dilations[0] * (kernel[0] - 1) - 1) // strides[0] + 1
    if d_out < 1:
        raise ValueError(f"Conv {node.name!r}: the kernel {kernel} with dilations {dilations} does not fit the input "
                         f"of shape {shape_of(x)} padded by {pads}")
    if front or back:
        x = pad(x, [0, 0, front, 0, 0, 0, 0, back, 0, 0], 0.0)
    x = tensor_ops.permute(x, (0, 2, 1, 3, 4))  # (N, D, C, H, W), once: each tap's depths join the batch
    plane = node.copy()
    plane.attrs.update(strides=strides[1:], dilations=dilations[1:], pads=[pads[1], pads[2], pads[4], pads[5]])
    plane.attrs.pop("auto_pad", None)
    y = None
    for kd in range(kernel[0]):
        begin = kd * dilations[0]
        taps = tensor_ops.index(x, (slice(None), slice(begin, begin + strides[0] * (d_out - 1) + 1, strides[0])))
        taps = tensor_ops.reshape(taps, (n * d_out, c) + tuple(shape_of(taps)[3:]))  # (N * D_out, C, H, W)
        part = _conv2d(plane, taps, tensor_ops.index(w, (slice(None), slice(None), kd)), None)
        y = part if y is None else y + part
    m, h_out, w_out = shape_of(y)[1:]
    y = tensor_ops.permute(tensor_ops.reshape(y, (n, d_out, m, h_out, w_out)), (0, 2, 1, 3, 4))
    return y if b is None else y + tensor_ops.reshape(b, (1, m, 1, 1, 1))


@exporter(Conv2dFunction)
def export_conv2d(trace, out, x, w, b, stride, padding, dilation, groups):
    inputs = [trace.name_of(x), trace.name_of(w)] + ([trace.name_of(b)] if b is not None else [])
    trace.node("Conv", inputs, out, kernel_shape=list(w.shape[2:]), strides=list(stride),
               pads=[padding[0], padding[1], padding[0], padding[1]], dilations=list(dilation), group=groups)


def _conv_transpose_problems(node, used):
    problems = window_problems(node, "transposes convolutions of")
    for key in ("output_padding", "output_shape"):
        value = node.attr(key)
        kernel = node.attr("kernel_shape")
        if value is not None and (min(value, default=0) < 0 or (kernel is not None and len(value) != len(kernel))):
            problems.append(f"{key} {value} must be non-negative, one per spatial axis")
    return problems


def _conv_transpose_geometry(node, in_hw, kernel, strides, dilations):
    """(begin, output size) per spatial axis of ONNX ConvTranspose: from ``output_shape`` (the total
    padding split as ONNX says: the odd one at the end for SAME_UPPER, at the begin otherwise), from
    auto_pad SAME_* (output = input * stride), else from ``pads`` and ``output_padding``."""
    output_padding = list(node.attr("output_padding", [0] * len(in_hw)))
    auto = node.attr("auto_pad", "NOTSET")
    out_shape = node.attr("output_shape")
    if out_shape is None and auto in ("SAME_UPPER", "SAME_LOWER"):
        out_shape = [size * s for size, s in zip(in_hw, strides)]
    if out_shape is not None:
        out_shape = list(out_shape)[-len(in_hw):]
        begins = []
        for size, k, s, d, op, out in zip(in_hw, kernel, strides, dilations, output_padding, out_shape):
            total = s * (size - 1) + op + (k - 1) * d + 1 - out
            begins.append(total // 2 if auto == "SAME_UPPER" else total - total // 2)
        return begins, out_shape
    pads = list(node.attr("pads", [0] * 2 * len(in_hw))) if auto != "VALID" else [0] * 2 * len(in_hw)
    rank = len(in_hw)
    out = [conv_transpose_output_size(size, k, s, d, pads[i], pads[i + rank], op)
           for i, (size, k, s, d, op) in enumerate(zip(in_hw, kernel, strides, dilations, output_padding))]
    return pads[:rank], out


@importer("ConvTranspose", check=_conv_transpose_problems, weights={1: "as_is", 2: "as_is"}, inputs=(2, 3),
          ranks={0: (3, 5)}, attrs=("auto_pad", "dilations", "group", "kernel_shape", "output_padding", "output_shape",
                                    "pads", "strides"))
def import_conv_transpose(node, inputs, training):
    """2-d, 1-d over (N, C, L) as 2-d over (N, C, 1, L), 3-d over (N, C, D, H, W) as
    :func:`_conv_transpose3d`; weight (C_in, C_out/group, k...)."""
    x, w, b = inputs[0], inputs[1], (inputs[2] if len(inputs) > 2 else None)
    if x.ndim != w.ndim:
        raise ValueError(f"ConvTranspose {node.name!r}: input of shape {shape_of(x)} and weight of shape "
                         f"{shape_of(w)} have different ranks")
    one_d = x.ndim == 3
    kernel = list(shape_of(w)[2:])
    strides = list(node.attr("strides", [1] * len(kernel)))
    dilations = list(node.attr("dilations", [1] * len(kernel)))
    begin, out_hw = _conv_transpose_geometry(node, shape_of(x)[2:], kernel, strides, dilations)
    if x.ndim == 5:
        return (_conv_transpose3d(node, x, w, b, strides, dilations, begin, out_hw),)
    if one_d:
        _, x = as_2d(node, x)
        w = tensor_ops.reshape(w, (w.shape[0], w.shape[1], 1, w.shape[2]))
        strides, dilations, begin, out_hw = [1] + strides, [1] + dilations, [0] + list(begin), [1] + list(out_hw)
    y = conv_transpose_window(x, w, b, strides, dilations, node.attr("group", 1), begin, out_hw)
    return (back_to_1d(y, one_d),)


def _conv_transpose3d(node, x, w, b, strides, dilations, begin, out_dhw):
    """A 3-d transposed convolution as kD 2-d ones: input depth i and kernel tap kd write output depth
    i * stride + kd * dilation - begin. For each tap, every input depth slice (the depths joined into the
    batch) goes through conv_transpose2d with w[:, :, kd] over (H, W); the results are spread along the
    depth (stride - 1 zeros between them), cut to the output window and summed; then the bias. The
    backward is the 2-d kernels', the slicing's, the pads' and the permutes'."""
    n, c, depth = shape_of(x)[:3]
    groups = node.attr("group", 1)
    c_out = shape_of(w)[1] * groups
    if shape_of(w)[0] != c or c % groups:
        raise ValueError(f"ConvTranspose {node.name!r}: input of shape {shape_of(x)} and weight of shape {shape_of(w)} "
                         f"with group {groups}: expected weight (C_in, C_out/group, kD, kH, kW) with C_in divisible "
                         "by group")
    if b is not None and tuple(shape_of(b)) != (c_out,):
        raise ValueError(f"ConvTranspose {node.name!r}: bias of shape {shape_of(b)}, expected ({c_out},)")
    if min(out_dhw) < 1:
        raise ValueError(f"ConvTranspose {node.name!r}: the output would be {tuple(out_dhw)}, not positive")
    stride, dilation, out_depth = strides[0], dilations[0], out_dhw[0]
    planes = tensor_ops.reshape(tensor_ops.permute(x, (0, 2, 1, 3, 4)), (n * depth, c) + tuple(shape_of(x)[3:]))
    y = None
    for kd in range(shape_of(w)[2]):
        part = conv_transpose_window(planes, tensor_ops.index(w, (slice(None), slice(None), kd)), None, strides[1:],
                                     dilations[1:], groups, begin[1:], out_dhw[1:])
        m, h_out, w_out = shape_of(part)[1:]
        part = tensor_ops.reshape(part, (n, depth, 1, m, h_out, w_out))
        if stride > 1:  # stride - 1 zero slices after each: depth i lands at i * stride
            part = pad(part, [0, 0, 0, 0, 0, 0, 0, 0, stride - 1, 0, 0, 0])
        part = tensor_ops.reshape(part, (n, depth * stride, m, h_out, w_out))
        offset = kd * dilation - begin[0]  # where the part's first depth lands in the output window
        first, last = max(0, -offset), min(depth * stride, out_depth - offset)  # the part's depths inside it
        if last <= first:  # the tap writes nothing inside the window: an empty part padded to it
            first = last = 0
            offset = out_depth
        part = tensor_ops.index(part, (slice(None), slice(first, last)))
        before = offset + first
        part = pad(part, [0, before, 0, 0, 0, 0, out_depth - before - (last - first), 0, 0, 0])
        y = part if y is None else y + part
    y = tensor_ops.permute(y, (0, 2, 1, 3, 4))
    return y if b is None else y + tensor_ops.reshape(b, (1, shape_of(b)[0], 1, 1, 1))


@exporter(ConvTranspose2dFunction)
def export_conv_transpose2d(trace, out, x, w, stride, dilation, groups, begin, out_hw):
    """pads = the window's begin and what it leaves at the end; a window past the full result is
    output_padding."""
    full = [(size - 1) * s + d * (k - 1) + 1 for size, s, d, k in zip(x.shape[2:], stride, dilation, w.shape[2:])]
    ends = [f - b - o for f, b, o in zip(full, begin, out_hw)]
    if min(begin) < 0:
        raise OnnxExportError(f"conv_transpose2d with a window starting before the result ({begin}) has no ONNX "
                              "pads")
    trace.node("ConvTranspose", [trace.name_of(x), trace.name_of(w)], out, kernel_shape=list(w.shape[2:]),
               strides=list(stride), dilations=list(dilation), group=int(groups),
               pads=list(begin) + [max(e, 0) for e in ends], output_padding=[max(-e, 0) for e in ends])
