"""``export``: any pycnn Module as an ONNX file, by recording one forward pass.

While the model runs on an example input, ``pycnn.autograd.tracer`` sees every op once, with the
normalised arguments its autograd Function received (strides as pairs, padding resolved, ...), and
appends the matching ONNX node; parameters and buffers become initializers under their
``named_parameters`` names, other tensors the forward pass made (constants) become initializers too.
The batch dimension is exported as the symbolic 'N'. The model is traced in eval mode (dropout off,
batch norm on running statistics) and its modes are restored afterwards.
"""
import numpy as np

from .. import autograd
from ..autograd import no_grad
from ..files import atomic_write, require_folder
from ..tensor import tensor
from .errors import OnnxExportError
from .ops import EXPORTERS
from .parse import require_onnx

MIN_EXPORT_OPSET, MAX_EXPORT_OPSET = 13, 21


class ExportTrace:
    """The ``pycnn.autograd.tracer`` hook while a model is exported: for each op the forward pass runs,
    the op's emitter (registered with ``@exporter`` in pycnn.onnx.ops) is called with this trace, the
    op's output Tensor and the arguments its autograd Function received, and appends ONNX nodes."""

    def __init__(self, opset, named_tensors, helper):
        self.opset = opset
        self.helper = helper  # onnx.helper
        self.nodes, self.initializers, self.errors = [], {}, []
        self.names = {}  # id(Tensor) -> ONNX value name
        self.keep = []  # every traced tensor stays alive so that ids are not reused mid-trace
        self.named = {id(t): (name, t) for name, t in named_tensors}
        self.counter = 0

    # ----- values -------------------------------------------------------------------------------
    def fresh(self, stem):
        """A new value name: ``stem`` and a number."""
        self.counter += 1
        return f"{stem}_{self.counter}"

    def set_name(self, t, name):
        """Tensor ``t`` is the ONNX value ``name`` from now on."""
        self.names[id(t)] = name
        self.keep.append(t)

    def name_of(self, t):
        """The ONNX value of Tensor ``t`` ('' for None); a Tensor no op made (a parameter, buffer or
        constant) becomes an initializer."""
        if t is None:
            return ""
        key = id(t)
        if key in self.names:
            return self.names[key]
        name = self.named[key][0] if key in self.named else self.fresh("const")
        self.set_name(t, name)
        self.initializers[name] = np.array(t.numpy(), copy=True)
        return name

    def const(self, array, stem="const"):
        """A new initializer holding ``array``; returns its name."""
        name = self.fresh(stem)
        self.initializers[name] = np.asarray(array)
        return name

    def alias(self, out, x):
        """``out`` is the same ONNX value as ``x`` (a copy between devices)."""
        self.set_name(out, self.name_of(x))

    def node(self, op, inputs, out=None, **attrs):
        """Appends an ONNX node of type ``op``; its output is the value of Tensor ``out`` (None: an
        intermediate value). Returns the output's name."""
        out_name = self.fresh(op)
        if out is not None:
            self.set_name(out, out_name)
        self.nodes.append(self.helper.make_node(op, inputs, [out_name], name=out_name, **attrs))
        return out_name

    # ----- the hook -----------------------------------------------------------------------------
    def __call__(self, cls, args, kwargs, out):
        emit = EXPORTERS.get(cls)
        if emit is None:
            self._unsupported(out, f"{cls.__name__} (no ONNX equivalent in pycnn's exporter)")
            return
        try:
            emit(self, out, *args, **kwargs)
        except OnnxExportError as error:
            self._unsupported(out, str(error))

    def _unsupported(self, out, message):
        self.errors.append(message)
        self.set_name(out, self.fresh("unsupported"))


def trace(model, x, tracer):
    """Runs ``model`` on the Tensor ``x`` (the value "input") in eval mode with ``tracer`` as the
    autograd tracer, restores the modules' modes and returns the outputs as a tuple; raises
    OnnxExportError listing the ops that have no ONNX equivalent. pycnn.inference traces a Module into
    a graph the same way."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    tracer.set_name(x, "input")
    autograd.tracer = tracer
    try:
        with no_grad():
            out = model(x)
    finally:
        autograd.tracer = None
        for module, mode in modes:
            object.__setattr__(module, "training", mode)
    if tracer.errors:
        raise OnnxExportError("export: cannot write these ops as ONNX:\n  " + "\n  ".join(tracer.errors))
    return out if isinstance(out, tuple) else (out,)


def _value_info(onnx, name, shape, batch):
    dims = ["N" if i == 0 and d == batch else d for i, d in enumerate(shape)]
    return onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, dims)


def export(model, path, input_shape, opset=17):
    """Writes ``model`` to ``path`` as ONNX (the default opset 17; 13 to 21) and returns ``path``.

    input_shape: one example batch, e.g. (1, 3, 224, 224); its first dimension is exported as the
    dynamic batch 'N'. The file passes onnx.checker's full check and is written atomically."""
    onnx = require_onnx()
    helper = onnx.helper
    if isinstance(opset, bool) or not isinstance(opset, int) or not MIN_EXPORT_OPSET <= opset <= MAX_EXPORT_OPSET:
        raise ValueError(f"export: expected opset between {MIN_EXPORT_OPSET} and {MAX_EXPORT_OPSET}, got {opset!r}")
    shape = tuple(input_shape)
    if not shape or any(isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d <= 0 for d in shape):
        raise ValueError(f"export: expected input_shape to be positive ints like (1, 3, 224, 224), got {input_shape!r}")
    if hasattr(model, "input_dtype") and any(model.input_dtype(n) != "float32" for n in model.input_names):
        raise OnnxExportError(f"export: writes models with one float32 input; this graph's inputs "
                              f"{[(n, model.input_dtype(n)) for n in model.input_names]} include integer ones")
    require_folder(path, "export")  # before the trace: a missing folder is FileNotFoundError, never created
    params = list(model.named_parameters()) + list(model.named_buffers())
    device = params[0][1].device if params else "cpu"
    x = tensor(np.random.default_rng(0).standard_normal(shape).astype(np.float32), device=device)
    tracer = ExportTrace(opset, params, helper)
    outs = trace(model, x, tracer)
    out_names = ["output"] if len(outs) == 1 else [f"output_{i}" for i in range(len(outs))]
    rename = {}
    nodes = tracer.nodes
    for t, name in zip(outs, out_names):
        value = tracer.names.get(id(t))
        if value is None or value == "input" or value in rename or value in tracer.initializers:
            nodes.append(helper.make_node("Identity", [tracer.name_of(t)], [name], name=name))
        else:
            rename[value] = name
    for node in nodes:
        node.input[:] = [rename.get(n, n) for n in node.input]
        node.output[:] = [rename.get(n, n) for n in node.output]
    used = {n for node in nodes for n in node.input}
    initializers = [onnx.numpy_helper.from_array(v, name) for name, v in tracer.initializers.items() if name in used]
    graph = helper.make_graph(nodes, "pycnn", [_value_info(onnx, "input", shape, shape[0])],
                              [_value_info(onnx, n, tuple(t.shape), shape[0]) for n, t in zip(out_names, outs)],
                              initializers)
    proto = helper.make_model(graph, producer_name="pycnn", opset_imports=[helper.make_opsetid("", opset)])
    proto.ir_version = min(proto.ir_version, 8 if opset <= 17 else 9 if opset <= 19 else 10)
    onnx.checker.check_model(proto, full_check=True)
    data = proto.SerializeToString()
    atomic_write(path, lambda f: f.write(data), "export")
    return path
