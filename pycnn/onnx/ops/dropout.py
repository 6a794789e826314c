"""ONNX Dropout <-> pycnn dropout. Imported, it drops in training mode only (or when the file's
training_mode input says so); exported models are traced in eval mode, so dropout never appears."""
import numpy as np

from ...nn import functional as F
from ...nn.functional.dropout import DropoutFunction
from ..errors import OnnxExportError
from .common import first_float, only_first_outputs_used
from .registry import exporter, importer


def _dropout_ratio(node, inputs):
    if node.opset >= 12:
        return first_float(inputs[1]) if len(inputs) > 1 and inputs[1] is not None else 0.5
    return node.attr("ratio", 0.5)


@importer("Dropout", check=only_first_outputs_used(1), static=(1, 2), inputs=(1, 3), outputs=2,
          attrs=("ratio", "is_test", "seed"))
def import_dropout(node, inputs, training):
    if node.opset >= 12 and len(inputs) > 2 and inputs[2] is not None and bool(np.asarray(inputs[2]).reshape(-1)[0]):
        training = True  # the file asks for dropout at inference too
    p = _dropout_ratio(node, inputs)
    return (F.dropout(inputs[0], p, training),) if training and p > 0 else (inputs[0],)


@exporter(DropoutFunction)
def export_dropout(trace, out, x, p, seed):
    raise OnnxExportError("dropout ran in training mode during export")
