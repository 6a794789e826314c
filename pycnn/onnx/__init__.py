"""pycnn.onnx: ONNX models in (``load``, ``check``) and out (``export``).

    graph = pycnn.onnx.load("resnet.onnx")        # a trainable Module; graph(x) -> the graph output
    print(pycnn.onnx.check("resnet.onnx"))         # every unsupported node at once, and where each runs
    pycnn.onnx.export(model, "out.onnx", (1, 3, 224, 224))
    sess = pycnn.onnx.InferenceSession("resnet.onnx")  # onnxruntime's API on pycnn's inference plan

Model files are untrusted input: a bad file raises OnnxImportError (a ValueError) naming what is wrong.

Where things are: parse.py (the file, validated), loader.py (a Graph Module from it, through the passes
of pycnn.graph), graph.py (the Graph Module), weights.py (Parameters and their layouts), checker.py,
export.py, session.py (InferenceSession), and ops/<family>.py: each ONNX op's import handler and export
emitter side by side.
"""
from .checker import CheckReport, check
from .errors import OnnxExportError, OnnxImportError
from .export import export
from .graph import Graph
from .loader import load
from .session import InferenceSession, NodeArg

__all__ = ["CheckReport", "Graph", "InferenceSession", "NodeArg", "OnnxExportError", "OnnxImportError", "check",
           "export", "load"]
