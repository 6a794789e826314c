"""ONNX elementwise math pycnn has no kernel for, imported as trainable nodes: Abs, Neg, Exp, Log, Sqrt,
Reciprocal, Erf, Pow (tensor base and exponent, broadcast), Where, Selu, Softsign; the comparisons
(Equal, Less, Greater, LessOrEqual, GreaterOrEqual, Not, And, Or, Xor); Hardmax.

Each is :class:`ElementwiseFunction` on the host (numpy, float64 inside for the gradient formulas,
float32 out): in imported graphs these ops sit in decompositions (GELU's Erf, softmax's Exp, layer
norm's Pow and Sqrt) and shape arithmetic, not in the convolution trunk, so a GPU round trip is
acceptable. Gradients are PyTorch's: d|x| = sign(x) (0 at 0), d(x ** y)/dy = x ** y log x except
0 where x == 0 and y >= 0 (torch's mask), Where's gradient goes to the chosen branch.

A comparison in the network gives a float32 0/1 Tensor without a gradient (pycnn's network values
are float32); on constants and shapes it gives numpy bools, which Where and Not/And/Or read alike.
"""
import math

import numpy as np

from ...autograd import Function
from ...nn.functional.normalize import LpNormFunction
from ...tensor_ops.arithmetic import AbsFunction
from ...tensor_ops.common import from_host, unbroadcast
from .common import axis_index, shape_of
from .registry import exporter, importer

_erf = np.frompyfunc(math.erf, 1, 1)


def erf(a):
    """The error function of a numpy array, elementwise, in float64."""
    return np.asarray(_erf(np.asarray(a, dtype=np.float64)), dtype=np.float64)


_SELU_ALPHA, _SELU_GAMMA = 1.67326319217681884765625, 1.05070102214813232421875


def _selu(x, alpha=_SELU_ALPHA, gamma=_SELU_GAMMA):
    return gamma * np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))


def _selu_grad(g, y, x, alpha=_SELU_ALPHA, gamma=_SELU_GAMMA):
    return (g * gamma * np.where(x > 0, 1.0, alpha * np.exp(np.minimum(x, 0))),)


def _pow_grads(g, y, x, p):
    dx = g * p * np.power(x, p - 1)
    dp = g * np.where((x == 0) & (p >= 0), 0.0, y * np.log(x))  # NaN for x < 0, as torch
    return dx, dp


# name -> (forward of float64 arrays, grads(g, y, *x) -> one gradient per input, None for no gradient)
OPS = {
    "Abs": (np.abs, lambda g, y, x: (g * np.sign(x),)),
    "Neg": (np.negative, lambda g, y, x: (-g,)),
    "Exp": (np.exp, lambda g, y, x: (g * y,)),
    "Log": (np.log, lambda g, y, x: (g / x,)),
    "Sqrt": (np.sqrt, lambda g, y, x: (g * 0.5 / y,)),
    "Reciprocal": (np.reciprocal, lambda g, y, x: (-g * y * y,)),
    "Erf": (erf, lambda g, y, x: (g * (2.0 / math.sqrt(math.pi)) * np.exp(-x * x),)),
    "Softsign": (lambda x: x / (1 + np.abs(x)), lambda g, y, x: (g / (1 + np.abs(x)) ** 2,)),
    "Selu": (_selu, _selu_grad),
    "Pow": (np.power, _pow_grads),
    "Where": (lambda c, a, b: np.where(c != 0, a, b),
              lambda g, y, c, a, b: (None, np.where(c != 0, g, 0.0), np.where(c != 0, 0.0, g))),
}


class ElementwiseFunction(Function):
    """One of :data:`OPS` on Tensors broadcast together, in numpy on the host (float64 inside)."""

    def forward(self, *xs, op, params=()):
        self.device, self.op, self.params = xs[0].device, op, dict(params)
        self.arrays = [x.to("cpu").numpy().astype(np.float64) for x in xs]
        with np.errstate(all="ignore"):
            self.out = OPS[op][0](*self.arrays, **self.params)
        return from_host(self.out, self.device, np.float32)

    def backward(self, grad):
        g = grad.to("cpu").numpy().astype(np.float64)
        with np.errstate(all="ignore"):
            grads = OPS[self.op][1](g, self.out, *self.arrays, **self.params)
        return tuple(None if not need or d is None else
                     from_host(unbroadcast(np.broadcast_to(d, g.shape), a.shape), self.device, np.float32)
                     for need, d, a in zip(self.needs_input_grad, grads, self.arrays))


