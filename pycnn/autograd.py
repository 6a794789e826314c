"""The autograd tape.

Every differentiable op is a :class:`Function`: ``forward`` runs the op's C++ forward kernel on raw
``_C.Tensor`` values and saves what backward needs on ``self``; ``backward`` receives the gradient of
the output and returns one gradient (or ``None``) per positional input, again as raw ``_C.Tensor``
values. ``Function.apply`` wraps inputs and output in :class:`pycnn.Tensor` and, when gradients are
wanted, links the output to the Function that made it; the Function links to the Functions that made
its inputs (or to the leaf tensors themselves), never to intermediate tensors, so an activation
lives only as long as a Function keeps it saved. ``Tensor.backward`` walks those links in reverse
topological order, summing gradients where a tensor feeds several ops (residual and inception
branches) and accumulating (``+=``) into the ``.grad`` of leaf tensors.

Two checks keep a gradient from being silently wrong, as in PyTorch:

- Every ``_C.Tensor`` a Function holds after its forward (directly, or in a tuple or list attribute)
  counts as saved for backward: its storage's version counter (bumped by every in-place write) is
  recorded then and compared before the backward uses it. A mismatch raises RuntimeError naming the
  Function and both versions.
- Backward frees each Function's saved tensors once it has run, unless ``retain_graph=True``; going
  through such a Function again raises RuntimeError. Functions that saved no tensor (add, reshape,
  sum) can be gone through again, as in PyTorch.

Anomaly detection (PyTorch's ``detect_anomaly`` / ``set_detect_anomaly``): while it is on, each op
records the stack of its forward call, and backward checks every gradient an op returns; the first
holding NaN raises RuntimeError naming that op's backward, its forward op and where the forward
was called, after a warning with the forward's whole traceback, as torch does. It costs a stack capture
per op and a pass over every gradient, so it is for debugging only.
"""
import contextlib
import os
import sys
import threading
import traceback
import warnings

import numpy as np

from . import _C

_state = threading.local()

# The class Function.apply wraps results in: pycnn.Tensor, set by pycnn.tensor when it defines it
# (pycnn.tensor imports this module for the tape, so this module does not import it back).
Tensor = None

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


# Anomaly mode is global, as in PyTorch (not per thread): [enabled, check_nan].
_anomaly = [False, True]


def is_anomaly_enabled():
    """True while anomaly detection is on (``detect_anomaly`` / ``set_detect_anomaly``)."""
    return _anomaly[0]


def is_anomaly_check_nan_enabled():
    """True while anomaly detection checks backward's gradients for NaN."""
    return _anomaly[0] and _anomaly[1]


class detect_anomaly:
    """Context manager (or decorator) that turns anomaly detection on inside it, like
    ``torch.autograd.detect_anomaly(check_nan=True)``: the first op whose backward returns a gradient
    holding NaN raises RuntimeError naming it and the forward call that made it."""

    def __init__(self, check_nan=True):
        self.check_nan = bool(check_nan)
        self.previous = None

    def __enter__(self):
        self.previous = list(_anomaly)
        _anomaly[:] = [True, self.check_nan]
        return self

    def __exit__(self, *exc):
        _anomaly[:] = self.previous
        return False

    def __call__(self, function):
        def wrapped(*args, **kwargs):
            with detect_anomaly(self.check_nan):
                return function(*args, **kwargs)
        return wrapped


class set_detect_anomaly:
    """Turns anomaly detection on or off now, like ``torch.autograd.set_detect_anomaly(mode,
    check_nan=True)``; used as a context manager, the previous setting comes back at its end."""

    def __init__(self, mode, check_nan=True):
        self.previous = list(_anomaly)
        _anomaly[:] = [bool(mode), bool(check_nan)]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _anomaly[:] = self.previous
        return False


_PACKAGE = os.path.dirname(os.path.abspath(__file__))


