"""Convolution epilogue fusion: a Conv followed by a residual Add and/or a Relu or Clip becomes one
``FusedConv`` node (onnxruntime's com.microsoft FusedConv, from ``conv_add_fusion.cc`` and
``conv_activation_fusion.cc``):

    FusedConv(X, W, B, Z) = activation(conv(X, W) + B + Z)

with the Conv's attributes, ``activation`` ("Relu", "Clip", "Silu", "HardSwish" or absent) and
``activation_params`` (Relu's and Clip's [min, max]). The plan runs it as one kernel call whose store
adds Z and clamps, instead of three passes over the output; SiLU and HardSwish (from fuse_swish) run
over each chunk of images the convolution has just stored, and let a value in channel blocks stay so.

What fuses: an Add whose one operand is a Conv's output read by that Add alone (not a graph output),
and whose other operand is a network value of exactly the output's shape (no broadcasting); then a
Relu, a Clip with constant bounds, a Silu or a HardSwish, reading a Conv or FusedConv output read by
it alone. Conv fusion needs the shapes of the values, so it runs once per input shape.

``fuse_conv_max_pool`` then folds a MaxPool into the convolution before it (a network's stem: conv,
ReLU, 3x3 stride-2 max pool; not after a Silu or HardSwish), where the caller's ``fusable`` says the
plan has a kernel for the pair:
the FusedConv gains a ``max_pool`` attribute (the MaxPool node, whose first input names the
convolution's output as before) and the pool's output, so the plan never stores the convolution's
output whole (PreparedConv2d::forward_max_pool).
"""
import numpy as np

from ..ir import CONSTANT, DYNAMIC, Node, Op

FUSED_ATTRS = ("activation", "activation_params", "max_pool")
GATES = ("Silu", "HardSwish")  # activations that are not a clamp


def _single_reader(ir, readers, name):
    return name not in ir.outputs and len(readers.get(name, [])) == 1


def clip_bounds(ir, node):
    """Clip's (min, max) as floats (attributes before opset 11, inputs after), or None when a bound is
    not a one-value constant. The plan's Clip step reads them here too."""
    if node.opset < 11:
        return float(node.attr("min", -np.inf)), float(node.attr("max", np.inf))
    bounds = []
    for index, default in ((1, -np.inf), (2, np.inf)):
        name = node.inputs[index] if len(node.inputs) > index else ""
        if not name:
            bounds.append(default)
        elif ir.kinds.get(name) == CONSTANT and np.asarray(ir.constants[name]).size == 1:
            bounds.append(float(np.asarray(ir.constants[name]).reshape(())))
        else:
            return None
    return tuple(bounds)


def _as_fused(conv):
    """``conv`` as a FusedConv node (itself when it already is one)."""
    if conv.op == "FusedConv":
        return conv
    fused = conv.copy()
    fused.op, fused.inputs = "FusedConv", fused.inputs + [""] * (3 - len(fused.inputs))
    return fused


def _replace(ir, old_nodes, fused):
    """``fused`` in place of ``old_nodes``, where the last of them ran: the residual may be computed
    after the convolution."""
    ir.nodes[ir.nodes.index(old_nodes[-1])] = fused
    for node in old_nodes[:-1]:
        ir.nodes.remove(node)


