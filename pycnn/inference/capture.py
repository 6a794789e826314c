"""A model as a graph for the plan: a pycnn Module is traced into the graph IR (the ONNX exporter's
op emitters write pycnn.graph Nodes instead of ONNX protos, so no onnx package is needed); an
imported ONNX Graph lends a copy of its IR with its current weights (fine-tuned ones included).

Either way the weights become constants (nothing is trained) and constant subgraphs fold, weights
through a Transpose included.
"""
import numpy as np

from ..graph import DYNAMIC, GraphIR, Node, passes
from ..onnx.errors import OnnxExportError
from ..onnx.export import ExportTrace, trace
from ..onnx.ops import IMPORTERS
from ..onnx.weights import from_layout
from ..tensor import Tensor

TRACE_OPSET = 21  # the semantics the exporters write: the newest export opset, so GELU and HardSwish are one node each


class _NodeMaker:
    """Stands in for onnx.helper while a Module is traced: each node the exporters make is a graph Node."""

    def make_node(self, op, inputs, outputs, name=None, **attrs):
        return Node(name or outputs[0], op, TRACE_OPSET, attrs, list(inputs), list(outputs))


def _fold(ir, what):
    problems = passes.fold_constants(ir, IMPORTERS, keep_weights_trainable=False)
    if problems:
        listed = "; ".join(f"{p['node'] or 'graph'} ({p['op'] or '-'}): {p['message']}" for p in problems[:5])
        raise ValueError(f"optimize_for_inference: cannot plan {what}: {listed}")
    passes.prune_unused(ir)
    return ir


def module_graph(model, example):
    """The GraphIR of ``model`` (a pycnn Module) run on the Tensor ``example``, its input named "input"."""
    tracer = ExportTrace(TRACE_OPSET, list(model.named_parameters()) + list(model.named_buffers()), _NodeMaker())
    try:
        outs = trace(model, example, tracer)
    except OnnxExportError as error:
        raise ValueError(f"optimize_for_inference: the plan is built from the ops ONNX can express; "
                         f"{str(error).replace('export: ', '', 1)}") from None
    nodes, outputs = tracer.nodes, []
    for i, out in enumerate(outs):
        if not isinstance(out, Tensor):
            raise TypeError(f"optimize_for_inference: expected the model to return Tensors, got {type(out).__name__}")
        value = tracer.name_of(out)
        if value == "input" or value in tracer.initializers or value in outputs:
            name = f"output_{i}"
            nodes.append(Node(name, "Identity", TRACE_OPSET, {}, [value], [name]))
            value = name
        outputs.append(value)
    initializers = {name: np.asarray(value) for name, value in tracer.initializers.items()}
    return _fold(GraphIR(nodes, ["input"], outputs, initializers), type(model).__name__)


def plan_refusal(graph):
    """Why a compiled plan cannot run ``graph`` (a pycnn.onnx Graph), or None. Its integer inputs are
    computed on the host, and an If on a condition the network computes may give outputs of another
    shape each run: the plan (float32 arrays in one arena, shapes fixed per input shape) does neither."""
    ir = graph._ir
    if ir.host_inputs:
        return f"its input(s) {', '.join(map(repr, ir.host_inputs))} hold integer data, computed on the host"
    dynamic = [node.name for node in ir.nodes if node.op == "If" and ir.kinds.get(node.inputs[0]) == DYNAMIC]
    if dynamic:
        return f"If node(s) {', '.join(map(repr, dynamic))} pick their branch from a value the network computes"
    return None


def onnx_graph(graph):
    """A copy of the GraphIR of ``graph`` (a pycnn.onnx Graph) whose constants hold its current weights;
    ValueError for a graph a plan cannot run (:func:`plan_refusal`)."""
    refusal = plan_refusal(graph)
    if refusal is not None:
        raise ValueError(f"optimize_for_inference: the imported graph cannot be compiled into a plan: {refusal}; "
                         "run the Graph itself, or pycnn.onnx.InferenceSession, which does")
    source = graph._ir
    constants = dict(source.constants)
    for attribute, (name, layout, shape) in graph.onnx_names.items():
        constants[name] = from_layout(getattr(graph, attribute).numpy(), layout, shape)
    nodes = [n.copy() for n in source.nodes]
    return _fold(GraphIR(nodes, source.inputs, source.outputs, constants), "the imported graph")
