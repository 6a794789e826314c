"""ONNX activations <-> pycnn's: Relu, LeakyRelu, Elu, Softplus, Gelu, HardSigmoid, HardSwish, PRelu,
Sigmoid, Tanh, Softmax, LogSoftmax, Clip; SiLU, Hardtanh and relu6 export through them."""
import numpy as np

from ... import tensor_ops
from ...nn import functional as F
from ...nn.functional.activation import (
    EluFunction,
    GeluFunction,
    HardsigmoidFunction,
    HardswishFunction,
    HardtanhFunction,
    LeakyReluFunction,
    LogSoftmaxFunction,
    PreluFunction,
    ReluFunction,
    SigmoidFunction,
    SiluFunction,
    SoftmaxFunction,
    SoftplusFunction,
    TanhFunction,
)
from ...tensor import tensor
from ...tensor_ops.arithmetic import ClipFunction
from .common import INF, axis_index, first_float, shape_of
from .registry import exporter, importer, inputs_by_opset


@importer("Relu", on_arrays=lambda node, inputs: (np.maximum(np.asarray(inputs[0]), 0),), attrs=("consumed_inputs",))
def import_relu(node, inputs, training):
    return (F.relu(inputs[0]),)


@exporter(ReluFunction)
def export_relu(trace, out, x):
    trace.node("Relu", [trace.name_of(x)], out)


@importer("LeakyRelu", attrs=("alpha", "consumed_inputs"))
def import_leaky_relu(node, inputs, training):
    return (F.leaky_relu(inputs[0], node.attr("alpha", 0.01)),)


@exporter(LeakyReluFunction)
def export_leaky_relu(trace, out, x, slope):
    trace.node("LeakyRelu", [trace.name_of(x)], out, alpha=float(slope))


@importer("Elu", attrs=("alpha", "consumed_inputs"))
def import_elu(node, inputs, training):
    return (F.elu(inputs[0], node.attr("alpha", 1.0)),)


@exporter(EluFunction)
def export_elu(trace, out, x, alpha):
    trace.node("Elu", [trace.name_of(x)], out, alpha=float(alpha))


# ONNX Softplus is log(1 + e^x) with neither beta nor threshold. Past x = 20 log1p(e^-x) is under half
# an ulp of x, so torch's default threshold changes nothing in float32.
@importer("Softplus")
def import_softplus(node, inputs, training):
    return (F.softplus(inputs[0]),)


@exporter(SoftplusFunction)
def export_softplus(trace, out, x, beta, threshold):
    name = trace.name_of(x)
    if beta == 1.0 and threshold >= 20.0:
        trace.node("Softplus", [name], out)
        return
    scaled = trace.node("Mul", [name, trace.const(np.asarray(beta, dtype=np.float32), "beta")])
    soft = trace.node("Div", [trace.node("Softplus", [scaled]),
                              trace.const(np.asarray(beta, dtype=np.float32), "beta")])
    above = trace.node("Greater", [scaled, trace.const(np.asarray(threshold, dtype=np.float32), "threshold")])
    trace.node("Where", [above, name, soft], out)


def _gelu_problems(node, outputs_used):
    mode = node.attr("approximate", "none")
    return [] if mode in ("none", "tanh") else [f"approximate {mode!r} is not supported (expected 'none' or 'tanh')"]


@importer("Gelu", check=_gelu_problems, attrs=("approximate",), attr_kinds={"approximate": "str"})
def import_gelu(node, inputs, training):
    return (F.gelu(inputs[0], approximate=node.attr("approximate", "none")),)


@exporter(GeluFunction)
def export_gelu(trace, out, x, approximate):
    name = trace.name_of(x)
    if trace.opset >= 20:  # Gelu is an ONNX op from opset 20
        trace.node("Gelu", [name], out, approximate=approximate)
        return

    def f32(value, stem):
        return trace.const(np.asarray(value, dtype=np.float32), stem)

    if approximate == "none":  # x * (1 + erf(x / sqrt2)) / 2
        erf = trace.node("Erf", [trace.node("Mul", [name, f32(np.sqrt(0.5), "inv_sqrt2")])])
        cdf = trace.node("Mul", [trace.node("Add", [erf, f32(1.0, "one")]), f32(0.5, "half")])
    else:  # x * sigmoid(2 sqrt(2/pi) (x + 0.044715 x^3)), the tanh form without cancellation
        cube = trace.node("Mul", [trace.node("Mul", [name, name]), name])
        inner = trace.node("Add", [name, trace.node("Mul", [cube, f32(0.044715, "kappa")])])
        cdf = trace.node("Sigmoid", [trace.node("Mul", [inner, f32(2.0 * np.sqrt(2.0 / np.pi), "two_beta")])])
    trace.node("Mul", [name, cdf], out)