def fuse_conv(ir, shapes):
    """Fuses residual adds and activations into the Conv before them (see the module docstring);
    ``shapes``: {value name: shape} for this input shape. Returns how many nodes were fused away."""
    fused_count = 0
    producer, readers = ir.producers(), ir.readers()
    for add in list(ir.nodes):
        if add.op != "Add" or len(add.inputs) != 2 or add.attr("broadcast") or ir.kind_of(add) != DYNAMIC:
            continue
        for i in (0, 1):
            conv, other = producer.get(add.inputs[i]), add.inputs[1 - i]
            if conv is None or conv.op != "Conv" or not _single_reader(ir, readers, add.inputs[i]):
                continue
            same_shape = shapes.get(other) == shapes.get(add.inputs[i])
            if ir.kinds.get(other) != DYNAMIC or not same_shape or other == add.inputs[i]:
                continue
            fused = _as_fused(conv)
            fused.inputs = fused.inputs[:3] + [other]
            fused.outputs = [add.outputs[0]]
            _replace(ir, [conv, add], fused)
            fused_count += 1
            break
    producer, readers = ir.producers(), ir.readers()
    for act in list(ir.nodes):
        if act.op not in ("Relu", "Clip") + GATES or ir.kind_of(act) != DYNAMIC:
            continue
        conv = producer.get(act.inputs[0])
        if conv is None or conv.op not in ("Conv", "FusedConv") or conv.attr("activation") is not None:
            continue
        if not _single_reader(ir, readers, act.inputs[0]):
            continue
        bounds = (-np.inf, np.inf) if act.op in GATES else (0.0, np.inf) if act.op == "Relu" else \
            clip_bounds(ir, act)
        if bounds is None:
            continue
        fused = _as_fused(conv)
        fused.attrs = dict(fused.attrs, activation=act.op, activation_params=[float(b) for b in bounds])
        fused.outputs = [act.outputs[0]]
        _replace(ir, [conv, act], fused)
        fused_count += 1
    return fused_count


def fuse_conv_max_pool(ir, shapes, fusable):
    """Folds each MaxPool (its values only: no Indices output) that reads a Conv or FusedConv output
    read by it alone, the convolution adding no residual, into that convolution, where
    ``fusable(conv, pool)`` is true (the plan lowers the pair to one kernel); see the module docstring.
    Returns how many pools were folded."""
    fused_count = 0
    producer, readers = ir.producers(), ir.readers()
    for pool in list(ir.nodes):
        if pool.op != "MaxPool" or any(pool.outputs[1:]) or not pool.inputs:
            continue
        conv = producer.get(pool.inputs[0])
        if conv is None or conv.op not in ("Conv", "FusedConv") or conv.attr("max_pool") is not None:
            continue
        if conv.attr("activation") in GATES:
            continue
        if not _single_reader(ir, readers, pool.inputs[0]) or (len(conv.inputs) > 3 and conv.inputs[3]):
            continue
        if pool.inputs[0] not in shapes or not fusable(conv, pool):
            continue
        fused = _as_fused(conv)
        fused.attrs = dict(fused.attrs, max_pool=pool.copy())
        fused.outputs = [pool.outputs[0]]
        _replace(ir, [conv, pool], fused)
        fused_count += 1
    return fused_count


def fused_conv_op(conv_op, clip, max_pool_op, gates):
    """The graph Op of FusedConv, built on the table's Conv and MaxPool ops (``conv_op``,
    ``max_pool_op``), a clip function on Tensors (``clip(x, low, high)``) and ``gates`` ({"Silu": f,
    "HardSwish": f}, functions of Tensors), so that a plan can also run it in Python."""
    def on_tensors(node, inputs, training):
        conv = Node(node.name, "Conv", node.opset, {k: v for k, v in node.attrs.items() if k not in FUSED_ATTRS},
                    node.inputs[:3], node.outputs)
        y = conv_op.on_tensors(conv, [inputs[0], inputs[1], inputs[2] if len(inputs) > 2 else None], training)[0]
        if len(inputs) > 3 and inputs[3] is not None:
            y = y + inputs[3]
        if node.attr("activation") in gates:
            y = gates[node.attr("activation")](y)
        elif node.attr("activation") is not None:
            low, high = node.attr("activation_params")
            y = clip(y, low, high)
        pool = node.attr("max_pool")
        if pool is not None:
            y = max_pool_op.on_tensors(pool, [y], training)[0]
        return (y,)
    return Op(on_tensors=on_tensors, weights={1: "as_is", 2: "as_is"})