def _op_names(fn):
    """(backward name, forward name) of a Function: Conv2dFunction -> ('Conv2dBackward', 'Conv2d');
    BinaryFunction with op 'div' -> ('BinaryBackward (div)', 'Binary (div)')."""
    base = type(fn).__name__
    base = base[: -len("Function")] if base.endswith("Function") and base != "Function" else base
    op = fn.__dict__.get("op")
    detail = f" ({op})" if isinstance(op, str) else ""
    return f"{base}Backward{detail}", base + detail


def _check_gradients(fn, input_grads):
    """Anomaly mode: raises RuntimeError when one of ``fn``'s input gradients holds NaN (as torch, not
    Inf: the gradient of sqrt at 0 is a legitimate inf)."""
    for i, g in enumerate(input_grads):
        if not isinstance(g, _C.Tensor) or g.dtype != "float32":
            continue
        if not np.isnan(g.numpy()).any():
            continue
        backward_name, forward_name = _op_names(fn)
        stack = getattr(fn, "forward_stack", None) or []
        caller = next((frame for frame in reversed(stack) if not frame.filename.startswith(_PACKAGE)), None)
        where = f" at {caller.filename}:{caller.lineno} ({caller.line})" if caller is not None else ""
        if stack:
            warnings.warn(f"Error detected in {backward_name}. Traceback of forward call that caused the error:\n"
                          + "".join(traceback.format_list(stack)), RuntimeWarning, stacklevel=3)
        raise RuntimeError(f"Function '{backward_name}' returned nan values in its {i}th output "
                           f"(gradient of shape {tuple(g.shape)}); its forward op {forward_name} was "
                           f"called{where or ' before anomaly detection was on'}.")


_FREED = ("Trying to backward through the graph a second time (or directly access saved tensors after "
          "they have already been freed). Saved intermediate values of the graph are freed when you "
          "call .backward(). Specify retain_graph=True if you need to backward through the graph a "
          "second time or if you need to access saved tensors after calling backward.")


def _saved_versions(fn):
    """(tensor, version) for each raw tensor ``fn`` holds after its forward: what backward may read.
    A plain loop: it runs once per op of every training step."""
    raw_tensor = _C.Tensor
    saved = []
    for value in fn.__dict__.values():
        if isinstance(value, raw_tensor):
            saved.append((value, value._version))
        elif isinstance(value, (tuple, list)):
            for item in value:
                if isinstance(item, raw_tensor):
                    saved.append((item, item._version))
    return saved


