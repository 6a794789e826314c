"""ONNX BatchNormalization and LRN <-> pycnn batch_norm and local_response_norm.

Batch norm's scale and bias are Parameters, its mean and variance buffers. ONNX's momentum weighs the
old statistics where torch's weighs the new batch: one is 1 minus the other."""
import numpy as np

from ...nn import functional as F
from ...nn.functional.normalization import BatchNormFunction, LocalResponseNormFunction
from ..errors import OnnxExportError
from .common import only_first_outputs_used
from .registry import exporter, importer


def _batch_norm_problems(node, used):
    problems = only_first_outputs_used(1)(node, used)
    if node.opset < 9 and node.attr("spatial", 1) != 1:
        problems.append("spatial=0 (per-activation statistics) is not supported")
    if node.attr("training_mode", 0):
        problems.append("training_mode=1 in the file is not supported; pycnn sets the mode with "
                        "model.train()/eval()")
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
    x, scale, bias, mean, var = inputs
    momentum = 1.0 - node.attr("momentum", 0.9)
    use_batch = training and not node.frozen  # pycnn.transfer freezes a node's statistics
    return (F.batch_norm(x, mean, var, scale, bias, use_batch, momentum, node.attr("epsilon", 1e-5)),)


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
    size = node.attr("size")
    return (F.local_response_norm(inputs[0], size, node.attr("alpha", 1e-4), node.attr("beta", 0.75),
                                  node.attr("bias", 1.0), window_before=(size - 1) // 2),)


@exporter(LocalResponseNormFunction)
def export_local_response_norm(trace, out, x, size, before, alpha, beta, k):
    if before != (size - 1) // 2:
        raise OnnxExportError(f"local_response_norm with size {size} and torch's window (window_before="
                              f"{before}) differs from ONNX LRN's window for even sizes; use "
                              f"window_before={(size - 1) // 2}")
    trace.node("LRN", [trace.name_of(x)], out, size=int(size), alpha=float(alpha), beta=float(beta), bias=float(k))
