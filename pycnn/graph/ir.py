"""The graph IR: ops (:class:`Node`) over named values, in topological order (:class:`GraphIR`), and
what an op must provide for the passes and the executor (:class:`Op`).

A value is a name. Each value has a kind once ``fold_constants`` has run:

- ``DYNAMIC``: computed from the graph inputs by the network's ops, as pycnn Tensors (with gradients);
- ``CONSTANT``: known before the network runs (an initializer, or folded from initializers);
- ``SHAPE``: a small numpy array computed on the host at run time from the shape of a dynamic value
  (Shape -> Gather -> Concat -> Reshape chains), so that any batch size works, or from an integer
  graph input (``GraphIR.host_inputs``: an embedding's indices).

Nothing here knows a file format: a loader (pycnn.onnx) builds the nodes and names the ops.
"""
DYNAMIC, CONSTANT, SHAPE = "dynamic", "const", "shape"


class Node:
    """One op of the graph: ``op`` names it in the op table, ``opset`` is the version of its semantics,
    ``attrs`` its attributes as Python values, ``inputs``/``outputs`` value names ('' for an absent
    optional input)."""

    __slots__ = ("attrs", "frozen", "inputs", "name", "op", "opset", "outputs")

    def __init__(self, name, op, opset, attrs, inputs, outputs):
        self.name, self.op, self.opset, self.attrs = name, op, opset, attrs
        self.inputs, self.outputs = inputs, outputs
        self.frozen = False  # set by pycnn.transfer: batch norm keeps its running statistics

    def copy(self):
        """A node of its own with the same fields (passes rewrite inputs, outputs and attrs in place)."""
        node = Node(self.name, self.op, self.opset, dict(self.attrs), list(self.inputs), list(self.outputs))
        node.frozen = self.frozen
        return node

    def attr(self, key, default=None):
        return self.attrs.get(key, default)

    def __repr__(self):
        return f"Node({self.name!r}, {self.op}, {self.inputs} -> {self.outputs})"


def problem(node, message):
    """A problem found in a graph, as the loaders report it: the node's name, op and opset ('' and
    None for the graph itself) and what is wrong."""
    if node is None:
        return {"node": "", "op": "", "opset": None, "message": message}
    return {"node": node.name, "op": node.op, "opset": node.opset, "message": message}


def _for_node(spec, node):
    """``spec`` itself, or ``spec(node)`` when it is a function of the node."""
    return spec(node) if callable(spec) else spec


class Op:
    """What the passes and the executor need of an op; a loader registers one per op type.

    on_tensors(node, inputs, training) -> tuple of outputs: the op in the network, on pycnn Tensors
        (None: the op is computed only on constants and shapes).
    on_arrays(node, inputs) -> tuple of numpy arrays: the op on constants (folded at import) and on
        shapes (at run time); None: never folded.
    static: input indices that must be known before the network runs (shapes, axes, pads), or a
        function of the node giving them; they arrive as numpy arrays, never Tensors.
    weights: {input index: layout} of the inputs that are trainable weights ("as_is", or a layout the
        loader converts to, such as "transposed"), or a function of the node giving it.
    buffers: input indices that are non-trainable state (batch norm's running statistics).
    check_constants(node, values) -> list of problems: the inputs known at import (numpy arrays,
        None for the others) checked against what ``on_tensors`` accepts.
    type_only_inputs: inputs of which only the type is read (CastLike's second): a network value
        counts as a constant, its type being float32.
    shape_only_inputs: inputs of which only the shape is read (Shape's): a network value counts as a
        shape, known when the network runs.
    folds_weights: a float initializer through this op folds into a constant (Identity); otherwise
        the op runs in the network so that the weight stays trainable (a transposed MatMul weight).
    """

    def __init__(self, on_tensors=None, on_arrays=None, static=(), weights=None, buffers=(),
                 check_constants=None, type_only_inputs=(), shape_only_inputs=(), folds_weights=False):
        self.on_tensors, self.on_arrays = on_tensors, on_arrays
        self.static = static if callable(static) else frozenset(static)
        self.weights = weights if callable(weights) else dict(weights or {})
        self.buffers = frozenset(buffers)
        self.check_constants_fn = check_constants
        self.type_only_inputs, self.shape_only_inputs = frozenset(type_only_inputs), frozenset(shape_only_inputs)
        self.folds_weights = folds_weights

    def static_inputs(self, node):
        return _for_node(self.static, node)

    def weight_layouts(self, node):
        return _for_node(self.weights, node)

    def layout_of(self, node, index):
        """The layout input ``index`` is read in: "buffer", a weight layout, or None (as it is)."""
        return "buffer" if index in self.buffers else self.weight_layouts(node).get(index)

    def check_constants(self, node, values):
        return self.check_constants_fn(node, values) if self.check_constants_fn is not None else []


