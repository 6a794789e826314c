"""ONNX elementwise ops <-> pycnn: Add, Sub, Mul, Div (pycnn's binary op, with broadcasting), Sum and
Mean of several inputs, Max and Min of several inputs (ExtremumFunction below: pycnn has no kernel for
them; only ONNX models use one), and Identity."""
import numpy as np

from ... import tensor_ops
from ...autograd import Function, is_grad_enabled
from ...nn import functional as F
from ...tensor_ops.arithmetic import BinaryFunction
from ...tensor_ops.common import from_host
from .common import axis_index, first_float, reshape, shape_of
from .registry import ANY_NUMBER, exporter, importer

_LEGACY_BINARY_ATTRIBUTES = ("broadcast", "axis", "consumed_inputs")
_NUMPY_BINARY = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply}


def _legacy_broadcast(node, a, b):
    """Opset < 7: ``broadcast=1`` aligns b with a starting at ``axis`` (default: the trailing dims)."""
    if node.opset >= 7 or not node.attr("broadcast", 0) or "axis" not in node.attrs:
        return b
    shape_b = shape_of(b)
    axis = axis_index(node.attr("axis"), a.ndim, node)
    trailing = a.ndim - axis - len(shape_b)
    if trailing < 0:
        raise ValueError(f"{node.op} {node.name!r}: cannot broadcast {shape_b} into {shape_of(a)} at axis {axis}")
    return reshape(b, list(shape_b) + [1] * trailing)


def _binary_on_arrays(node, inputs):
    a = np.asarray(inputs[0])
    b = np.asarray(_legacy_broadcast(node, a, np.asarray(inputs[1])))
    if node.op == "Div":
        if a.dtype.kind in "iu" and b.dtype.kind in "iu":
            if np.any(b == 0):
                raise ValueError(f"Div {node.name!r}: integer division by zero")
            return (np.trunc(a / b).astype(a.dtype),)
        return (np.divide(a, b).astype(np.result_type(a, b)),)
    return (_NUMPY_BINARY[node.op](a, b),)


@importer("Add", "Sub", "Mul", "Div", on_arrays=_binary_on_arrays, inputs=(2, 2), attrs=_LEGACY_BINARY_ATTRIBUTES)
def import_binary(node, inputs, training):
    a, b = inputs[0], _legacy_broadcast(node, inputs[0], inputs[1])
    return (tensor_ops.binary(a, b, node.op.lower()),)


@exporter(BinaryFunction)
def export_binary(trace, out, a, b, op):  # op: add, sub, mul or div
    trace.node(op.capitalize(), [trace.name_of(a), trace.name_of(b)], out)


def _sum_on_arrays(node, inputs):
    out = np.asarray(inputs[0])
    for x in inputs[1:]:
        out = out + np.asarray(x)
    return (out,)


@importer("Sum", on_arrays=_sum_on_arrays, inputs=ANY_NUMBER, attrs=("consumed_inputs",))
def import_sum(node, inputs, training):
    out = inputs[0]
    for x in inputs[1:]:
        out = out + x
    return (out,)


def _mean_on_arrays(node, inputs):
    return ((_sum_on_arrays(node, inputs)[0] / len(inputs)).astype(np.result_type(*[np.asarray(x) for x in inputs])),)


@importer("Mean", on_arrays=_mean_on_arrays, inputs=ANY_NUMBER, attrs=("consumed_inputs",))
def import_mean(node, inputs, training):
    return (import_sum(node, inputs, training)[0] / float(len(inputs)),)


class ExtremumFunction(Function):
    """ONNX Max (``largest``) or Min of several inputs broadcast together, with numpy on the host. The
    gradient goes to the first input holding the extremum (ties are not split)."""

    def forward(self, *xs, largest):
        self.device = xs[0].device
        arrays = [x.to("cpu").numpy() for x in xs]
        self.shapes = [a.shape for a in arrays]
        reduce = np.maximum if largest else np.minimum
        out = reduce.reduce(np.broadcast_arrays(*arrays)) if len(arrays) > 1 else arrays[0].copy()
        self.winner = np.zeros(out.shape, dtype=np.int64)
        taken = np.zeros(out.shape, dtype=bool)
        for k, a in enumerate(arrays):
            hit = (a == out) & ~taken
            self.winner[hit] = k
            taken |= hit
        return from_host(out, self.device)

    def backward(self, grad):
        g = grad.to("cpu").numpy()
        grads = []
        for k, shape in enumerate(self.shapes):
            if not self.needs_input_grad[k]:
                grads.append(None)
                continue
            mine = np.where(self.winner == k, g, 0.0)
            extra = mine.ndim - len(shape)
            mine = mine.sum(axis=tuple(range(extra))) if extra else mine
            mine = mine.sum(axis=tuple(i for i, d in enumerate(shape) if d == 1 and mine.shape[i] != 1),
                            keepdims=True)
            grads.append(from_host(mine.astype(np.float32).reshape(shape), self.device))
        return tuple(grads)


def extremum(inputs, largest):
    """ONNX Max (``largest``) or Min: the elementwise extremum of Tensors broadcast together."""
    shapes = [tuple(x.shape) for x in inputs]
    try:
        np.broadcast_shapes(*shapes)
    except ValueError:
        raise ValueError(f"{'Max' if largest else 'Min'}: input shapes {shapes} do not broadcast together") from None
    return ExtremumFunction.apply(*inputs, largest=bool(largest))


def _extremum_on_arrays(node, inputs):
    reduce = np.maximum if node.op == "Max" else np.minimum
    return (reduce.reduce(np.broadcast_arrays(*[np.asarray(x) for x in inputs])),)


@importer("Max", "Min", on_arrays=_extremum_on_arrays, inputs=ANY_NUMBER, attrs=("consumed_inputs",), runs_on_host=True)
def import_max_min(node, inputs, training):
    """Against one-element bounds (ReLU6 as Max(x, 0) -> Min(., 6)) it runs on the device: a clip, or,
    when a bound is a trainable Parameter and gradients are on, b + relu(x - b) for Max and
    b - relu(b - x) for Min (equal to the clip within an ulp, with the bound's gradient: the gradient
    of the positions the bound wins). Otherwise :func:`extremum` on the host."""
    largest = node.op == "Max"
    x, bounds = inputs[0], list(inputs[1:])
    if bounds and all(b.numel() == 1 and b.ndim <= x.ndim and b.device == x.device for b in bounds):
        if any(b.requires_grad for b in bounds) and is_grad_enabled():
            out = x
            for b in bounds:
                out = b + F.relu(out - b) if largest else b - F.relu(b - out)
            return (out,)
        values = [first_float(b.numpy()) for b in bounds]
        if largest:
            return (F.clip(x, max(values), None),)
        return (F.clip(x, None, min(values)),)
    return (extremum(list(inputs), largest),)


@exporter(ExtremumFunction)
def export_max_min(trace, out, *xs, largest):
    trace.node("Max" if largest else "Min", [trace.name_of(x) for x in xs], out)


@importer("Identity", on_arrays=lambda node, inputs: (np.asarray(inputs[0]),), folds_weights=True)
def import_identity(node, inputs, training):
    return (inputs[0],)
