"""ONNX Conv <-> pycnn conv2d (1-d and 2-d convolution, any group count, dilation and padding;
asymmetric pads are applied explicitly before a symmetric convolution)."""
from ... import tensor_ops
from ...nn import functional as F
from ...nn.functional.conv import Conv2dFunction
from .common import shape_of
from .registry import exporter, importer
from .window import as_2d, back_to_1d, spatial_pads, symmetric_padding, window_problems


def _conv_problems(node, used):
    return window_problems(node, "convolves")


def _conv_constant_problems(node, values):
    """The weight (M, C/group, kH, kW) against kernel_shape and group, the bias (M,)."""
    w = values[1]
    if w is None:
        return []
    if w.ndim not in (3, 4):
        return [f"weight {node.inputs[1]!r} has shape {w.shape}; pycnn convolves 1-d and 2-d: expected "
                "(M, C/group, kL) or (M, C/group, kH, kW)"]
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
          inputs=(2, 3), ranks={0: (3, 4)}, attrs=("auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"))
def import_conv(node, inputs, training):
    """2-d, or 1-d over (N, C, L) as 2-d over (N, C, 1, L) with the weight viewed as (M, C/group, 1, kL)."""
    x, w, b = inputs[0], inputs[1], (inputs[2] if len(inputs) > 2 else None)
    if x.ndim != w.ndim:
        raise ValueError(f"Conv {node.name!r}: input of shape {shape_of(x)} and weight of shape {shape_of(w)} "
                         "have different ranks")
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


@exporter(Conv2dFunction)
def export_conv2d(trace, out, x, w, b, stride, padding, dilation, groups):
    inputs = [trace.name_of(x), trace.name_of(w)] + ([trace.name_of(b)] if b is not None else [])
    trace.node("Conv", inputs, out, kernel_shape=list(w.shape[2:]), strides=list(stride),
               pads=[padding[0], padding[1], padding[0], padding[1]], dilations=list(dilation), group=groups)
