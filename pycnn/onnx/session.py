"""``InferenceSession``: onnxruntime's Python API over pycnn's inference plan, so that code written for
onnxruntime switches with one line:

    sess = pycnn.onnx.InferenceSession("model.onnx")        # was onnxruntime.InferenceSession(...)
    [logits] = sess.run(None, {sess.get_inputs()[0].name: images})

The file is imported as pycnn.onnx.load does (every unsupported op reported at once), then compiled by
pycnn.inference (batch norm folded, conv epilogues fused, one C++ call per run); each new input shape
(a new batch size) compiles once and is cached.
"""
import warnings

import numpy as np

from ..inference import capture  # a module, read at run time: pycnn.inference imports pycnn.onnx
from ..inference.plan import InferencePlan
from .errors import OnnxImportError
from .loader import build_graph
from .ops import IMPORTERS
from .parse import DTYPE_NAMES, ParsedModel, parse_model

_PROVIDERS = ("CPUExecutionProvider",)
_FLOAT32 = np.dtype(np.float32)


class NodeArg:
    """An input or output of the model, as onnxruntime describes it: ``name``, ``shape`` (ints, with the
    symbolic dimensions' names as strings, None where the file names none) and ``type``."""

    def __init__(self, name, shape, type="tensor(float)"):
        self.name, self.shape, self.type = name, shape, type

    def __repr__(self):
        return f"NodeArg(name={self.name!r}, type={self.type!r}, shape={self.shape!r})"


def _declared_shape(value_info):
    if not value_info.type.tensor_type.HasField("shape"):
        return None
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or None)
            for d in value_info.type.tensor_type.shape.dim]


class InferenceSession:
    """An ONNX model (a path or the file's bytes) ready to run, as ``onnxruntime.InferenceSession``.

    threads: the OpenMP threads each run uses (None: pycnn.get_num_threads()); ``sess_options`` with
    an ``intra_op_num_threads`` (onnxruntime's SessionOptions) sets it too. providers: onnxruntime's
    list; pycnn runs on the CPU ("CPUExecutionProvider"), and warns and falls back to it for others,
    as onnxruntime does for a provider it lacks. Raises OnnxImportError (a ValueError) for a model
    pycnn cannot run, FileNotFoundError for a missing path."""

    def __init__(self, path_or_bytes, sess_options=None, providers=None, threads=None, **kwargs):
        if kwargs:
            raise TypeError(f"InferenceSession: unexpected arguments {', '.join(sorted(kwargs))}")
        others = [p if isinstance(p, str) else p[0] for p in (providers or []) if
                  (p if isinstance(p, str) else p[0]) not in _PROVIDERS]
        if others:
            warnings.warn(f"InferenceSession: pycnn runs on the CPU; {', '.join(map(str, others))} is not available, "
                          "falling back to CPUExecutionProvider", RuntimeWarning, stacklevel=2)
        if threads is None and sess_options is not None:
            threads = getattr(sess_options, "intra_op_num_threads", 0) or None
        model, base_dir = parse_model(path_or_bytes)
        parsed = ParsedModel(model, base_dir)
        if parsed.problems:
            raise OnnxImportError(f"pycnn cannot load this model ({len(parsed.problems)} problems; pycnn supports "
                                  f"{', '.join(sorted(IMPORTERS))})", parsed.problems)
        others = {name: elem for name, elem in parsed.input_types.items() if elem != 1}
        if others:  # the inference plan runs float32 arrays; the trainable Graph takes the others
            raise OnnxImportError("InferenceSession runs models whose inputs are float32; input(s) "
                                  + ", ".join(f"{n!r} ({DTYPE_NAMES.get(e, e)})" for n, e in others.items())
                                  + " are not: run the model with pycnn.onnx.load")
        graph = build_graph(parsed)
        declared = {v.name: _declared_shape(v) for v in list(model.graph.input) + list(model.graph.output)}
        self._inputs = [NodeArg(name, declared.get(name)) for name in graph.input_names]
        self._outputs = [NodeArg(name, declared.get(name)) for name in graph.output_names]
        self._input_names = [arg.name for arg in self._inputs]
        self._output_names = [arg.name for arg in self._outputs]
        self._plan = InferencePlan(capture.onnx_graph(graph), threads=threads)

    def get_inputs(self):
        return list(self._inputs)

    def get_outputs(self):
        return list(self._outputs)

    def get_providers(self):
        return list(_PROVIDERS)

    def _check_feed(self, arg, value):
        if not isinstance(value, np.ndarray):
            raise TypeError(f"InferenceSession.run: input {arg.name!r} must be a numpy array, got "
                            f"{type(value).__name__}")
        if value.dtype != _FLOAT32:
            raise TypeError(f"InferenceSession.run: input {arg.name!r} has type tensor({value.dtype}), expected "
                            f"{arg.type}")
        shape = arg.shape
        if shape is not None and (value.ndim != len(shape) or any(
                d.__class__ is int and d > 0 and d != s for d, s in zip(shape, value.shape))):
            raise ValueError(f"InferenceSession.run: input {arg.name!r} has shape {tuple(value.shape)}, the model "
                             f"expects {tuple(shape)}")
        if value.size == 0:
            raise ValueError(f"InferenceSession.run: input {arg.name!r} has shape {tuple(value.shape)}, which holds "
                             "no values")
        return np.ascontiguousarray(value)

    def run(self, output_names, input_feed, run_options=None):
        """The outputs named in ``output_names`` (None: all of them, in the model's order) as numpy
        arrays, for ``input_feed``: {input name: float32 numpy array}."""
        if not isinstance(input_feed, dict):
            raise TypeError(f"InferenceSession.run: input_feed must be a dict {{name: array}}, got "
                            f"{type(input_feed).__name__}")
        expected = self._input_names
        if len(input_feed) != len(expected) or any(name not in input_feed for name in expected):
            unknown = [name for name in input_feed if name not in expected]
            missing = [name for name in expected if name not in input_feed]
            raise ValueError(f"InferenceSession.run: the model's inputs are {expected}; "
                             + (f"got unknown {unknown}" if unknown else "") + (" and " if unknown and missing else "")
                             + (f"missing {missing}" if missing else ""))
        arrays = [self._check_feed(arg, input_feed[arg.name]) for arg in self._inputs]
        outputs = self._plan.run(arrays)
        if output_names is None:
            return outputs
        names = self._output_names
        bad = [name for name in output_names if name not in names]
        if bad:
            raise ValueError(f"InferenceSession.run: unknown output names {bad}; the model's outputs are {names}")
        results = dict(zip(names, outputs))
        return [results[name] for name in output_names]