class Function:
    """Base of every differentiable op. Subclasses implement ``forward`` and ``backward``.

    ``edges`` holds, per positional input, the Function that made it, the leaf Tensor itself, or None
    where no gradient flows; ``saved_versions`` pairs each saved raw tensor with its version at the
    end of forward (None once backward freed them); ``consumed`` is set once an op has taken the
    output as an input (an in-place op may fuse into a Function only before that)."""

    __slots__ = ("edges", "needs_input_grad", "saved_versions", "forward_stack", "consumed", "__dict__")

    def forward(self, *args, **kwargs):
        raise NotImplementedError

    def backward(self, grad_output):
        raise NotImplementedError

    def takes_input_grad(self):
        """True when ``backward`` adds ``self.input_grad`` (set by the tape just before it: the
        gradient its first input already has from the ops that ran before, such as a residual
        block's shortcut) into the first gradient it returns, in its kernel's own pass; the tape then
        skips the separate add. Functions that do not override this get the tape's add."""
        return False

    @classmethod
    def apply(cls, *args, **kwargs):
        fn = cls()
        # One pass over the arguments (this runs for every op): the raw values for forward and,
        # per argument, the edge backward follows (None where no gradient flows).
        raw, edges, wanted = [], [], False
        for a in args:
            if isinstance(a, Tensor):
                raw.append(a._data)
                if a.requires_grad:
                    producer = a._fn
                    if producer is None:
                        edges.append(a)
                    else:
                        producer.consumed = True
                        edges.append(producer)
                    wanted = True
                    continue
            else:
                raw.append(a)
            edges.append(None)
        track = wanted and is_grad_enabled()
        fn.needs_input_grad = tuple(e is not None for e in edges) if track else (False,) * len(args)
        out = fn.forward(*raw, **kwargs)
        result = Tensor._wrap(out, requires_grad=track)
        if tracer is not None:
            tracer(cls, args, kwargs, result)
        if track:
            fn.edges = edges
            fn.saved_versions = _saved_versions(fn)
            if _anomaly[0]:
                fn.forward_stack = traceback.extract_stack()[:-1]
            result._fn = fn
        return result

    @classmethod
    def apply_in_place(cls, t, *params):
        """Runs ``forward_in_place(raw, *params)``, which overwrites Tensor ``t``'s memory with the
        op's result, and returns ``t``; when the tape records, ``t``'s history now runs through this
        Function (the op that made ``t`` before becomes its input), as torch rebases a tensor's
        history after an in-place op. Only for a ``t`` that :func:`writable_in_place` allows."""
        fn = cls()
        track = t.requires_grad and is_grad_enabled()
        fn.needs_input_grad = (track,) + (False,) * len(params)
        fn.forward_in_place(t._data, *params)
        if track:
            t._fn.consumed = True
            fn.edges = [t._fn] + [None] * len(params)
            fn.saved_versions = _saved_versions(fn)
            if _anomaly[0]:
                fn.forward_stack = traceback.extract_stack()[:-1]
            t._fn = fn
        return t

    def _check_saved(self):
        """Raises RuntimeError when backward freed the saved tensors or one was written in place."""
        if self.saved_versions is None:
            raise RuntimeError(f"{_FREED} (The graph was freed at {type(self).__name__}.)")
        for t, version in self.saved_versions:
            now = t._version
            if now != version:
                op = self.__dict__.get("op")  # BinaryFunction's 'add', 'mul', ...
                name = type(self).__name__ + (f" ({op})" if isinstance(op, str) else "")
                raise RuntimeError(
                    "one of the variables needed for gradient computation has been modified by an "
                    f"inplace operation: [pycnn {t.dtype} tensor of shape {tuple(t.shape)}], which "
                    f"{name} saved for backward, is at version {now}; expected version "
                    f"{version} instead. Hint: an in-place write (zero_, copy_, an optimizer step, "
                    "load_state_dict, ...) changed it after the forward pass that saved it; run the "
                    "forward again after the write, or write to a clone().")

    def _free_saved(self):
        """Drops what forward saved (the activations); a later backward through here raises."""
        if self.saved_versions:
            self.__dict__.clear()
            self.saved_versions = None


def _refcount_of_argument(value):
    return sys.getrefcount(value)


def _one_local_refcount():
    held = []  # held by this frame only, then passed to one function
    return _refcount_of_argument(held)


# What sys.getrefcount reports, inside a function, for an argument that only the caller's local
# holds: the interpreter's own count for that pattern (it differs between Python versions), measured
# once. _owned below is called the same way.
_SOLE_LOCAL = _one_local_refcount()


class _Holder:
    __slots__ = ("value",)


def _attribute_refcount():
    holder = _Holder()
    holder.value = [0]  # held by the attribute only
    return sys.getrefcount(holder.value)


# sys.getrefcount(t._data) when the Tensor t is all that holds its raw tensor (measured once).
_SOLE_ATTRIBUTE = _attribute_refcount()


def writable_in_place(t):
    """True when an op may overwrite Tensor ``t``'s memory (``inplace=True``): a CPU tensor whose raw
    tensor nothing but ``t`` holds (no Function saved it for backward) and whose memory nothing else
    shares (no view, no numpy array), that is not a leaf requiring grad, and no export is tracing.
    Otherwise the op makes a new tensor, as it did before it honoured ``inplace``."""
    return (tracer is None and t.device == "cpu" and not (t.requires_grad and t._fn is None)
            and sys.getrefcount(t._data) <= _SOLE_ATTRIBUTE and t._data._sole_owner)


def _owned(grad):
    """True when ``grad`` (held by one local in the caller) is referenced by nothing else and its
    memory shared with no other tensor, array or outside owner: the leaf may then take it as its
    ``.grad`` instead of a copy, as torch's AccumulateGrad steals a gradient nobody else holds.
    AlexNet's 61M parameters made that copy 37 ms of a 1.1 s training step."""
    return sys.getrefcount(grad) <= _SOLE_LOCAL and grad._sole_owner


