"""Constant folding: decides where each node runs and computes at import what needs no input.

In topological order, each node's outputs get a kind (see pycnn.graph.ir):
- CONSTANT when every input is a constant: the node is computed now, with ``op.on_arrays``, and
  leaves the graph (Constant, ConstantOfShape, Cast, Reshape/Unsqueeze/Concat/Gather of constants);
- SHAPE when its inputs are constants and shapes and the op has ``on_arrays``: it stays, and runs on
  numpy arrays when the network runs (Shape -> Gather -> Concat -> Reshape chains);
- DYNAMIC otherwise: it runs in the network, on Tensors.

Limits, each reported as a problem naming the node rather than computed wrongly:
- a float32 initializer on its way to a weight slot (PRelu's reshaped slope, a transposed MatMul
  weight) is not folded: the op runs in the network so that the weight stays a trainable Parameter
  (Identity excepted: it folds, ``Op.folds_weights``);
- an op without ``on_tensors`` (Shape, Gather, Cast...) on the network's values is refused;
- an input an op needs before the network runs (``Op.static_inputs``: a Reshape's shape, Pad's pads)
  must not depend on the network's values;
- a constant feeding an op in the network must be float32 (or of a float type in
  ``ir.network_floats``: a double model's constants, read as float32; any type in the op's
  ``any_dtype_inputs``, which the loader converts), and pass the op's ``check_constants``;
- a fold that raises (a bad index, a huge ConstantOfShape) is reported with its error.
"""
import numpy as np

from ..ir import CONSTANT, DYNAMIC, SHAPE, problem

# What a numpy computation on a hostile constant raises; anything else is a bug and propagates.
FOLD_ERRORS = (ValueError, TypeError, IndexError, OverflowError, MemoryError)


def _dtype_name(array):
    return {"float64": "double"}.get(array.dtype.name, array.dtype.name)


def _input_kinds(ir, node, op):
    """The kind of each input as this op sees it (None for an absent one)."""
    kinds = [ir.kinds.get(name, CONSTANT) if name else None for name in node.inputs]
    for i in op.type_only_inputs:
        if i < len(kinds):
            kinds[i] = CONSTANT
    for i in op.shape_only_inputs:
        if i < len(kinds) and kinds[i] == DYNAMIC:
            kinds[i] = SHAPE
    return kinds


def _network_input_problems(ir, node, op, in_kinds):
    """Problems of a node that runs in the network: static inputs that depend on the network's values,
    constants the op refuses, constants that are not float32."""
    static = op.static_inputs(node)
    problems = [problem(node, f"input {i} ({node.inputs[i]!r}) must be a constant or computed from shapes, "
                              "but it depends on the network's values")
                for i, kind in enumerate(in_kinds) if i in static and kind == DYNAMIC]
    if op.on_tensors is None or DYNAMIC not in in_kinds:
        return problems
    known = [ir.constants.get(name) if name and ir.kinds.get(name) == CONSTANT else None for name in node.inputs]
    problems += [problem(node, message) for message in op.check_constants(node, known)]
    for i, value in enumerate(known):
        if value is not None and i not in static and value.dtype.name not in ir.network_floats and \
                i not in getattr(op, "any_dtype_inputs", ()):
            problems.append(problem(node, f"input {i} ({node.inputs[i]!r}) is {_dtype_name(value)}; pycnn computes "
                                          "in float32 (the model should Cast it)"))
    return problems


def _feeds_a_weight(ir, node, op):
    """True when a float32 initializer enters one of the node's data inputs (not a static one)."""
    static = op.static_inputs(node)
    return any(name in ir.initializers and ir.initializers[name].dtype == np.float32
               for i, name in enumerate(node.inputs) if name and i not in static)


def _unknown(ir, node):
    """The outputs of a node that cannot be computed (a problem is reported) count as network values,
    so that later nodes report their own problems instead of folding a value that is not there."""
    for name in node.outputs:
        ir.kinds[name] = DYNAMIC


def fold_constants(ir, ops, keep_weights_trainable=True):
    """Sets ``ir.kinds``, adds the folded values to ``ir.constants``, leaves in ``ir.nodes`` only the
    nodes that run with the network, and returns the problems (see the module docstring).

    keep_weights_trainable: False for inference, where no weight is trained: then a weight through a
    Transpose or Reshape folds like any other constant."""
    problems = []
    for name in ir.inputs:
        ir.kinds[name] = SHAPE if name in ir.host_inputs else DYNAMIC
    for name in ir.initializers:
        ir.kinds[name] = CONSTANT
    kept = []
    for node in ir.nodes:
        op = ops[node.op]
        static = op.static_inputs(node)
        in_kinds = _input_kinds(ir, node, op)
        problems += _network_input_problems(ir, node, op, in_kinds)
        data_kinds = [kind for i, kind in enumerate(in_kinds) if kind is not None and i not in static]
        on_arrays_only = op.on_tensors is None
        stays_trainable = (keep_weights_trainable and not on_arrays_only and not op.folds_weights
                           and _feeds_a_weight(ir, node, op))
        if on_arrays_only or (op.on_arrays is not None and not stays_trainable
                              and all(kind in (CONSTANT, SHAPE) for kind in data_kinds)):
            if DYNAMIC in in_kinds:
                problems.append(problem(node, f"{node.op} on the network's values is not supported "
                                              "(only on constants and shapes)"))
                _unknown(ir, node)
                continue
            out_kind = CONSTANT if all(kind == CONSTANT for kind in in_kinds if kind is not None) else SHAPE
        else:
            out_kind = DYNAMIC
        if out_kind == CONSTANT:
            try:
                values = op.on_arrays(node, [ir.constants.get(name) if name else None for name in node.inputs])
            except FOLD_ERRORS as error:
                problems.append(problem(node, f"folding failed: {error}"))
                _unknown(ir, node)
                continue
            for name, value in zip(node.outputs, values):
                ir.constants[name], ir.kinds[name] = np.asarray(value), CONSTANT
            continue
        for name in node.outputs:
            ir.kinds[name] = out_kind
        kept.append(node)
    ir.nodes = kept
    return problems