def elementwise(op, *inputs, **params):
    """``op`` (a key of :data:`OPS`) of Tensors broadcast together (ValueError when they do not);
    ``params``: the op's keywords (Selu's alpha and gamma)."""
    shapes = [shape_of(x) for x in inputs]
    try:
        np.broadcast_shapes(*shapes)
    except ValueError:
        raise ValueError(f"{op}: input shapes {shapes} do not broadcast together") from None
    return ElementwiseFunction.apply(*inputs, op=op, params=tuple(sorted(params.items())))


def _on_arrays(node, inputs):
    arrays = [np.asarray(x) for x in inputs]
    with np.errstate(all="ignore"):
        if node.op == "Where":
            return (np.where(arrays[0].astype(bool), arrays[1], arrays[2]),)
        if node.op == "Pow":
            base, exponent = arrays
            if base.dtype.kind in "iu" and exponent.dtype.kind in "iu" and np.any(exponent < 0):
                raise ValueError(f"Pow {node.name!r}: an integer base to a negative integer power")
            return (np.power(base, exponent).astype(base.dtype),)
        if node.op in ("Abs", "Neg"):
            return (OPS[node.op][0](arrays[0]).astype(arrays[0].dtype),)
        x = arrays[0]
        out = OPS[node.op][0](x.astype(np.float64), **_unary_params(node))
        return (out.astype(x.dtype if x.dtype.kind == "f" else np.float32),)


def _unary_params(node):
    if node.op != "Selu":
        return {}
    return {"alpha": node.attr("alpha", _SELU_ALPHA), "gamma": node.attr("gamma", _SELU_GAMMA)}


@importer("Abs", "Neg", "Exp", "Log", "Sqrt", "Reciprocal", "Erf", "Softsign", "Selu", on_arrays=_on_arrays,
          attrs=("consumed_inputs", "alpha", "gamma"), attr_kinds={"gamma": "float"})
def import_unary(node, inputs, training):
    return (elementwise(node.op, inputs[0], **_unary_params(node)),)


@importer("Pow", on_arrays=_on_arrays, inputs=(2, 2), attrs=("broadcast", "axis"), any_dtype_inputs=(1,))
def import_pow(node, inputs, training):
    from .elementwise import _legacy_broadcast
    return (elementwise("Pow", inputs[0], _legacy_broadcast(node, inputs[0], inputs[1])),)


@importer("Where", on_arrays=_on_arrays, inputs=(3, 3), any_dtype_inputs=(0, 1, 2))
def import_where(node, inputs, training):
    return (elementwise("Where", *inputs),)


_COMPARE = {"Equal": np.equal, "Less": np.less, "Greater": np.greater, "LessOrEqual": np.less_equal,
            "GreaterOrEqual": np.greater_equal, "And": np.logical_and, "Or": np.logical_or,
            "Xor": np.logical_xor}


def _compare_on_arrays(node, inputs):
    from .elementwise import _legacy_broadcast
    if node.op == "Not":
        return (np.logical_not(np.asarray(inputs[0])),)
    a, b = np.asarray(inputs[0]), np.asarray(inputs[1])
    b = np.asarray(_legacy_broadcast(node, a, b))
    return (_COMPARE[node.op](a, b),)


class MaskFunction(Function):
    """A float32 result of the network's values that has no gradient (a comparison's 0/1 mask, Not/And/
    Or/Xor of masks, Hardmax's one-hot, a Cast to an integer type): ``node`` (an ONNX node of this
    package) computed by ``compute(node, arrays)`` on the host. Its backward passes nothing back; its
    export writes ``node`` again, between Casts from and to float."""

    def forward(self, *xs, node, compute):
        self.count = len(xs)
        arrays = [x.to("cpu").numpy() for x in xs]
        return from_host(np.asarray(compute(node, arrays), dtype=np.float32), xs[0].device, np.float32)

    def backward(self, grad):
        return (None,) * self.count


def _mask(node, inputs, compute):
    return MaskFunction.apply(*inputs, node=node, compute=compute)


