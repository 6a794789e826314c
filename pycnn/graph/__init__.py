"""pycnn.graph: a network as a graph of ops, its passes and the executor; no file format here.

    ir = GraphIR(nodes, inputs, outputs, initializers)    # a loader (pycnn.onnx) builds the nodes
    problems = ir.sort()                                   # topological order
    problems += passes.fold_constants(ir, ops)             # ops: {op type: Op}, from the loader
    passes.prune_unused(ir)
    passes.plan_memory(ir)
    values = execute(ir, ops, {"x": x}, read_input, training=False)

The passes live one a file in pycnn/graph/passes/; see there for their order and how to add one.
"""
from . import passes
from .executor import execute, in_node
from .ir import CONSTANT, DYNAMIC, SHAPE, GraphIR, Node, Op, problem

__all__ = ["CONSTANT", "DYNAMIC", "SHAPE", "GraphIR", "Node", "Op", "execute", "in_node", "passes", "problem"]
