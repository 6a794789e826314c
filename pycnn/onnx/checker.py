"""``check``: what pycnn supports in an ONNX model, without raising for what it does not."""
import math

import numpy as np

from .. import _C, cuda
from ..graph import DYNAMIC, problem
from ..tensor import tensor
from .errors import OnnxImportError, problem_line
from .loader import build_graph
from .ops import IMPORTERS
from .parse import ParsedModel, parse_model

MAX_CHECK_ELEMENTS = 1 << 24  # check's trial input: 64 MiB of float32 at most


class CheckReport:
    """What :func:`check` found: ``problems`` (every unsupported node, op or attribute, as in
    OnnxImportError), ``nodes`` (one dict per node: name, op, opset, role, cpu, cuda) and ``runs``
    (device -> 'forward and backward ok' or the error), ``ok`` when the model loads and runs."""

    def __init__(self, path, opset, problems, nodes, runs):
        self.path, self.opset, self.problems, self.nodes, self.runs = path, opset, problems, nodes, runs

    @property
    def ok(self):
        return not self.problems and all(r.startswith(("forward and backward ok", "skipped"))
                                         for r in self.runs.values())

    def __str__(self):
        lines = [f"{self.path}: opset {self.opset}, {len(self.nodes)} nodes, {len(self.problems)} unsupported"]
        for p in self.problems:
            lines.append("  UNSUPPORTED " + problem_line(p))
        if self.nodes:
            width = max(len(n["name"]) for n in self.nodes)
            lines.append(f"  {'node':<{width}}  {'op':<18} {'role':<9} {'cpu':<22} cuda")
            for n in self.nodes:
                lines.append(f"  {n['name']:<{width}}  {n['op']:<18} {n['role']:<9} {n['cpu']:<22} {n['cuda']}")
        for device, result in self.runs.items():
            lines.append(f"  run on {device}: {result}")
        return "\n".join(lines)


def _example_shape(graph):
    dims = graph._input_dims.get(graph.input_names[0]) or []
    return [d or 1 for d in dims] or None


def _try_run(graph, device):
    if device == "cuda" and not cuda.is_available():
        return "skipped (no CUDA device here)"
    if len(graph.input_names) != 1:
        return "skipped (the graph has several inputs)"
    shape = _example_shape(graph)
    if shape is None:
        return "skipped (the input shape is not declared)"
    if math.prod(shape) > MAX_CHECK_ELEMENTS:
        return (f"skipped (the declared input {tuple(shape)} is larger than {MAX_CHECK_ELEMENTS} elements; run it "
                "yourself)")
    x = np.random.default_rng(0).standard_normal(shape, dtype=np.float32)
    if graph.input_dtype(graph.input_names[0]) == "int64":
        x = np.zeros(shape, np.int64)  # integer inputs are indices: 0 is one for any table
    try:
        graph.to(device).eval()
        out = graph(tensor(x, device=device))
        out = out[0] if isinstance(out, tuple) else out
        (out * 1.0).sum().backward()
        graph.zero_grad()
        return f"forward and backward ok (input {tuple(x.shape)} -> output {tuple(out.shape)})"
    except Exception as error:  # the report states what failed instead of stopping at it
        return f"failed: {type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
    finally:
        graph.to("cpu")


def _node_rows(parsed, graph, bad):
    """One dict per node: its role (network op, folded constant, shape computed on the host) and where
    its forward and backward run."""
    roles = {node.name: ("network" if kind == DYNAMIC else "shape") for node, kind in graph._plan} \
        if graph is not None else {}
    cuda_built = _C.built_with_cuda()
    rows = []
    for node in parsed.nodes:
        if node.name in bad:
            role, cpu, gpu = "UNSUPPORTED", "-", "-"
        elif node.name not in roles:
            role, cpu, gpu = ("folded", "at import", "at import") if graph is not None else ("?", "?", "?")
        elif roles[node.name] == "shape":
            role, cpu, gpu = "shape", "host (numpy)", "host (numpy)"
        elif IMPORTERS[node.op].runs_on_host:
            role, cpu, gpu = "network", "forward+backward (host)", "forward+backward (host copy)"
        else:
            role, cpu, gpu = "network", "forward+backward", "forward+backward" if cuda_built else "not built with CUDA"
        rows.append({"name": node.name, "op": node.op, "opset": node.opset, "role": role, "cpu": cpu, "cuda": gpu})
    return rows


def check(source, run=True):
    """A :class:`CheckReport` for an ONNX model without raising for unsupported content: every
    unsupported node at once, the role of every other node (network op, folded constant, shape
    computed on the host) and where its forward and backward run; with ``run``, one forward and
    backward pass on a random input on the CPU and, when present, on CUDA."""
    path = source if isinstance(source, str) else "<bytes>"
    model, base_dir = parse_model(source)
    parsed = ParsedModel(model, base_dir)
    problems = list(parsed.problems)
    graph = None
    if not problems:
        try:
            graph = build_graph(parsed)
        except OnnxImportError as error:
            problems = error.problems or [problem(None, str(error))]
    bad = {p["node"] for p in problems}
    nodes = _node_rows(parsed, graph, bad)
    runs = {}
    if graph is not None and run:
        runs = {"cpu": _try_run(graph, "cpu"), "cuda": _try_run(graph, "cuda")}
    return CheckReport(path, parsed.opset, problems, nodes, runs)