def _accumulate(current, new):
    if current is None:
        return new
    return _C.binary_forward(current, new, 0)


def backward(root, grad, retain_graph=False):
    """Back-propagates ``grad`` (a raw ``_C.Tensor`` shaped like ``root``) through the tape; frees
    each Function's saved tensors after it ran unless ``retain_graph``."""
    callbacks = _final_callbacks()
    try:
        if root._fn is None:
            if root.requires_grad:
                root._accumulate_grad(grad)
        else:
            _run_tape(root, grad, retain_graph)
        while callbacks:
            callbacks.pop(0)()
    finally:
        callbacks.clear()


def _run_tape(root, grad, retain_graph):
    """backward's walk: every Function reachable from ``root`` in reverse topological order."""
    order = []
    visited = set()
    stack = [(root._fn, False)]
    while stack:  # iterative DFS: DenseNet-sized tapes are deeper than Python's recursion limit
        fn, expanded = stack.pop()
        if expanded:
            order.append(fn)
            continue
        if id(fn) in visited:
            continue
        visited.add(id(fn))
        stack.append((fn, True))
        for edge in fn.edges:
            if isinstance(edge, Function) and id(edge) not in visited:
                stack.append((edge, False))

    # A leaf's gradient is final once every Function with an edge to it has run (or been skipped):
    # count those edges, and accumulate into .grad (firing the leaf's post-accumulate-grad hooks)
    # as soon as the count reaches zero, so DistributedDataParallel starts reducing the last
    # layers' gradients while backward still computes the first layers'.
    pending = {}  # id -> Function edges still to come
    for fn in order:
        for edge in fn.edges:
            if edge is not None and not isinstance(edge, Function):
                pending[id(edge)] = pending.get(id(edge), 0) + 1
    grads = {id(root._fn): grad}
    leaves = {}  # id -> [leaf tensor, summed gradient so far]
    for fn in reversed(order):
        g = grads.pop(id(fn), None)
        input_grads = ()
        if g is not None:
            fn._check_saved()
            first = fn.edges[0] if fn.edges else None
            if isinstance(first, Function) and id(first) in grads and fn.takes_input_grad():
                fn.input_grad = grads.pop(id(first))  # backward returns it summed into its own
            input_grads = fn.backward(g)
            if not isinstance(input_grads, tuple):
                input_grads = (input_grads,)
            if _anomaly[0] and _anomaly[1]:
                _check_gradients(fn, input_grads)
            if not retain_graph:
                fn._free_saved()
            input_grads = list(input_grads)  # each taken out below, so refcounts show sharing
        for i, edge in enumerate(fn.edges):
            if edge is None:
                continue
            edge_grad = None
            if i < len(input_grads):
                edge_grad, input_grads[i] = input_grads[i], None
            if isinstance(edge, Function):
                if edge_grad is not None:
                    grads[id(edge)] = _accumulate(grads.get(id(edge)), edge_grad)
                continue
            entry = leaves.setdefault(id(edge), [edge, None])
            if edge_grad is not None:
                entry[1] = _accumulate(entry[1], edge_grad)
            pending[id(edge)] -= 1
            if pending[id(edge)] == 0 and entry[1] is not None and edge.requires_grad:
                summed, entry[1], edge_grad = entry[1], None, None  # it lives on in .grad only
                owned = _owned(summed)
                edge._accumulate_grad(summed, owned)
                summed = None


def _final_callbacks():
    """The list ``queue_callback`` appends to, for the backward running in this thread."""
    queued = getattr(_state, "final_callbacks", None)
    if queued is None:
        queued = _state.final_callbacks = []
    return queued


def queue_callback(callback):
    """Runs ``callback()`` once the backward running in this thread has accumulated every leaf
    gradient (torch's ``Variable._execution_engine.queue_callback``): called from a gradient hook,
    it lets DistributedDataParallel wait for its last all-reduce before ``backward()`` returns."""
    _final_callbacks().append(callback)

