"""The autograd tape.

Every differentiable op is a :class:`Function`: ``forward`` runs the op's C++ forward kernel on raw
``_C.Tensor`` values and saves what backward needs on ``self``; ``backward`` receives the gradient of
the output and returns one gradient (or ``None``) per positional input, again as raw ``_C.Tensor``
values. ``Function.apply`` wraps inputs and output in :class:`pycnn.Tensor` and, when gradients are
wanted, links the output to the Function that made it. ``Tensor.backward`` walks those links in
reverse topological order, summing gradients where a tensor feeds several ops (residual and
inception branches) and accumulating (``+=``) into the ``.grad`` of leaf tensors.
"""
import contextlib
import threading

from . import _C

_state = threading.local()

# Set by pycnn.onnx.export while it records a forward pass: called as tracer(cls, args, kwargs, out)
# for every op, so the exporter sees each op once, with its normalised arguments, and no op is
# written twice.
tracer = None


def is_grad_enabled():
    """True unless inside ``pycnn.no_grad()`` (per thread, like PyTorch)."""
    return getattr(_state, "enabled", True)


@contextlib.contextmanager
def no_grad():
    """Context manager: ops inside record no tape and their outputs need no gradient."""
    previous = is_grad_enabled()
    _state.enabled = False
    try:
        yield
    finally:
        _state.enabled = previous


@contextlib.contextmanager
def enable_grad():
    """Context manager: re-enables the tape inside a ``no_grad`` block."""
    previous = is_grad_enabled()
    _state.enabled = True
    try:
        yield
    finally:
        _state.enabled = previous


class Function:
    """Base of every differentiable op. Subclasses implement ``forward`` and ``backward``."""

    __slots__ = ("inputs", "needs_input_grad", "__dict__")

    def forward(self, *args, **kwargs):
        raise NotImplementedError

    def backward(self, grad_output):
        raise NotImplementedError

    @classmethod
    def apply(cls, *args, **kwargs):
        from .tensor import Tensor

        fn = cls()
        raw = [a._data if isinstance(a, Tensor) else a for a in args]
        needs = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
        track = any(needs) and is_grad_enabled()
        fn.needs_input_grad = needs if track else (False,) * len(args)
        out = fn.forward(*raw, **kwargs)
        result = Tensor._wrap(out, requires_grad=track)
        if tracer is not None:
            tracer(cls, args, kwargs, result)
        if track:
            fn.inputs = tuple(a if isinstance(a, Tensor) else None for a in args)
            result._fn = fn
        return result


def _accumulate(current, new):
    if current is None:
        return new
    return _C.binary_forward(current, new, 0)


def backward(root, grad):
    """Back-propagates ``grad`` (a raw ``_C.Tensor`` shaped like ``root``) through the tape."""
    order = []
    visited = set()
    stack = [(root, False)]
    while stack:  # iterative DFS: DenseNet-sized tapes are deeper than Python's recursion limit
        tensor, expanded = stack.pop()
        if expanded:
            order.append(tensor)
            continue
        if id(tensor) in visited:
            continue
        visited.add(id(tensor))
        stack.append((tensor, True))
        fn = tensor._fn
        if fn is not None:
            for parent in fn.inputs:
                if parent is not None and parent.requires_grad and id(parent) not in visited:
                    stack.append((parent, False))

    grads = {id(root): grad}
    for tensor in reversed(order):
        g = grads.pop(id(tensor), None)
        if g is None:
            continue
        fn = tensor._fn
        if fn is None:
            if tensor.requires_grad:
                tensor._accumulate_grad(g)
            continue
        input_grads = fn.backward(g)
        if not isinstance(input_grads, tuple):
            input_grads = (input_grads,)
        for parent, parent_grad in zip(fn.inputs, input_grads):
            if parent is None or parent_grad is None or not parent.requires_grad:
                continue
            grads[id(parent)] = _accumulate(grads.get(id(parent)), parent_grad)
