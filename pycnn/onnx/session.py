"""``InferenceSession``: onnxruntime's Python API over pycnn's inference plan, so that code written for
onnxruntime switches with one line:

    sess = pycnn.onnx.InferenceSession("model.onnx")        # was onnxruntime.InferenceSession(...)
    [logits] = sess.run(None, {sess.get_inputs()[0].name: images})

The file is imported as pycnn.onnx.load does (every unsupported op reported at once), then compiled by
pycnn.inference (batch norm folded, conv epilogues fused, one C++ call per run); each new input shape
(a new batch size) compiles once and is cached.

Inputs take the types onnxruntime takes for the model: each feed must have its input's declared type
(float32, double, float16, an integer type or bool). Double and float16 inputs are computed in
float32, pycnn's float type (the session warns so, as load does); a model with integer or bool
inputs (an embedding's indices) runs on the imported Graph's executor, its integer values on the
host in their own type, as does one with an If on a condition the network computes (its branches may
give outputs of different shapes). Outputs come back in their declared types.
"""
import warnings

import numpy as np

from ..autograd import no_grad
from ..inference import capture  # a module, read at run time: pycnn.inference imports pycnn.onnx
from ..inference.plan import InferencePlan
from ..tensor import tensor
from .errors import OnnxImportError
from .loader import build_graph, warn_other_floats
from .ops import IMPORTERS
from .parse import DTYPE_NAMES, NUMPY_DTYPES, ParsedModel, parse_model

_PROVIDERS = ("CPUExecutionProvider",)
_ONNX_NAMES = {dtype: DTYPE_NAMES[elem] for elem, dtype in NUMPY_DTYPES.items()}  # numpy dtype -> ONNX name


class NodeArg:
    """An input or output of the model, as onnxruntime describes it: ``name``, ``shape`` (ints, with the
    symbolic dimensions' names as strings, None where the file names none) and ``type``."""

    def __init__(self, name, shape, type="tensor(float)"):
        self.name, self.shape, self.type = name, shape, type

    def __repr__(self):
        return f"NodeArg(name={self.name!r}, type={self.type!r}, shape={self.shape!r})"


def _type_name(dtype):
    """onnxruntime's name of a numpy dtype's tensor type: tensor(float), tensor(double), tensor(int64)..."""
    return f"tensor({_ONNX_NAMES.get(dtype, dtype.name)})"


def _declared_type(value_info):
    """The numpy dtype of a graph input or output's declared element type (None: undeclared or one pycnn
    has no numpy type for)."""
    tensor_type = value_info.type.tensor_type
    return NUMPY_DTYPES.get(tensor_type.elem_type) if value_info.type.HasField("tensor_type") else None


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
        graph = build_graph(parsed)
        warn_other_floats(parsed, "InferenceSession", "its outputs are converted to their declared types")
        values = {v.name: v for v in list(model.graph.input) + list(model.graph.output)}
        self._input_types = [NUMPY_DTYPES[parsed.input_types[name]] for name in graph.input_names]
        self._output_types = [_declared_type(values[name]) if name in values else None
                              for name in graph.output_names]
        self._inputs = [NodeArg(name, _declared_shape(values[name]), _type_name(dtype))
                        for name, dtype in zip(graph.input_names, self._input_types)]
        self._outputs = [NodeArg(name, _declared_shape(values[name]) if name in values else None,
                                 _type_name(dtype or np.dtype(np.float32)))
                         for name, dtype in zip(graph.output_names, self._output_types)]
        self._input_names = [arg.name for arg in self._inputs]
        self._output_names = [arg.name for arg in self._outputs]
        if capture.plan_refusal(graph) is not None:  # the Graph's executor runs what a plan cannot
            self._graph, self._plan = graph.eval(), None
        else:
            self._graph, self._plan = None, InferencePlan(capture.onnx_graph(graph), threads=threads)

    def get_inputs(self):
        return list(self._inputs)

    def get_outputs(self):
        return list(self._outputs)

    def get_providers(self):
        return list(_PROVIDERS)

    def _check_feed(self, arg, dtype, value):
        if not isinstance(value, np.ndarray):
            raise TypeError(f"InferenceSession.run: input {arg.name!r} must be a numpy array, got "
                            f"{type(value).__name__}")
        if value.dtype != dtype:  # onnxruntime converts nothing either
            raise TypeError(f"InferenceSession.run: input {arg.name!r} has type {_type_name(value.dtype)}, expected "
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

    def _compute(self, arrays):
        """The graph's outputs (numpy arrays) for the checked feeds: the plan's float32 run, or the Graph's
        (integer inputs as int64 Tensors, which the Graph gives back their declared types)."""
        if self._plan is not None:
            return self._plan.run([np.asarray(a, dtype=np.float32) for a in arrays])
        with no_grad():
            outs = self._graph(*(tensor(a.astype(self._graph.input_dtype(name)))
                                 for name, a in zip(self._input_names, arrays)))
        return [out.numpy() for out in (outs if isinstance(outs, tuple) else (outs,))]

    def run(self, output_names, input_feed, run_options=None):
        """The outputs named in ``output_names`` (None: all of them, in the model's order) as numpy
        arrays, for ``input_feed``: {input name: numpy array of the input's declared type}; the
        outputs come back in their declared types."""
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
        arrays = [self._check_feed(arg, dtype, input_feed[arg.name]) for arg, dtype in zip(self._inputs,
                                                                                             self._input_types)]
        outputs = [out if dtype is None or out.dtype == dtype else out.astype(dtype)
                   for out, dtype in zip(self._compute(arrays), self._output_types)]
        if output_names is None:
            return outputs
        names = self._output_names
        bad = [name for name in output_names if name not in names]
        if bad:
            raise ValueError(f"InferenceSession.run: unknown output names {bad}; the model's outputs are {names}")
        results = dict(zip(names, outputs))
        return [results[name] for name in output_names]
