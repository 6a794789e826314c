"""Swish fusion: a value multiplied by a gate of itself becomes one activation node, as onnxruntime's
``quick_gelu_fusion.cc`` (x * Sigmoid(x)) and its HardSwish rewrite (x * HardSigmoid(x)):

    Mul(x, Sigmoid(x))                              -> Silu(x)       (pycnn's internal op: ONNX has no SiLU)
    Mul(x, HardSigmoid(x, alpha=1/6, beta=1/2))     -> HardSwish(x)  (ONNX's, from opset 14)

PyTorch exports nn.SiLU (EfficientNet, YOLO-style detectors) as the first and
nn.Hardswish below opset 14 as the second. The plan then runs one pass over the value instead of
two, and never stores the gate.

What fuses: a Mul of two network values, one of them the output of a Sigmoid (a HardSigmoid with
alpha within 1e-6 of 1/6 and beta 1/2) whose input is the Mul's other operand, the gate read by
that Mul alone and not a graph output. Anything else (a gate of another value, as squeeze-and-
excitation scales are; a gate read twice) stays as it is.
"""
from ..ir import DYNAMIC, Node, Op


def _gate_of(ir, producer, readers, gate, x):
    """The Sigmoid or HardSwish-shaped HardSigmoid node computing ``gate`` from ``x``, or None."""
    node = producer.get(gate)
    if node is None or not node.inputs or node.inputs[0] != x or gate in ir.outputs:
        return None
    if len(readers.get(gate, [])) != 1:
        return None
    if node.op == "Sigmoid":
        return node
    if node.op == "HardSigmoid" and abs(node.attr("alpha", 0.2) - 1 / 6) <= 1e-6 and node.attr("beta", 0.5) == 0.5:
        return node
    return None


def fuse_swish(ir):
    """Rewrites x * Sigmoid(x) as Silu(x) and x * HardSigmoid(x) (HardSwish's constants) as HardSwish(x)
    (see the module docstring); returns how many were fused."""
    producer, readers = ir.producers(), ir.readers()
    fused = 0
    for mul in list(ir.nodes):
        if mul.op != "Mul" or len(mul.inputs) != 2 or mul.attr("broadcast") or ir.kind_of(mul) != DYNAMIC:
            continue
        for gate, x in (mul.inputs, mul.inputs[::-1]):
            node = _gate_of(ir, producer, readers, gate, x)
            if node is None or ir.kinds.get(x) != DYNAMIC:
                continue
            op = "Silu" if node.op == "Sigmoid" else "HardSwish"
            ir.nodes[ir.nodes.index(mul)] = Node(mul.name, op, 14 if op == "HardSwish" else mul.opset, {}, [x],
                                                 list(mul.outputs))
            ir.nodes.remove(node)
            fused += 1
            break
    return fused


def silu_op(silu):
    """The graph Op of Silu, on a function of Tensors (``silu(x)``), so that a plan can also run it in
    Python."""
    return Op(on_tensors=lambda node, inputs, training: (silu(inputs[0]),))