@importer("HardSigmoid", attrs=("alpha", "beta", "consumed_inputs"))
def import_hard_sigmoid(node, inputs, training):
    """max(0, min(1, alpha * x + beta)) on the device (hardtanh: the gradient alpha strictly inside)."""
    x = inputs[0]
    alpha, beta = float(node.attr("alpha", 0.2)), float(node.attr("beta", 0.5))
    scaled = tensor_ops.binary(tensor_ops.binary(x, tensor(np.float32(alpha), device=x.device), "mul"),
                      tensor(np.float32(beta), device=x.device), "add")
    return (F.hardtanh(scaled, 0.0, 1.0),)


@exporter(HardsigmoidFunction)
def export_hardsigmoid(trace, out, x):  # relu6(x + 3) / 6 = HardSigmoid(alpha=1/6, beta=1/2)
    trace.node("HardSigmoid", [trace.name_of(x)], out, alpha=1.0 / 6.0, beta=0.5)


@importer("HardSwish")
def import_hard_swish(node, inputs, training):
    return (F.hardswish(inputs[0]),)


@exporter(HardswishFunction)
def export_hardswish(trace, out, x):
    name = trace.name_of(x)
    if trace.opset >= 14:  # HardSwish is an ONNX op from opset 14
        trace.node("HardSwish", [name], out)
        return
    trace.node("Mul", [name, trace.node("HardSigmoid", [name], alpha=1.0 / 6.0, beta=0.5)], out)


@exporter(SiluFunction)
def export_silu(trace, out, x):  # x * sigmoid(x): ONNX has no SiLU
    name = trace.name_of(x)
    trace.node("Mul", [name, trace.node("Sigmoid", [name])], out)


@importer("PRelu", inputs=(2, 2), attrs=("consumed_inputs",))
def import_prelu(node, inputs, training):
    """Y = X where X > 0, else slope * X, with slope broadcast to X from the right (numpy rules). A
    slope that varies along axis 1 only is pycnn's per-channel PReLU; any other slope runs as
    relu(X) + slope * (X - relu(X)), exact because X - relu(X) is X or 0 without rounding."""
    x, slope = inputs
    if node.opset < 7 and slope.ndim == 1 and x.ndim > 2 and slope.shape[0] == x.shape[1] > 1:
        slope = tensor_ops.reshape(slope, (slope.shape[0],) + (1,) * (x.ndim - 2))  # opsets 1-6: per channel
    shape, rank = shape_of(slope), x.ndim
    try:
        np.broadcast_shapes(shape_of(x), shape)
    except ValueError:
        raise ValueError(f"PRelu {node.name!r}: slope of shape {shape} does not broadcast to input "
                         f"{shape_of(x)}") from None
    if len(shape) > rank or (shape and np.broadcast_shapes(shape_of(x), shape) != shape_of(x)):
        raise ValueError(f"PRelu {node.name!r}: slope of shape {shape} would enlarge input {shape_of(x)}; "
                         "ONNX broadcasts the slope to the input")
    aligned = (1,) * (rank - len(shape)) + shape
    size = int(np.prod(shape, dtype=np.int64))
    if rank >= 2 and aligned[1] == size and x.shape[1] == size:  # per channel (or one slope)
        return (F.prelu(x, tensor_ops.reshape(slope, (size,))),)
    if size == 1 and rank >= 2:
        return (F.prelu(x, tensor_ops.reshape(slope, (1,))),)
    positive = F.relu(x)
    return (positive + slope * (x - positive),)


@exporter(PreluFunction)
def export_prelu(trace, out, x, w):
    slope = trace.name_of(w)
    if x.ndim > 2 and w.numel() > 1:  # ONNX broadcasts from the right: (C,) must become (C, 1, 1)
        shape = trace.const(np.asarray([w.numel()] + [1] * (x.ndim - 2), dtype=np.int64), "shape")
        slope = trace.node("Reshape", [slope, shape])
    trace.node("PRelu", [trace.name_of(x), slope], out)


@importer("Sigmoid", attrs=("consumed_inputs",))
def import_sigmoid(node, inputs, training):
    return (F.sigmoid(inputs[0]),)


