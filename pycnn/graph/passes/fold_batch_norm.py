"""Batch-norm folding: a BatchNormalization in inference mode right after a Conv becomes part of the
convolution's weights, as onnxruntime's ``conv_bn_fusion.cc``:

    bn(conv(x, W) + B) = conv(x, W * s) + (B - mean) * s + beta,   s = scale / sqrt(var + epsilon)

per output channel. It applies when the Conv's weight (and bias, if any), and the BatchNormalization's
scale, bias, mean and variance are constants, and the Conv's output is read by that BatchNormalization
alone (and is not a graph output). Everything else is left as it is.
"""
import numpy as np

from ..ir import CONSTANT, Node


def _constant(ir, name):
    return ir.constants[name] if name and ir.kinds.get(name) == CONSTANT and name in ir.constants else None


def fold_batch_norm(ir):
    """Folds each BatchNormalization that follows a Conv into it (see the module docstring); returns
    how many were folded. Only for inference: training mode normalises with the batch's statistics."""
    producer, readers = ir.producers(), ir.readers()
    folded = 0
    for bn in list(ir.nodes):
        if bn.op != "BatchNormalization" or len(bn.inputs) != 5 or any(bn.outputs[1:]) or bn.attr("training_mode", 0):
            continue
        conv = producer.get(bn.inputs[0])
        if conv is None or conv.op != "Conv" or bn.inputs[0] in ir.outputs or len(readers.get(bn.inputs[0], [])) != 1:
            continue
        weight = _constant(ir, conv.inputs[1])
        bias = _constant(ir, conv.inputs[2]) if len(conv.inputs) > 2 and conv.inputs[2] else None
        stats = [_constant(ir, name) for name in bn.inputs[1:]]
        has_bias = len(conv.inputs) > 2 and conv.inputs[2]
        if weight is None or weight.ndim != 4 or (has_bias and bias is None) or any(s is None for s in stats):
            continue
        channels = weight.shape[0]
        if any(s.shape != (channels,) for s in stats) or (bias is not None and bias.shape != (channels,)):
            continue
        scale, beta, mean, var = (s.astype(np.float64) for s in stats)
        factor = scale / np.sqrt(var + bn.attr("epsilon", 1e-5))
        new_weight = (weight.astype(np.float64) * factor[:, None, None, None]).astype(np.float32)
        new_bias = (((bias.astype(np.float64) if bias is not None else 0.0) - mean) * factor + beta).astype(np.float32)
        names = [f"{conv.name}/folded_{bn.name}/{part}" for part in ("W", "B")]
        for name, value in zip(names, (new_weight, new_bias)):
            ir.constants[name], ir.kinds[name] = value, CONSTANT
        fused = Node(conv.name, "Conv", conv.opset, dict(conv.attrs), [conv.inputs[0]] + names, [bn.outputs[0]])
        ir.nodes[ir.nodes.index(conv)] = fused
        ir.nodes.remove(bn)
        folded += 1
    return folded
