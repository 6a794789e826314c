"""ONNX Pad: import and export. The autograd Function that computes it, and torch's F.pad, live in
pycnn/nn/functional/padding.py (numpy on the host; exact backward).

``pads`` are all begins, then all ends; a negative pad removes that many elements. ``mode``
'constant' fills with ``value``, 'reflect' mirrors without repeating the edge, 'edge' repeats it,
'wrap' (opset 19) continues from the other side.
"""
import numpy as np

from ...nn.functional.padding import PAD_MODES, PadFunction
from ...nn.functional.padding import onnx_pad as pad
from ...nn.functional.padding import onnx_pad_array as pad_array
from ..errors import OnnxExportError
from .common import axis_index, first_float, ints
from .registry import exporter, importer, inputs_by_opset


def _pad_arguments(node, inputs, rank):
    """(pads for every axis in ONNX order, fill value) from the attributes (opset < 11) or inputs."""
    if node.opset < 11:
        pads, value, axes = node.attr("pads", node.attr("paddings")), node.attr("value", 0.0), None
    else:
        pads = ints(inputs[1])
        value = first_float(inputs[2]) if len(inputs) > 2 and inputs[2] is not None and \
            np.asarray(inputs[2]).size else 0.0
        axes = ints(inputs[3]) if len(inputs) > 3 and inputs[3] is not None else None
    pads = ints(pads)
    if axes is not None:
        full = [0] * (2 * rank)
        axes = [axis_index(a, rank, node) for a in axes]
        if len(pads) != 2 * len(axes):
            raise ValueError(f"Pad {node.name!r}: {len(pads)} pads for {len(axes)} axes {axes}; expected "
                             f"{2 * len(axes)}")
        for i, a in enumerate(axes):
            full[a], full[a + rank] = pads[i], pads[i + len(axes)]
        pads = full
    if len(pads) != 2 * rank:
        raise ValueError(f"Pad {node.name!r}: expected {2 * rank} pads (begins then ends) for a rank-{rank} "
                         f"input, got {pads}")
    return pads, value


def _pad_mode_problems(node, used):
    mode = node.attr("mode", "constant")
    modes = PAD_MODES if node.opset >= 19 else PAD_MODES[:3]
    if mode in modes:
        return []
    return [f"mode {mode!r} is not supported at opset {node.opset} (expected one of {', '.join(modes)})"]


@importer("Pad", arrays_too=True, check=_pad_mode_problems, static=(1, 2, 3),
          inputs=inputs_by_opset(11, (1, 1), (2, 4)), attrs=("mode", "pads", "value", "paddings"),
          attr_kinds={"value": "float"}, runs_on_host=True)
def import_pad(node, inputs, training):
    x = inputs[0]
    pads, value = _pad_arguments(node, inputs, x.ndim)
    pad_any = pad_array if isinstance(x, np.ndarray) else pad
    return (pad_any(x, pads, value, node.attr("mode", "constant")),)


@exporter(PadFunction)
def export_pad(trace, out, x, crop, widths, value, mode):
    if mode == "wrap" and trace.opset < 19:
        raise OnnxExportError(f"Pad mode 'wrap' needs opset 19 or later, exporting opset {trace.opset}")
    begins = [b - c.start for (b, _), c in zip(widths, crop)]
    ends = [e - (size - c.stop) for (_, e), c, size in zip(widths, crop, x.shape)]
    inputs = [trace.name_of(x), trace.const(np.asarray(begins + ends, dtype=np.int64), "pads")]
    if mode == "constant":
        inputs.append(trace.const(np.asarray(value, dtype=np.float32), "value"))
    trace.node("Pad", inputs, out, mode=mode)