@exporter(SigmoidFunction)
def export_sigmoid(trace, out, x):
    trace.node("Sigmoid", [trace.name_of(x)], out)


@importer("Tanh", attrs=("consumed_inputs",))
def import_tanh(node, inputs, training):
    return (F.tanh(inputs[0]),)


@exporter(TanhFunction)
def export_tanh(trace, out, x):
    trace.node("Tanh", [trace.name_of(x)], out)


def _softmax_over_axis(softmax, node, x):
    """``softmax`` (F.softmax or F.log_softmax) as ONNX defines it: over ``axis`` from opset 13,
    before that over the input coerced to 2-d at ``axis``."""
    rank = x.ndim
    if node.opset >= 13:
        return softmax(x, axis_index(node.attr("axis", -1), rank, node))
    axis = axis_index(node.attr("axis", 1), rank, node)
    shape = shape_of(x)
    if axis == rank - 1:
        return softmax(x, axis)
    flat = tensor_ops.reshape(x, (int(np.prod(shape[:axis], dtype=np.int64)), -1))
    return tensor_ops.reshape(softmax(flat, 1), shape)


@importer("Softmax", attrs=("axis",))
def import_softmax(node, inputs, training):
    return (_softmax_over_axis(F.softmax, node, inputs[0]),)


@exporter(SoftmaxFunction)
def export_softmax(trace, out, x, dim):
    trace.node("Softmax", [trace.name_of(x)], out, axis=int(dim))


@importer("LogSoftmax", attrs=("axis",))
def import_log_softmax(node, inputs, training):
    return (_softmax_over_axis(F.log_softmax, node, inputs[0]),)


@exporter(LogSoftmaxFunction)
def export_log_softmax(trace, out, x, dim):
    trace.node("LogSoftmax", [trace.name_of(x)], out, axis=int(dim))


def _clip_bounds(node, inputs):
    if node.opset < 11:
        return node.attr("min", -INF), node.attr("max", INF)
    low = first_float(inputs[1]) if len(inputs) > 1 and inputs[1] is not None else None
    high = first_float(inputs[2]) if len(inputs) > 2 and inputs[2] is not None else None
    return low, high


def _clip_on_arrays(node, inputs):
    low, high = _clip_bounds(node, inputs)
    return (np.clip(inputs[0], -INF if low is None else low, INF if high is None else high),)


@importer("Clip", on_arrays=_clip_on_arrays, static=(1, 2), inputs=inputs_by_opset(11, (1, 1), (1, 3)),
          attrs=("min", "max", "consumed_inputs"))
def import_clip(node, inputs, training):
    """min(max(x, min), max), an absent bound being infinite; min > max gives max everywhere.

    The gradient passes where min < x < max, not at the bounds: torch.nn.functional.hardtanh's rule
    (ReLU6, Hardtanh), not torch.clamp's (which passes them). The file cannot say which was meant:
    torch.onnx.export writes the same Clip node for F.relu6, F.hardtanh and torch.clamp (the dynamo
    exporter names the aten op only in metadata), and tf2onnx writes tf.nn.relu6 as Clip too, whose
    TensorFlow gradient is also strict. The Clips in the networks pycnn imports are ReLU6s
    (torchvision's MobileNetV2, TensorFlow's MobileNets), and at random weights thousands of their
    depthwise units sit at exactly 0 (an all-zero window, BatchNorm(0) = 0), where clamp's rule would
    send the BatchNorm bias a gradient PyTorch's model does not have. Relu follows torch.relu (nothing
    passes at 0) and Clip(min=0) agrees with it. onnxruntime's training gradient passes the bounds.
    """
    low, high = _clip_bounds(node, inputs)
    low = -INF if low is None else low
    high = INF if high is None else high
    if low == -INF and high == INF:
        return (inputs[0],)
    if np.isnan(low) or np.isnan(high):
        raise ValueError(f"Clip: expected bounds that are not NaN, got min={low}, max={high}")
    return (HardtanhFunction.apply(inputs[0], low, high),)


# hardtanh writes the same Clip as clip: a clip (torch.clamp's gradient) comes back as a hardtanh.
@exporter(ClipFunction, HardtanhFunction)
def export_clip(trace, out, x, lo, hi):
    low = "" if lo == -np.inf else trace.const(np.asarray(lo, dtype=np.float32), "min")
    high = "" if hi == np.inf else trace.const(np.asarray(hi, dtype=np.float32), "max")
    trace.node("Clip", [trace.name_of(x), low, high], out)
