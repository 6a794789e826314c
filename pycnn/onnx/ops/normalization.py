"""ONNX BatchNormalization, LRN, InstanceNormalization, LayerNormalization, GroupNormalization <-> pycnn
batch_norm, local_response_norm, instance_norm/layer_norm/group_norm (one normalisation of rows,
pycnn.nn.functional.layer_norm, with the affine transform as broadcast products and sums).

Batch norm's scale and bias are Parameters, its mean and variance buffers. ONNX's momentum weighs the
old statistics where torch's weighs the new batch: one is 1 minus the other."""
import numpy as np

from ... import tensor_ops
from ...creation import tensor
from ...nn import functional as F
from ...nn.functional.normalization import BatchNormFunction, LocalResponseNormFunction
from ...nn.functional.layer_norm import NormalizeFunction, normalize
from ..errors import OnnxExportError
from .common import axis_index, only_first_outputs_used, shape_of
from .math import elementwise
from .reduction import _mean_over
from .registry import exporter, importer


def _batch_norm_problems(node, used):
    file_training = node.attr("training_mode", 0) and node.opset >= 14
    problems = only_first_outputs_used(3 if file_training else 1)(node, used)
    if node.opset < 9 and node.attr("spatial", 1) != 1:
        problems.append("spatial=0 (per-activation statistics) is not supported")
    return problems


def _batch_norm_constant_problems(node, values):
    shapes = {node.inputs[i]: v.shape for i, v in enumerate(values[1:5], 1) if v is not None}
    if any(len(shape) != 1 for shape in shapes.values()) or len(set(shapes.values())) > 1:
        return ["scale, bias, mean and var must be 1-d of one length (the channels), got "
                + ", ".join(f"{name!r} {shape}" for name, shape in shapes.items())]
    return []


@importer("BatchNormalization", check=_batch_norm_problems, check_constants=_batch_norm_constant_problems,
          weights={1: "as_is", 2: "as_is"}, buffers=(3, 4), inputs=(5, 5), outputs=5, ranks={0: (2, None)},
          attrs=("epsilon", "momentum", "spatial", "is_test", "consumed_inputs", "training_mode"))
def import_batch_norm(node, inputs, training):
    """pycnn's mode (model.train()/eval()) picks batch or running statistics, unless the file says
    training_mode=1 (opset 14+): then the batch's, always, without touching the running statistics,
    and outputs 1 and 2 are the updated ones ONNX defines (momentum * running + (1 - momentum) * batch,
    the batch variance biased), without a gradient."""
    x, scale, bias, mean, var = inputs
    eps = node.attr("epsilon", 1e-5)
    if node.attr("training_mode", 0) and node.opset >= 14:
        y = F.batch_norm(x, None, None, scale, bias, True, 0.0, eps)
        if len(node.outputs) == 1:
            return (y,)
        a = x.to("cpu").numpy().astype(np.float64)
        axes = (0,) + tuple(range(2, a.ndim))
        m = node.attr("momentum", 0.9)
        new_mean = m * mean.to("cpu").numpy() + (1 - m) * a.mean(axis=axes)
        new_var = m * var.to("cpu").numpy() + (1 - m) * a.var(axis=axes)
        return (y, tensor(new_mean.astype(np.float32), device=x.device),
                tensor(new_var.astype(np.float32), device=x.device))
    momentum = 1.0 - node.attr("momentum", 0.9)
    use_batch = training and not node.frozen  # pycnn.transfer freezes a node's statistics
    return (F.batch_norm(x, mean, var, scale, bias, use_batch, momentum, eps),)


@exporter(BatchNormFunction)
def export_batch_norm(trace, out, x, mean, var, w, b, training, momentum, eps):
    if training or mean is None:
        raise OnnxExportError("batch_norm on batch statistics (training mode) is not exported; call "
                              "model.eval() semantics apply to modules, this was a functional call")
    c = x.shape[1]
    scale = trace.name_of(w) if w is not None else trace.const(np.ones(c, np.float32), "scale")
    bias = trace.name_of(b) if b is not None else trace.const(np.zeros(c, np.float32), "bias")
    trace.node("BatchNormalization", [trace.name_of(x), scale, bias, trace.name_of(mean), trace.name_of(var)],
               out, epsilon=float(eps), momentum=float(1.0 - momentum))


def _local_response_norm_problems(node, used):
    return [] if isinstance(node.attr("size"), int) and node.attr("size") > 0 else \
        [f"size {node.attr('size')!r} is not a positive int"]


