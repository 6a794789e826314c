"""Pruning: drops the nodes and constants no graph output needs.

Walking back from the outputs, a node stays when one of its outputs is needed, and then its inputs
are needed too. What goes: the aliases and shape chains the network never reads (an exporter's
Identity of a weight, a Shape -> Gather whose result was folded away) and the constants only they
read. Weights stay where the loader bound them: pruning works on the graph, not on the Module.
"""
from ..ir import CONSTANT


def prune_unused(ir):
    """Keeps in ``ir.nodes`` and ``ir.constants`` only what reaches ``ir.outputs``."""
    needed = set(ir.outputs)
    kept = []
    for node in reversed(ir.nodes):
        if any(out in needed for out in node.outputs):
            kept.append(node)
            needed.update(name for name in node.inputs if name)
    kept.reverse()
    ir.nodes = kept
    ir.constants = {name: ir.constants[name] for name in needed
                    if name in ir.constants and ir.kinds.get(name) == CONSTANT}
