"""The ONNX ops pycnn imports (opsets 1 to 28) and the pycnn ops it exports, one family a file; each
file holds an op's import handler (``@importer("BatchNormalization") def import_batch_norm``) and its
export emitter (``@exporter(BatchNormFunction) def export_batch_norm``) side by side.

Attributes that changed between opsets are read per node opset: BatchNormalization's ``spatial``,
``is_test`` and ``consumed_inputs``, Gemm's and the arithmetic ops' ``broadcast``/``axis``, Dropout's
``ratio`` attribute (an input from opset 12), Clip/Pad/Reshape/Unsqueeze/Squeeze/ReduceMean arguments
that moved from attributes to inputs.

A new op: its handler and emitter in the family's file (or a new file imported below); nothing else.
"""
# Importing each family registers its importers and exporters.
from . import (  # noqa: F401
    activation,
    constant,
    control,
    conv,
    dropout,
    elementwise,
    linear,
    math,
    normalization,
    pad,
    pooling,
    reduction,
    resize,
    shape,
)
from .registry import EXPORTERS, IMPORTERS, OnnxOp, exporter, importer

__all__ = ["EXPORTERS", "IMPORTERS", "OnnxOp", "exporter", "importer"]
