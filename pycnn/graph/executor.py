"""The executor: runs a planned graph (after ``fold_constants`` and ``plan_memory``).

Each node runs where ``fold_constants`` put it: a DYNAMIC node's ``on_tensors`` on pycnn Tensors
(constants reaching it as Tensors on the input's device, its static inputs as numpy arrays), a SHAPE
node's ``on_arrays`` on numpy arrays. After a node has run, the values it was the last reader of are
dropped (``ir.free_after``). An error is raised again with the node, its op and opset in front.
"""
from .ir import SHAPE

# What an op raises for inputs it cannot take (a shape, an index); anything else propagates as it is.
NODE_ERRORS = (ValueError, TypeError, IndexError, OverflowError, RuntimeError)


def in_node(error, node):
    """``error`` with the node, its op and opset in front of its message, as the same exception type
    where that type takes a message alone (ValueError otherwise)."""
    where = f"node {node.name!r} ({node.op}, opset {node.opset}): "
    message = str(error) if str(error).startswith(where) else where + str(error)
    try:
        return type(error)(message)
    except Exception:  # an exception type with another constructor
        return ValueError(message)


def execute(ir, ops, values, read_input, training, observe=None):
    """Runs ``ir.nodes`` in order and returns ``values`` holding what no node freed (the outputs).

    values: {name: value}, the graph inputs to begin with; each node's outputs are added to it.
    read_input(node, index, values, as_tensor): the value of ``node.inputs[index]``, from ``values`` or
        from the weights and constants the caller holds; a Tensor when ``as_tensor``, else as stored.
    training: passed to each op (dropout, batch norm).
    observe(node, inputs, outputs): called after each node when given (pycnn.summary's per-node rows)."""
    if ir.free_after is None or len(ir.free_after) != len(ir.nodes):
        raise RuntimeError("execute: the memory plan does not match the graph's nodes; run "
                           "passes.plan_memory after the last pass that changes them")
    for node, free in zip(ir.nodes, ir.free_after):
        op = ops[node.op]
        try:
            if ir.kind_of(node) == SHAPE:
                inputs = [read_input(node, i, values, False) for i in range(len(node.inputs))]
                outputs = op.on_arrays(node, inputs)
            else:
                static = op.static_inputs(node)
                inputs = [read_input(node, i, values, i not in static) for i in range(len(node.inputs))]
                outputs = op.on_tensors(node, inputs, training)
        except NODE_ERRORS as error:
            raise in_node(error, node) from None
        if observe is not None:
            observe(node, inputs, outputs)
        for name, value in zip(node.outputs, outputs):
            values[name] = value
        for name in free:
            values.pop(name, None)
    return values
