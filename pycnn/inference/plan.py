"""The inference plan: a graph compiled, once per input shape, into one C++ list of kernel calls over
one arena (``_C.InferencePlan``), with no Python between ops.

Per input shape (cached):
1. the graph runs once in Python (no autograd) to learn every value's shape; shape subgraphs
   (Shape -> Gather -> Concat -> Reshape) become constants for that shape;
2. ``fuse_conv`` fuses residual adds and ReLU/Clip/SiLU/HardSwish into the convolutions, ``fuse_conv_max_pool`` a
   max pool into the convolution before it where the plan has that kernel (the stems);
3. each node is lowered (pycnn.inference.lowering) to a C++ step, a view, or a Python step for what
   the C++ plan has no kernel for (it runs the op's own ``on_tensors`` on copies of its inputs);
   values that only steps taking channel blocks read (convolutions, a squeeze-and-excitation Mul, a
   global average pool) are kept so (lowering.channel_blocks; PYCNN_CHANNEL_BLOCKS=0 keeps every
   value NCHW);
4. the arena is planned (pycnn.inference.arena) and the C++ steps are added with their offsets.
Running copies the inputs into an arena, runs the C++ stretches (the GIL released) and the Python
steps between them, and copies the outputs out. Arenas are pooled, so several threads may run one
plan at once.
"""
import os
import threading
import time

import numpy as np

from .. import _C, tensor_ops
from ..autograd import no_grad
from ..graph import CONSTANT, DYNAMIC, SHAPE, GraphIR, execute, in_node, passes
from ..graph.executor import NODE_ERRORS
from ..nn import functional as F
from ..onnx.ops import IMPORTERS
from ..onnx.weights import op_input
from ..creation import from_numpy
from ..tensor import Tensor, tensor
from .arena import ALIGN, plan_arena
from .lowering import LOWERINGS, channel_blocks, conv_max_pool_fusable

OPS = dict(IMPORTERS, FusedConv=passes.fused_conv_op(IMPORTERS["Conv"], tensor_ops.clip, IMPORTERS["MaxPool"],
                                                     {"Silu": F.silu, "HardSwish": F.hardswish}),
           Silu=passes.silu_op(F.silu))


