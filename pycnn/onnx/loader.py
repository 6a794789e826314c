"""``load``: an ONNX file becomes a trainable :class:`Graph` Module.

1. parse and validate (pycnn.onnx.parse): every problem at once (unknown op or attribute, missing
   value, cycle, bad tensor data);
2. ``fold_constants`` (pycnn.graph.passes): each value becomes a network value, a constant (computed
   now) or a shape (computed on the host at run time, so that any batch size works); then
   ``fuse_local_response_norm`` puts pycnn's LRN kernel in place of PyTorch's LocalResponseNorm export;
3. bind the weights: float initializers feeding a weight slot become Parameters, batch-norm
   statistics buffers (pycnn.onnx.weights);
4. ``prune_unused``, then ``plan_memory``: what remains is the network, freeing each activation
   after its last reader.
"""
import warnings

from ..graph import passes
from .errors import OnnxImportError
from .graph import Graph
from .ops import IMPORTERS
from .parse import DTYPE_NAMES, ParsedModel, parse_model
from .weights import bind_weights

# What building a graph from a hostile but parseable model may raise; reported as OnnxImportError.
_BUILD_ERRORS = (ValueError, TypeError, KeyError, IndexError, OverflowError, MemoryError)


def _build(parsed):
    ir = parsed.ir
    problems = passes.fold_constants(ir, IMPORTERS)
    if not problems:
        passes.fuse_local_response_norm(ir)
    graph = Graph(ir, parsed.opset, parsed.input_dims)
    graph._weights = bind_weights(graph, ir, IMPORTERS)
    if problems:
        raise OnnxImportError(f"pycnn cannot load this model ({len(problems)} problems)", problems)
    passes.prune_unused(ir)
    passes.plan_memory(ir)
    return graph


def warn_other_floats(parsed, caller, outputs="its float outputs come back as float32"):
    """pycnn computes in float32: a model whose inputs are double or float16 is computed in float32,
    its constants and weights of that type read as float32; ``caller`` (pycnn.onnx.load or
    InferenceSession) warns so and says what its ``outputs`` are."""
    others = {name: DTYPE_NAMES[elem] for name, elem in parsed.input_types.items() if elem in (10, 11)}
    if others:
        warnings.warn(f"{caller}: input(s) {', '.join(f'{n!r} ({t})' for n, t in others.items())} are computed "
                      "in float32, pycnn's float type: the model's double and float16 constants and weights are "
                      f"read as float32 and {outputs}", UserWarning, stacklevel=3)


def build_graph(parsed):
    """The :class:`Graph` of a :class:`ParsedModel` without problems; OnnxImportError for what only
    building finds (a fold that fails)."""
    try:
        return _build(parsed)
    except OnnxImportError:
        raise
    except _BUILD_ERRORS as error:
        raise OnnxImportError(f"pycnn cannot load this model: {type(error).__name__}: {error}") from None


def load(source):
    """An ONNX model (a path or the file's bytes) as a trainable :class:`Graph`.

    Raises OnnxImportError (a ValueError) listing every unsupported node, op and attribute at once,
    and for files that are not valid ONNX; FileNotFoundError for a missing path."""
    model, base_dir = parse_model(source)
    parsed = ParsedModel(model, base_dir)
    if parsed.problems:
        raise OnnxImportError(f"pycnn cannot load this model ({len(parsed.problems)} problems; pycnn supports "
                              f"{', '.join(sorted(IMPORTERS))})", parsed.problems)
    graph = build_graph(parsed)
    warn_other_floats(parsed, "pycnn.onnx.load")
    return graph
