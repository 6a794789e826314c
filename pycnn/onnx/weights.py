"""The weights of an imported graph: which constants become Parameters (trainable) or buffers (batch
norm's running statistics), under which Python names, and in which layout pycnn's kernels read them.

A layout is how a weight is stored next to how ONNX stores it: "as_is"; "transposed" (a 2-d (in, out)
MatMul/Gemm weight kept as Linear's (out, in); a batched MatMul operand with its last two axes swapped,
a vector as it is); "vector" (a Gemm bias: a (1, N) row kept as (N,));
"buffer" (kept as it is, not trainable). ``onnx_names`` maps each Parameter back to its ONNX value.
"""
import re

import numpy as np

from .. import tensor_ops
from ..graph import CONSTANT, DYNAMIC
from ..nn import Parameter
from ..tensor import Tensor, tensor


def to_layout(array, layout):
    """A numpy weight in ``layout``: a "transposed" vector and any other shape of a "vector" stay as
    they are (they broadcast)."""
    if layout == "transposed":  # the last two axes swapped (MatMul's batched B); a vector stays
        return np.ascontiguousarray(np.swapaxes(array, -1, -2)) if array.ndim >= 2 else array
    if layout == "vector":
        return array.reshape(-1) if array.ndim == 2 and array.shape[0] == 1 else array
    return array


def tensor_to_layout(x, layout):
    """:func:`to_layout` for a value the network computes (a MatMul of two activations)."""
    if layout == "transposed":
        if x.ndim < 2:
            return x
        return tensor_ops.transpose(x, -1, -2)
    if layout == "vector" and x.ndim == 2 and x.shape[0] == 1:
        return tensor_ops.reshape(x, (x.shape[1],))
    return x


def op_input(value, layout, as_tensor, device="cpu"):
    """``value`` as a network op receives it in an input it reads in ``layout`` (the op's
    ``layout_of``; None: as it is). A Tensor (computed by the network) in that layout; a numpy array
    (a constant, or a value computed on the host from shapes) as a float32 Tensor on ``device`` in that
    layout where ``as_tensor`` (a data input), else as it is (a static input: axes, sizes); None (an
    absent optional input) stays None. The Graph Module, an If's branch and the inference plan all
    prepare their op inputs here (the first two cache a constant's Tensor)."""
    if isinstance(value, Tensor):
        return tensor_to_layout(value, layout) if layout else value
    if not as_tensor or value is None:
        return value
    return tensor(np.asarray(to_layout(np.asarray(value), layout), dtype=np.float32), device=device)


def from_layout(array, layout, onnx_shape):
    """A weight stored in ``layout`` back in ONNX's layout and shape."""
    if layout == "transposed":
        return np.ascontiguousarray(np.swapaxes(array, -1, -2)) if array.ndim >= 2 else array
    return array.reshape(onnx_shape)


def python_name(name, taken, owner):
    """A Python identifier for the ONNX value ``name`` that no other weight and no attribute of ``owner``
    (a Module: forward, training, parameters, ...) has."""
    base = re.sub(r"[^0-9A-Za-z_]", "_", name) or "param"
    if base[0].isdigit():
        base = "p_" + base
    candidate, k = base, 1
    while candidate in taken or hasattr(owner, candidate):
        candidate, k = f"{base}_{k}", k + 1
    taken.add(candidate)
    return candidate


def _weight_layout(ir, op, node, index, name):
    """The layout the float32 constant ``name`` is bound in as input ``index`` of ``node``, or None when
    it stays a constant (a folded value, such as the zero bias an exporter made, or a 0-d scalar)."""
    if index in op.buffers:
        return "buffer"
    if name not in ir.initializers:
        return None
    layouts = op.weight_layouts(node)
    if index in layouts:
        return layouts[index]
    return "as_is" if ir.constants[name].ndim >= 1 else None


def bind_weights(module, ir, ops):
    """Registers on ``module`` a float32 Parameter (or a buffer) for each float constant (float32, or a
    type in ``ir.network_floats``) a network node reads
    in a data input, once per (value, layout), fills ``module.onnx_names`` and returns
    {(value name, layout): attribute name}."""
    weights = {}
    taken = set()
    for node in ir.nodes:
        if ir.kind_of(node) != DYNAMIC:
            continue
        op = ops[node.op]
        static = op.static_inputs(node)
        for i, name in enumerate(node.inputs):
            if not name or i in static or ir.kinds.get(name) != CONSTANT or \
                    ir.constants[name].dtype.name not in ir.network_floats:
                continue
            layout = _weight_layout(ir, op, node, i, name)
            if layout is None or (name, layout) in weights:
                continue
            value = ir.constants[name]
            stored = to_layout(value.astype(np.float32, copy=False), "as_is" if layout == "buffer" else layout)
            attribute = python_name(name, taken, module)
            if layout == "buffer":
                module.register_buffer(attribute, tensor(stored.copy()))
            else:
                module.register_parameter(attribute, Parameter(stored.copy()))
            module.onnx_names[attribute] = (name, layout, tuple(value.shape))
            weights[(name, layout)] = attribute
    return weights