def _cache_line_aligned(floats):
    """An uninitialised float32 array whose first float starts a cache line (64 bytes): the arena
    planner aligns every value's offset to 16 floats, which lines the values up with cache lines and
    AVX-512 vectors only when the arena itself starts on one (numpy's own buffers start 16 bytes
    into a line). The same plan on one buffer at three offsets, 15 rounds: ResNet-20 at batch 1 1.030x
    the aligned time 16 bytes off, 1.018x 32 bytes off; ResNet-18 1.006x and 1.020x."""
    raw = np.empty(floats + ALIGN, np.float32)
    skip = (-raw.ctypes.data // 4) % ALIGN
    return raw[skip:skip + floats]


def _copy(ir):
    nodes = [n.copy() for n in ir.nodes]
    copy = GraphIR(nodes, ir.inputs, ir.outputs, {})
    copy.initializers, copy.constants, copy.kinds = ir.initializers, dict(ir.constants), dict(ir.kinds)
    return copy


class _Recorder(dict):
    """The executor's value table, remembering every value it was given (shapes for Tensors)."""

    def __init__(self, values):
        super().__init__()
        self.seen = {}
        for name, value in values.items():
            self[name] = value

    def __setitem__(self, name, value):
        self.seen[name] = tuple(value.shape) if isinstance(value, Tensor) else np.asarray(value)
        super().__setitem__(name, value)


class _Constants:
    """The graph's constants as the ops read them: numpy for static inputs, else Tensors in the op's
    layout (made once); network values from the executor's table."""

    def __init__(self, ir):
        self.ir, self.tensors = ir, {}

    def constant(self, name, layout, as_tensor):
        value = self.ir.constants[name]
        if not as_tensor:
            return value
        key = (name, layout)
        if key not in self.tensors:
            self.tensors[key] = op_input(value, layout, True)
        return self.tensors[key]

    def read_input(self, node, index, values, as_tensor):
        name = node.inputs[index]
        if not name:
            return None
        layout = OPS[node.op].layout_of(node, index)
        if name in values:  # (a shape-computed value, ConstantOfShape's, becomes a Tensor as data)
            return op_input(values[name], layout, as_tensor)
        return self.constant(name, layout, as_tensor)


def python_reference(ir, arrays):
    """The outputs (numpy) of ``ir`` run node by node by the Python executor, as pycnn.onnx's Graph runs:
    what the plan and each pass are checked against."""
    ir = _copy(ir)
    passes.plan_memory(ir)
    values = {name: tensor(np.asarray(a, dtype=np.float32)) for name, a in zip(ir.inputs, arrays)}
    with no_grad():
        values = execute(ir, OPS, values, _Constants(ir).read_input, False)
    return [values[name].numpy() if name in values else np.asarray(ir.constants[name]) for name in ir.outputs]


class _Context:
    """What a lowering function may ask of a value (see pycnn.inference.lowering)."""

    def __init__(self, ir, shapes):
        self.ir, self.shapes = ir, shapes
        self.blocks = {}  # values in channel blocks: {name: halo}, set before the steps are added

    def dynamic(self, name):
        return bool(name) and self.ir.kinds.get(name) == DYNAMIC

    def shape(self, name):
        return list(self.shapes[name]) if name in self.shapes else list(np.shape(self.ir.constants[name]))

    def const(self, name):
        return self.ir.constants.get(name) if name and self.ir.kinds.get(name) == CONSTANT else None


class CompiledPlan:
    """A plan for one set of input shapes: the C++ steps, the Python steps between them, the arena."""

    def __init__(self, ir, input_shapes):
        self.ir = ir = _copy(ir)
        self.constants = _Constants(ir)
        values = {name: tensor(np.zeros(shape, np.float32)) for name, shape in zip(ir.inputs, input_shapes)}
        passes.plan_memory(ir)
        recorder = _Recorder(values)
        with no_grad():
            execute(ir, OPS, recorder, self.constants.read_input, False)
        self.shapes = {name: seen for name, seen in recorder.seen.items() if isinstance(seen, tuple)}
        for node in [n for n in ir.nodes if ir.kind_of(n) == SHAPE]:  # fixed for these input shapes
            for name in node.outputs:
                ir.constants[name], ir.kinds[name] = recorder.seen[name], CONSTANT
        ir.nodes = [n for n in ir.nodes if ir.kind_of(n) == DYNAMIC]
        passes.fuse_conv(ir, self.shapes)
        passes.fuse_conv_max_pool(ir, self.shapes, conv_max_pool_fusable(_Context(ir, self.shapes)))
        self._lower()

    def _lower(self):
        ir, context = self.ir, _Context(self.ir, self.shapes)
        lowered, steps = [], []
        for node in ir.nodes:
            lower = LOWERINGS.get(node.op)
            try:
                native = lower(context, node) if lower is not None else None
            except NODE_ERRORS:
                native = None  # the Python op raises what is wrong with the node, naming it
            outputs = [name for name in node.outputs if name in self.shapes]
            if native is None:
                reads = [name for name in node.inputs if context.dynamic(name)]
                steps.append((reads, outputs, False, False))
            else:
                steps.append((native.reads, outputs, native.inplace, native.view))
            lowered.append(native)
        sizes = {name: int(np.prod(shape, dtype=np.int64)) for name, shape in self.shapes.items()}
        outputs = set(ir.outputs)
        # Values kept in channel blocks between row-tile convolutions (PYCNN_CHANNEL_BLOCKS=0: none).
        self.blocks = context.blocks = {} if os.environ.get("PYCNN_CHANNEL_BLOCKS") == "0" else \
            channel_blocks(ir.nodes, lowered, outputs)
        for name, halo in self.blocks.items():
            sizes[name] = _C.channel_blocks_floats(list(self.shapes[name]), halo)
        self.offsets, arena_floats = plan_arena(steps, ir.inputs, [o for o in ir.outputs if o in self.shapes], sizes)
        self.native = _C.InferencePlan(arena_floats)
        self.segments = []  # ("native", begin, end) stretches of C++ steps, or ("python", node)
        offset = self.offsets.__getitem__
        for node, native in zip(ir.nodes, lowered):
            if native is None:
                self.segments.append(("python", node))
            elif not native.view:
                begin = len(self.native)
                native.add(self.native, offset)
                if self.segments and self.segments[-1][0] == "native":
                    self.segments[-1] = ("native", self.segments[-1][1], len(self.native))
                else:
                    self.segments.append(("native", begin, len(self.native)))
        self.python_nodes = [node for kind, *rest in self.segments if kind == "python" for node in rest]
        self._spans = {name: (offset, offset + int(np.prod(self.shapes[name], dtype=np.int64)), self.shapes[name])
                       for name, offset in self.offsets.items() if name not in self.blocks}
        self._arenas = []  # idle (arena, input views, output views); list.pop/append are atomic

    def _view(self, arena, name):
        begin, end, shape = self._spans[name]
        return arena[begin:end].reshape(shape)

    def _take_arena(self):
        """An idle (arena, input views, output views) from the pool, or a new one; give it back with
        self._arenas.append."""
        try:
            return self._arenas.pop()
        except IndexError:
            arena = _cache_line_aligned(self.native.arena_floats)
            return (arena, [self._view(arena, name) for name in self.ir.inputs],
                    [self._view(arena, name) if name in self.shapes else None for name in self.ir.outputs])

    def _run_steps(self, arena, threads, times=None):
        """Runs every step on ``arena``; with ``times`` (a list), appends each step's seconds to it."""
        for kind, *where in self.segments:
            if kind == "native":
                seconds = None if times is None else np.zeros(where[1] - where[0])
                self.native.run(arena, where[0], where[1], threads or 0, seconds)
                if times is not None:
                    times += seconds.tolist()
            else:
                start = time.perf_counter()
                self._run_python(arena, where[0])
                if times is not None:
                    times.append(time.perf_counter() - start)

    def _run_python(self, arena, node):
        op = OPS[node.op]
        static = op.static_inputs(node)
        inputs = []
        for index, name in enumerate(node.inputs):
            layout = op.layout_of(node, index)
            if not name:
                inputs.append(None)
            elif name in self.shapes:
                inputs.append(op_input(tensor(self._view(arena, name)), layout, True))
            else:
                inputs.append(self.constants.constant(name, layout, index not in static))
        try:
            with no_grad():
                outputs = op.on_tensors(node, inputs, False)
        except NODE_ERRORS as error:
            raise in_node(error, node) from None
        for name, value in zip(node.outputs, outputs):
            if name in self.offsets:
                self._view(arena, name)[...] = value.numpy()

    def run(self, arrays, threads=None):
        """The outputs (numpy arrays) for ``arrays``, float32 numpy arrays of the compiled shapes."""
        slot = self._take_arena()
        arena, inputs, outputs = slot
        try:
            for view, array in zip(inputs, arrays):
                view[...] = array
            self._run_steps(arena, threads)
            return [view.copy() if view is not None else np.array(self.ir.constants[name])
                    for view, name in zip(outputs, self.ir.outputs)]
        finally:
            self._arenas.append(slot)

    def profile(self, arrays, runs=10, threads=None):
        """Each step's time as it runs inside whole runs of the plan (caches as the steps before left
        them, unlike a step timed alone): [(node name, op, median seconds over ``runs`` runs)], in
        running order, C++ and Python steps alike."""
        ops = {node.name: node.op for node in self.ir.nodes}
        names, columns = [], []
        for kind, *where in self.segments:
            if kind == "native":
                names += self.native.step_names[where[0]:where[1]]
            else:
                names.append(where[0].name)
        slot = self._take_arena()
        arena, inputs, _ = slot
        try:
            for _ in range(max(1, int(runs))):
                for view, array in zip(inputs, arrays):
                    view[...] = array
                times = []
                self._run_steps(arena, threads, times)
                columns.append(times)
        finally:
            self._arenas.append(slot)
        medians = np.median(np.asarray(columns), axis=0)
        return [(name, ops.get(name, "?"), float(t)) for name, t in zip(names, medians)]


class InferencePlan:
    """A network compiled for inference (see pycnn.optimize_for_inference): call it with its inputs
    (Tensors or numpy arrays, one per graph input) to get what the model returns, computed by the C++
    plan for those input shapes (compiled on first use and cached). No autograd: the outputs carry no
    gradient history.

    graph: the GraphIR (an imported ONNX graph: one graph serves every input shape), or a function of
    the input shapes returning one (a traced Module: its Python may build shape-dependent constants,
    so each new shape is traced again). ``threads``: the OpenMP threads the plan's kernels use (None:
    pycnn.get_num_threads()). ``python_nodes(*shapes)``: the nodes that run in Python for those shapes
    (the C++ plan has no kernel for them); empty for the usual CNN layers."""

    def __init__(self, graph, input_names=None, threads=None):
        if isinstance(graph, GraphIR):
            fixed = self._prepare(graph)
            self._graph_for = lambda shapes: fixed
            input_names = fixed.inputs
        else:
            self._graph_for = lambda shapes: self._prepare(graph(shapes))
        self.threads = threads
        self.input_names = list(input_names)
        self._compiled = {}
        self._last = (None, None)
        self._lock = threading.Lock()

    @staticmethod
    def _prepare(ir):
        """The passes that hold for every input shape."""
        passes.remove_identity(ir)
        passes.fold_batch_norm(ir)
        passes.fuse_swish(ir)
        passes.prune_unused(ir)
        return ir

    def compiled(self, *shapes):
        """The CompiledPlan for these input shapes (built now if it is the first time)."""
        key = tuple(tuple(int(d) for d in s) for s in shapes)
        with self._lock:
            plan = self._compiled.get(key)
        if plan is None:
            plan = CompiledPlan(self._graph_for(key), key)
            with self._lock:
                plan = self._compiled.setdefault(key, plan)
        return plan

    def python_nodes(self, *shapes):
        return [node.name for node in self.compiled(*shapes).python_nodes]

    def profile(self, *inputs, runs=10):
        """[(node name, op, median seconds)] of each step inside ``runs`` whole runs on ``inputs``
        (float32 numpy arrays), as onnxruntime's profiling tells where the time goes."""
        arrays = [np.ascontiguousarray(np.asarray(x.numpy() if isinstance(x, Tensor) else x, dtype=np.float32))
                  for x in inputs]
        return self.compiled(*(a.shape for a in arrays)).profile(arrays, runs, self.threads)

    def run(self, arrays):
        """Runs the plan on float32 numpy arrays (one per input) and returns numpy arrays."""
        shapes = tuple(a.shape for a in arrays)
        last = self._last  # (shapes, plan) of the previous call: the usual case skips the cache's lock
        plan = last[1] if last[0] == shapes else self.compiled(*shapes)
        self._last = (shapes, plan)
        return plan.run(arrays, self.threads)

    def __call__(self, *inputs):
        if len(inputs) != len(self.input_names):
            raise ValueError(f"InferencePlan: expected {len(self.input_names)} input(s) "
                             f"({', '.join(self.input_names)}), got {len(inputs)}")
        arrays = []
        for name, x in zip(self.input_names, inputs):
            if isinstance(x, Tensor):
                if x.device != "cpu":
                    raise ValueError(f"InferencePlan: input {name!r} is on {x.device}; the plan runs on the CPU")
                x = x.numpy()
            array = np.asarray(x)
            if not np.issubdtype(array.dtype, np.floating):
                raise TypeError(f"InferencePlan: expected input {name!r} to be float32, got {array.dtype}")
            arrays.append(np.ascontiguousarray(array, dtype=np.float32))
        # Fresh float32 arrays are shared, not copied; a constant output of another dtype converts.
        outputs = [from_numpy(out) if out.dtype == np.float32 else tensor(out) for out in self.run(arrays)]
        return outputs[0] if len(outputs) == 1 else tuple(outputs)
