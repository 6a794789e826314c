"""onnx's operator test suite (``onnx.backend.test.case.node``: each case a model, its inputs and the
expected outputs, generated in-process by the onnx package) run through ``pycnn.onnx.load``.

Each case ends as one of:
- ``pass``: loaded, ran, every output within the case's tolerance (rtol, atol floored at 1e-5: pycnn
  computes in float32 where the references are numpy's float32 or float64);
- ``refused``: ``load`` raised OnnxImportError (an op, attribute, dtype or form pycnn does not take);
- ``wrong``: ran, an output differs (shape or values);
- ``error``: any other exception, at load or at run time.

How the cases are fed: float32 graph inputs of rank >= 1 stay inputs; scalars, graph inputs of any
other type (shapes, axes, indices, pads, ratios, boolean flags) and float32 inputs in the positions
pycnn's importer needs before the network runs (Resize's scales and roi) become initializers, which is
how exporters write them. A case whose
every input is then an initializer has no network input and is refused (pycnn needs one).

Dropout in training mode draws a random mask that no other library reproduces: those cases pass when
every output element is 0 or x / (1 - ratio), and the mask output (when asked for) agrees.

Run as a script for the table: ``python tests/onnx_backend_suite.py [op ...]``.
"""
import functools
import io
import re
import sys
import traceback
import warnings
from contextlib import redirect_stderr, redirect_stdout

import numpy as np

# The ops pycnn imports or that issue 12 asks for: the suite is measured over these.
SCOPE = (
    "Abs", "Add", "AveragePool", "BatchNormalization", "Cast", "CastLike", "Clip", "Concat", "Constant",
    "ConstantOfShape", "Conv", "ConvTranspose", "DepthToSpace", "Div", "Dropout", "Elu", "Equal", "Erf", "Exp",
    "Expand", "Flatten", "Gather", "Gelu", "Gemm", "GlobalAveragePool", "GlobalMaxPool", "GroupNormalization",
    "HardSigmoid", "HardSwish", "Hardmax", "Identity", "If", "InstanceNormalization", "LayerNormalization",
    "LeakyRelu", "Log", "LogSoftmax", "LRN", "MatMul", "Max", "MaxPool", "Mean", "Min", "Mul", "Neg", "Pad",
    "Pow", "PRelu", "Range", "Reciprocal", "ReduceMean", "Relu", "Reshape", "Resize", "Shape", "Sigmoid",
    "Slice", "Softmax", "Softplus", "SpaceToDepth", "Split", "Sqrt", "Squeeze", "Sub", "Sum", "Tanh",
    "Transpose", "Unsqueeze", "Upsample", "Where",
    # added with the first ops of issue 12 (not in the first measurement):
    "ReduceSum", "ReduceMax", "ReduceMin", "Selu", "Softsign", "Less", "Greater", "LessOrEqual", "GreaterOrEqual",
    "Not", "And", "Or", "Xor", "Tile",
)

# The families whose every float32 case must pass (issue 12's acceptance).
REQUIRED = (
    "AveragePool", "BatchNormalization", "Concat", "Conv", "Dropout", "Elu", "Flatten", "Gemm", "GlobalAveragePool",
    "GlobalMaxPool", "HardSigmoid", "HardSwish", "Hardmax", "LeakyRelu", "LogSoftmax", "LRN", "MaxPool", "PRelu",
    "Relu", "Sigmoid", "Softmax", "Softplus", "Tanh", "Gelu",
)

# Float32 cases of the REQUIRED families that stay refused, each with the reason (what remains of the
# issue). A case listed here that passes makes the test fail, so the list only shrinks.
KNOWN_REFUSED = {}

OUTCOMES = ("pass", "refused", "wrong", "error")


@functools.cache
def collect():
    """[(op type, case)] of every node case onnx generates (each op's own cases and the '_expanded'
    ones that run its function body), in onnx's order."""
    from onnx.backend.test.case import node as node_cases

    with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the generators' own casts and divisions by zero
        cases = node_cases.collect_testcases(None)
    op_of = {c.name: c.model.graph.node[0].op_type for c in cases if "_expanded" not in c.name}
    return [(op_of.get(c.name.split("_expanded")[0]), c) for c in cases]


def cases_for(ops):
    ops = set(ops)
    return [(op, case) for op, case in collect() if op in ops]


def is_float32(case):
    inputs, outputs = case.data_sets[0]
    return all(isinstance(a, np.ndarray) and a.dtype == np.float32 for a in list(inputs) + list(outputs))


def _feed(case):
    """The case's model with its non-float32 inputs as initializers, and the float32 input arrays."""
    import onnx
    from onnx import numpy_helper

    model = onnx.ModelProto()
    model.CopyFrom(case.model)
    inputs, _ = case.data_sets[0]
    graph = model.graph
    present = list(graph.input)
    feeds = []
    kept = []
    static = _static_names(graph)
    for info, value in zip(present, inputs):
        if isinstance(value, np.generic):
            value = np.asarray(value)
        if isinstance(value, np.ndarray) and value.dtype == np.float32 and value.ndim and info.name not in static:
            kept.append(info)
            feeds.append(value)
        elif isinstance(value, np.ndarray):
            graph.initializer.append(numpy_helper.from_array(value, info.name))
        else:
            raise TypeError(f"input {info.name!r} is a {type(value).__name__}, not a tensor")
    del graph.input[:]
    graph.input.extend(kept)
    return model, feeds


