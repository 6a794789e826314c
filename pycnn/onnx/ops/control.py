"""ONNX If. A condition known before the network runs, a constant (folded at import with the branch it
picks) or one computed from shapes (PyTorch's exports test a dimension: LocalResponseNorm's
``If(Equal(Gather(Shape(x), 1), 1))``), picks its branch on the host; a condition computed from the
network's values (``If(Greater(ReduceSum(x), 0))``) is read when the graph runs (its one value copied to
the host) and picks the branch of that run. The branch runs node by node with the ops of this package,
on numpy arrays where all its inputs are constants or shapes and on Tensors otherwise, so gradients flow
through the branch taken (the condition itself has none, as a comparison's 0/1 result has none)."""
import numpy as np

from ...tensor import Tensor
from ..weights import op_input
from .registry import IMPORTERS, importer

_BRANCHES = ("then_branch", "else_branch")


def _if_problems(node, used):
    problems = [f"{key} is required" for key in _BRANCHES if key not in node.attrs]
    for key in _BRANCHES:
        branch = node.attrs.get(key)
        if branch is None:
            continue
        if len(branch.outputs) != len(node.outputs):
            problems.append(f"{key} has {len(branch.outputs)} outputs, the node {len(node.outputs)}")
        for sub in branch.nodes:
            op = IMPORTERS.get(sub.op)
            if op is None:
                problems.append(f"{key}: node {sub.name!r}: op {sub.op} is not supported")
                continue
            problems += [f"{key}: node {sub.name!r} ({sub.op}): {message}"
                         for message in op.problems(sub, [True] * len(sub.outputs))]
    return problems


def _run_branch(node, inputs, training, as_arrays):
    """The outputs of the branch the condition (input 0) picks, its outer values bound to inputs 1..."""
    condition = inputs[0]
    if isinstance(condition, Tensor):  # computed by the network (a float 0/1 or any value): read now
        condition = condition.numpy()  # (a copy from the device; no autograd node)
    condition = np.asarray(condition)
    if condition.size != 1:
        raise ValueError(f"If {node.name!r}: the condition has {condition.size} elements, expected 1")
    branch = node.attrs["then_branch" if bool(condition.reshape(-1)[0]) else "else_branch"]
    values = dict(branch.initializers)
    values.update(zip(node.inputs[1:], inputs[1:]))
    device = next((x.device for x in inputs[1:] if isinstance(x, Tensor)), "cpu")
    for sub in branch.nodes:
        op = IMPORTERS[sub.op]
        args = [values[name] if name else None for name in sub.inputs]
        if all(not isinstance(a, Tensor) for a in args) and op.on_arrays is not None:
            outputs = op.on_arrays(sub, args)
        elif as_arrays or op.on_tensors is None:
            raise ValueError(f"If {node.name!r}: node {sub.name!r} ({sub.op}) cannot run on "
                             f"{'constants' if as_arrays else 'the network values it reads'}")
        else:
            static = op.static_inputs(sub)
            # as the Graph gives them: constants as Tensors, in the layout the op reads (MatMul's B transposed)
            args = [op_input(a, op.layout_of(sub, i), i not in static, device) for i, a in enumerate(args)]
            outputs = op.on_tensors(sub, args, training)
        values.update(zip(sub.outputs, outputs))
    return tuple(values[name] for name in branch.outputs)


@importer("If", on_arrays=lambda node, inputs: _run_branch(node, inputs, False, True), check=_if_problems,
          inputs=(1, None), outputs=1 << 16, attrs=_BRANCHES, any_dtype_inputs=range(1 << 16))
def import_if(node, inputs, training):
    return _run_branch(node, inputs, training, False)