class GraphIR:
    """A network as nodes over named values.

    nodes: the ops, in topological order once :meth:`sort` has run; passes replace the list.
    inputs, outputs: the names the caller feeds and gets back.
    initializers: {name: numpy array} as the model stores them (weights and constants).
    constants: {name: numpy array}: the initializers and what ``fold_constants`` computed from them.
    kinds: {value name: DYNAMIC, CONSTANT or SHAPE}, set by ``fold_constants``.
    free_after: for each node, the values no later node reads (set by ``plan_memory``).
    host_inputs: {input name: numpy dtype} of the inputs that are integer data (indices, lengths): they
        are SHAPE values, fed as numpy arrays of that dtype and computed on the host.
    network_floats: the float dtypes (numpy names) the network's constants and weights may have; they
        are read as float32. "float32" only, unless the graph's inputs are of another float type
        (a double model, computed in float32).
    """

    def __init__(self, nodes, inputs, outputs, initializers, host_inputs=None):
        self.nodes = list(nodes)
        self.inputs, self.outputs = list(inputs), list(outputs)
        self.host_inputs = dict(host_inputs or {})
        self.network_floats = {"float32"}
        self.initializers = dict(initializers)
        self.constants = dict(initializers)
        self.kinds = {}
        self.free_after = [[] for _ in self.nodes]

    def kind_of(self, node):
        """Where ``node`` runs: DYNAMIC (in the network, on Tensors) or SHAPE (numpy, at run time)."""
        return self.kinds[node.outputs[0]]

    def producers(self):
        """{value name: the node computing it}."""
        return {out: node for node in self.nodes for out in node.outputs}

    def readers(self):
        """{value name: the nodes reading it, in order}."""
        readers = {}
        for node in self.nodes:
            for name in node.inputs:
                readers.setdefault(name, []).append(node)
        return readers

    def sort(self):
        """Puts the nodes in topological order (Kahn's algorithm, no recursion) and returns the
        problems: values nobody produces, values produced twice, cycles, outputs never computed.
        With a cycle the order is left as it was."""
        problems = []
        producer = {}
        for node in self.nodes:
            for out in node.outputs:
                if out in producer or out in self.initializers or out in self.inputs:
                    problems.append(problem(node, f"output {out!r} is produced twice"))
                producer[out] = node
        known = set(self.initializers) | set(self.inputs) | {""}
        waiting = {}
        ready = []
        for node in self.nodes:
            deps = set()
            for name in node.inputs:
                if name in known:
                    continue
                if name not in producer:
                    problems.append(problem(node, f"input {name!r} is neither a graph input, an initializer "
                                                  "nor any node's output (missing initializer?)"))
                    continue
                deps.add(name)
            waiting[node.name] = deps
            if not deps:
                ready.append(node)
        consumers = {}
        for node in self.nodes:
            for name in waiting[node.name]:
                consumers.setdefault(name, []).append(node)
        order = []
        while ready:
            node = ready.pop()
            order.append(node)
            for out in node.outputs:
                for consumer in consumers.pop(out, ()):
                    deps = waiting[consumer.name]
                    deps.discard(out)
                    if not deps:
                        ready.append(consumer)
        if len(order) != len(self.nodes):
            stuck = [n.name for n in self.nodes if n not in order]
            problems.append(problem(None, f"the graph has a cycle (or depends on one) through nodes "
                                          f"{', '.join(stuck[:10])}{' ...' if len(stuck) > 10 else ''}"))
        else:
            self.nodes = order
        for out in self.outputs:
            if out not in producer and out not in self.inputs and out not in self.initializers:
                problems.append(problem(None, f"graph output {out!r} is not produced by any node"))
        return problems

