"""Small helpers every op family uses: reading integer lists, axes and shapes from ONNX values that
may be numpy arrays (constants, shapes) or pycnn Tensors (the network's values)."""
import numpy as np

from ... import tensor_ops

INF = float("inf")


def ints(values):
    """Any array-like of integers as a list of Python ints."""
    return [int(v) for v in np.asarray(values).reshape(-1)]


def first_float(value):
    """The first element of a one-element array-like as a Python float (a bound, a ratio, a fill)."""
    return float(np.asarray(value).reshape(-1)[0])


def axis_index(axis, rank, node):
    """``axis`` in [-rank, rank - 1] as a non-negative index; ValueError naming the node otherwise."""
    a = axis + rank if axis < 0 else axis
    if not 0 <= a < max(rank, 1):
        raise ValueError(f"{node.op} {node.name!r}: axis {axis} is out of range for rank {rank}")
    return a


def shape_of(x):
    """The shape of a Tensor or array as a tuple of Python ints."""
    return tuple(int(d) for d in x.shape)


def reshape(x, shape):
    """``x`` viewed as ``shape``, a numpy array or a Tensor alike."""
    return x.reshape(shape) if isinstance(x, np.ndarray) else tensor_ops.reshape(x, tuple(shape))


def only_first_outputs_used(count):
    """A ``check`` refusing a node whose outputs past the first ``count`` are read."""
    def check(node, used):
        return [f"output {i} ({node.outputs[i]!r}) is used; pycnn computes only the first {count}"
                for i in range(count, len(node.outputs)) if used[i]]
    return check
