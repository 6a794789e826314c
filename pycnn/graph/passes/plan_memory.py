"""Memory planning: frees each value as soon as its last reader has run.

For each node, the values it is the last node to read (``ir.free_after``); the executor drops them
from its table after running the node, so a deep network holds only the activations still ahead of
it (and those its backward pass saved). Graph outputs and constants are never freed. Run it last,
after every pass that adds, removes or rewires nodes (and again after any later change).
"""


def plan_memory(ir):
    """Sets ``ir.free_after``: one list of value names per node of ``ir.nodes``."""
    last_reader = {}
    for index, node in enumerate(ir.nodes):
        for name in node.inputs:
            last_reader[name] = index
    keep = set(ir.outputs) | set(ir.constants)
    ir.free_after = [[name for name in set(node.inputs) if name and last_reader.get(name) == index and name not in keep]
                     for index, node in enumerate(ir.nodes)]
