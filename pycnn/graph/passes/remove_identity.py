"""Identity removal: drops the nodes that pass their input through unchanged when the network runs
for inference (Identity; Dropout, whose mask output nothing reads), as onnxruntime's
``identity_elimination.cc`` and ``dropout_elimination.cc``.

Each reader of the node's output reads its input instead. When the output is a graph output, the
node producing the input is renamed to write the graph output directly; a node is kept only where
that cannot be done (its input is a graph input, a constant, or another graph output).
"""
from ..ir import DYNAMIC

PASSTHROUGH = ("Identity", "Dropout")


def _rename(ir, old, new):
    for node in ir.nodes:
        node.inputs = [new if name == old else name for name in node.inputs]


def remove_identity(ir):
    """Removes the Identity and Dropout nodes of ``ir.nodes`` that run in the network; returns how many.
    Only for inference: a Dropout in training mode is not an identity."""
    producer = ir.producers()
    removed = 0
    for node in list(ir.nodes):
        if node.op not in PASSTHROUGH or ir.kind_of(node) != DYNAMIC or any(node.outputs[1:]):
            continue
        source, out = node.inputs[0], node.outputs[0]
        if out in ir.outputs:
            feeder = producer.get(source)
            if feeder is None or source in ir.outputs:
                continue  # a graph input or constant (or an output twice): the copy stays
            feeder.outputs = [out if name == source else name for name in feeder.outputs]
            ir.kinds[out] = ir.kinds[source]
            _rename(ir, source, out)
            producer[out] = feeder
        else:
            _rename(ir, out, source)
        ir.nodes.remove(node)
        removed += 1
    return removed