@importer("LRN", ranks={0: (3, None)}, check=_local_response_norm_problems, attrs=("alpha", "beta", "bias", "size"))
def import_local_response_norm(node, inputs, training):
    """ONNX LRN; an LRN that pycnn.graph.passes.fuse_local_response_norm made of PyTorch's export also has
    ``window_before`` (PyTorch's window) and ``input_shape`` (the shape the export's Reshapes fixed, -1 for
    any size)."""
    size, x = node.attr("size"), inputs[0]
    expected = node.attr("input_shape")
    if expected is not None and (x.ndim != len(expected) or any(d not in (-1, s) for d, s in zip(expected, x.shape))):
        raise ValueError(f"LRN {node.name!r}: input of shape {tuple(x.shape)}, the exported LocalResponseNorm "
                         f"reshapes for {tuple(expected)}")
    return (F.local_response_norm(x, size, node.attr("alpha", 1e-4), node.attr("beta", 0.75),
                                  node.attr("bias", 1.0), window_before=node.attr("window_before", (size - 1) // 2)),)


@exporter(LocalResponseNormFunction)
def export_local_response_norm(trace, out, x, size, before, alpha, beta, k):
    if before != (size - 1) // 2:
        raise OnnxExportError(f"local_response_norm with size {size} and torch's window (window_before="
                              f"{before}) differs from ONNX LRN's window for even sizes; use "
                              f"window_before={(size - 1) // 2}")
    trace.node("LRN", [trace.name_of(x)], out, size=int(size), alpha=float(alpha), beta=float(beta), bias=float(k))


def _per_channel(t, rank):
    """A (C,) scale or bias as (C, 1, ...) for a rank-``rank`` (N, C, *) input."""
    return tensor_ops.reshape(t, (t.shape[0],) + (1,) * (rank - 2)) if t.ndim == 1 else t


@importer("InstanceNormalization", weights={1: "as_is", 2: "as_is"}, inputs=(3, 3), ranks={0: (3, None)},
          attrs=("epsilon", "consumed_inputs"))
def import_instance_norm(node, inputs, training):
    x, scale, bias = inputs
    y = normalize(x, 2, 1, node.attr("epsilon", 1e-5))
    return (y * _per_channel(scale, x.ndim) + _per_channel(bias, x.ndim),)


def _layer_norm_problems(node, used):
    return [] if node.attr("stash_type", 1) == 1 else [f"stash_type {node.attr('stash_type')} is not supported "
                                                        "(pycnn computes the statistics in float32)"]


@importer("LayerNormalization", check=_layer_norm_problems, weights={1: "as_is", 2: "as_is"}, inputs=(2, 3),
          outputs=3, attrs=("axis", "epsilon", "stash_type"))
def import_layer_norm(node, inputs, training):
    """Y over the dimensions from ``axis`` on, scale and bias broadcast to them; Mean and InvStdDev
    (outputs 1 and 2, shape (d0..d(axis-1), 1, ...)) with their gradients when they are used."""
    x, scale = inputs[0], inputs[1]
    bias = inputs[2] if len(inputs) > 2 else None
    axis = axis_index(node.attr("axis", -1), x.ndim, node)
    eps = node.attr("epsilon", 1e-5)
    y = normalize(x, axis, 1, eps) * scale
    outputs = [y + bias if bias is not None else y]
    if len(node.outputs) > 1:
        axes = list(range(axis, x.ndim))
        mean = _mean_over(x, axes)
        centred = x - mean
        var = _mean_over(centred * centred, axes)
        outputs += [mean, elementwise("Reciprocal", elementwise("Sqrt", var + eps))]
    return tuple(outputs)


def _group_norm_problems(node, used):
    problems = _layer_norm_problems(node, used)
    if not isinstance(node.attr("num_groups"), int) or node.attr("num_groups") < 1:
        problems.append(f"num_groups {node.attr('num_groups')!r} is not a positive int")
    return problems


@importer("GroupNormalization", check=_group_norm_problems, weights={1: "as_is", 2: "as_is"}, inputs=(3, 3),
          ranks={0: (3, None)}, attrs=("num_groups", "epsilon", "stash_type"))
def import_group_norm(node, inputs, training):
    """Scale and bias per channel (C,) from opset 21, per group (num_groups,) before (each group's
    channels share its value)."""
    x, scale, bias = inputs
    groups = node.attr("num_groups")
    c = shape_of(x)[1]
    if c % groups:
        raise ValueError(f"GroupNormalization {node.name!r}: {groups} groups do not divide {c} channels")
    y = normalize(x, 1, groups, node.attr("epsilon", 1e-5))
    if node.opset < 21:  # (G,) -> (G, C/G) -> (C,), a differentiable repeat
        scale, bias = (tensor_ops.reshape(tensor_ops.cat([tensor_ops.reshape(t, (groups, 1))] * (c // groups), 1),
                                          (c,)) for t in (scale, bias))
    return (y * _per_channel(scale, x.ndim) + _per_channel(bias, x.ndim),)


@exporter(NormalizeFunction)
def export_normalize(trace, out, x, start, groups, eps):
    """Reshape to (-1, groups, row length), InstanceNormalization with unit scale and zero bias (any
    opset), Reshape back to the input's Shape (any batch size)."""
    shape = list(x.shape)
    length = int(np.prod(shape[start:], dtype=np.int64)) // groups
    view = trace.node("Reshape", [trace.name_of(x), trace.const(np.asarray([-1, groups, length], np.int64), "shape")])
    unit = [trace.const(np.ones(groups, np.float32), "scale"), trace.const(np.zeros(groups, np.float32), "bias")]
    normed = trace.node("InstanceNormalization", [view] + unit, epsilon=float(eps))
    trace.node("Reshape", [normed, trace.node("Shape", [trace.name_of(x)])], out)