def _compare_arrays(node, arrays):
    if node.op in ("And", "Or", "Xor", "Not"):
        arrays = [x != 0 for x in arrays]
    return _compare_on_arrays(node, arrays)[0]


@importer(*_COMPARE, on_arrays=_compare_on_arrays, inputs=(2, 2), attrs=("broadcast", "axis"),
          any_dtype_inputs=(0, 1))
def import_compare(node, inputs, training):
    """A float32 0/1 Tensor without a gradient (see the module docstring)."""
    return (_mask(node, inputs, _compare_arrays),)


@importer("Not", on_arrays=_compare_on_arrays, any_dtype_inputs=(0,))
def import_not(node, inputs, training):
    return (_mask(node, inputs, _compare_arrays),)


def hardmax_array(x, node):
    """ONNX Hardmax of a numpy array: 1 at the first maximum along ``axis`` (from opset 13), or of the
    input coerced to 2-d at ``axis`` (before), 0 elsewhere."""
    x = np.asarray(x)
    if node.opset >= 13:
        axis = axis_index(node.attr("axis", -1), x.ndim, node)
        flat = np.moveaxis(x, axis, -1)
    else:
        axis = axis_index(node.attr("axis", 1), x.ndim, node)
        flat = x.reshape(int(np.prod(x.shape[:axis], dtype=np.int64)), -1)
    out = np.zeros(flat.shape, dtype=x.dtype)
    if flat.size:
        np.put_along_axis(out, np.argmax(flat, axis=-1)[..., None], 1, axis=-1)
    return np.moveaxis(out, -1, axis) if node.opset >= 13 else out.reshape(x.shape)


@importer("Hardmax", on_arrays=lambda node, inputs: (hardmax_array(inputs[0], node),), attrs=("axis",))
def import_hardmax(node, inputs, training):
    """Its gradient is zero almost everywhere: the result is a Tensor without a gradient."""
    return (_mask(node, inputs, lambda node, arrays: hardmax_array(arrays[0], node)),)


# ----- export ---------------------------------------------------------------------------------------
_BOOL, _FLOAT = 9, 1  # ONNX TensorProto types


@exporter(ElementwiseFunction)
def export_elementwise(trace, out, *xs, op, params=()):
    names = [trace.name_of(x) for x in xs]
    if op == "Where":  # the condition is a float 0/1 mask in pycnn
        names[0] = trace.node("Cast", [names[0]], to=_BOOL)
    trace.node(op, names, out, **{k: float(v) for k, v in params})


@exporter(MaskFunction)
def export_mask(trace, out, *xs, node, compute):
    """The node again: its inputs cast to bool where ONNX wants bools, its result cast to float."""
    names = [trace.name_of(x) for x in xs]
    if node.op in ("And", "Or", "Xor", "Not"):
        names = [trace.node("Cast", [n], to=_BOOL) for n in names]
    if node.op == "Hardmax" and node.opset < 13:  # the input coerced to 2-d at axis
        axis = axis_index(node.attr("axis", 1), xs[0].ndim, node)
        flat = trace.node("Hardmax", [trace.node("Flatten", names, axis=axis)], axis=1)
        trace.node("Reshape", [flat, trace.node("Shape", names)], out)
        return
    attrs = {"axis": node.attrs["axis"]} if "axis" in node.attrs and node.op == "Hardmax" else {}
    if node.op == "Cast":
        from .constant import _cast_to
        attrs = {"to": int(_cast_to(node))}
    result = trace.node(node.op, names, **attrs)
    trace.node("Cast", [result], out, to=_FLOAT)


@exporter(AbsFunction)
def export_abs(trace, out, x):
    trace.node("Abs", [trace.name_of(x)], out)


@exporter(LpNormFunction)
def export_lp_norm(trace, out, x, p, dim):
    """F.normalize's norm: (ReduceSum |x|^p over dim, kept)^(1/p)."""
    powered = trace.node("Pow", [trace.node("Abs", [trace.name_of(x)]), trace.const(np.asarray(p, np.float32))])
    total = trace.node("ReduceSum", [powered, trace.const(np.asarray([dim], np.int64), "axes")], keepdims=1)
    trace.node("Pow", [total, trace.const(np.asarray(1.0 / p, np.float32))], out)

