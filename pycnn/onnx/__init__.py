"""pycnn.onnx: ONNX models in (``load``, ``check``) and out (``export``).

    graph = pycnn.onnx.load("resnet.onnx")        # a trainable Module; graph(x) -> the graph output
    print(pycnn.onnx.check("resnet.onnx"))         # every unsupported node at once, and where each runs
    pycnn.onnx.export(model, "out.onnx", (1, 3, 224, 224))

Model files are untrusted input: a bad file raises OnnxImportError (a ValueError) naming what is wrong.
"""
from ._proto import OnnxImportError
from .export import OnnxExportError, export
from .graph import CheckReport, Graph, check, load

__all__ = ["CheckReport", "Graph", "OnnxExportError", "OnnxImportError", "check", "export", "load"]