def _static_names(graph):
    """The names a node reads in the positions pycnn's importer needs before the network runs."""
    from pycnn.graph import Node
    from pycnn.onnx.ops import IMPORTERS
    from pycnn.onnx.parse import read_attributes

    names = set()
    for proto in graph.node:
        op = IMPORTERS.get(proto.op_type)
        if op is None:
            continue
        try:
            node = Node(proto.name, proto.op_type, 0, read_attributes(proto, None), list(proto.input), [])
            static = op.static_inputs(node)
        except Exception:  # noqa: BLE001 - an attribute pycnn refuses: load reports it
            continue
        names.update(name for i, name in enumerate(proto.input) if i in static)
    return names


def _dropout_check(case, got, inputs):
    """A training-mode Dropout: each output element 0 or x / (1 - ratio); the mask agrees."""
    node = case.model.graph.node[0]
    ratio = 0.5
    for a in node.attribute:
        if a.name == "ratio":
            ratio = a.f
    if len(node.input) > 1 and node.input[1]:
        init = {t.name: t for t in case.model.graph.initializer}
        index = [i.name for i in case.model.graph.input].index(node.input[1]) \
            if node.input[1] in [i.name for i in case.model.graph.input] else None
        ratio = float(np.asarray(case.data_sets[0][0][index]).reshape(-1)[0]) if index is not None \
            else float(init[node.input[1]].float_data[0])
    x = inputs[0]
    y = got[0]
    scale = 1.0 / (1.0 - ratio) if ratio < 1 else 0.0
    kept = np.isclose(y, x * scale, rtol=1e-5, atol=1e-6)
    if not np.all(kept | (y == 0)):
        return "an element is neither 0 nor x / (1 - ratio)"
    if len(got) > 1 and not np.array_equal(got[1].astype(bool), kept & ~((y == 0) & (x != 0))):
        return "the mask disagrees with the output"
    return None


def _random_dropout(case):
    node = case.model.graph.node[0]
    return node.op_type == "Dropout" and "training" in case.name and "zero_ratio" not in case.name \
        and "default_old" not in case.name


def run_case(case):
    """(outcome, detail) of one case."""
    import pycnn
    import pycnn.onnx

    try:
        model, feeds = _feed(case)
    except TypeError as error:
        return "refused", f"harness: {error}"
    try:
        graph = pycnn.onnx.load(model.SerializeToString())
    except pycnn.onnx.OnnxImportError as error:
        return "refused", str(error).splitlines()[-1].strip()
    except Exception as error:  # noqa: BLE001 - counted, with its traceback
        return "error", f"load: {type(error).__name__}: {error}\n{traceback.format_exc(limit=-3)}"
    training = _random_dropout(case)
    graph.train(training)
    try:
        out = graph(*[pycnn.tensor(x) for x in feeds])
    except Exception as error:  # noqa: BLE001
        return "error", f"run: {type(error).__name__}: {error}\n{traceback.format_exc(limit=-3)}"
    out = out if isinstance(out, tuple) else (out,)
    got = [np.asarray(o.numpy()) if isinstance(o, pycnn.Tensor) else np.asarray(o) for o in out]
    expected = list(case.data_sets[0][1])
    if len(got) != len(expected):
        return "wrong", f"{len(got)} outputs, expected {len(expected)}"
    if training:
        message = _dropout_check(case, got, feeds)
        return ("wrong", message) if message else ("pass", "")
    for k, (g, e) in enumerate(zip(got, expected)):
        e = np.asarray(e)
        if g.shape != e.shape:
            return "wrong", f"output {k}: shape {g.shape}, expected {e.shape}"
        if e.dtype == np.bool_ or e.dtype.kind in "iu":
            if not np.array_equal(g.astype(e.dtype), e):
                return "wrong", f"output {k}: values differ (integer/bool)"
            continue
        g64, e64 = g.astype(np.float64), e.astype(np.float64)
        if not np.allclose(g64, e64, rtol=case.rtol, atol=max(case.atol, 1e-5), equal_nan=True):
            bad = np.abs(g64 - e64) - max(case.atol, 1e-5) - case.rtol * np.abs(e64)
            return "wrong", f"output {k}: max excess {np.nanmax(bad):.3g}"
    return "pass", ""


def run_suite(ops=SCOPE):
    """{op: {outcome: [(case name, float32?, detail)]}} over the cases of ``ops``."""
    results = {}
    for op, case in cases_for(ops):
        outcome, detail = run_case(case)
        results.setdefault(op, {o: [] for o in OUTCOMES})[outcome].append((case.name, is_float32(case), detail))
    return results


def totals(results):
    return {o: sum(len(r[o]) for r in results.values()) for o in OUTCOMES}


def table(results):
    lines = [f"{'op':<22}" + "".join(f"{o:>9}" for o in OUTCOMES)]
    for op in sorted(results):
        lines.append(f"{op:<22}" + "".join(f"{len(results[op][o]):>9}" for o in OUTCOMES))
    t = totals(results)
    lines.append(f"{'total':<22}" + "".join(f"{t[o]:>9}" for o in OUTCOMES))
    return "\n".join(lines)


def main(argv):
    verbose = "-v" in argv
    ops = [a for a in argv if not a.startswith("-")] or SCOPE
    results = run_suite(ops)
    print(table(results))
    for op in sorted(results):
        for outcome in ("wrong", "error") + (("refused",) if verbose else ()):
            for name, _, detail in results[op][outcome]:
                line = re.sub(r"\s+", " ", detail)[:300]
                print(f"{outcome:>8} {name}: {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
