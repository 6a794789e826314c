"""ONNX Pad: import and export, and the autograd Function that computes it (pycnn has no pad kernel;
only ONNX models use one, so it lives here).

``pads`` are all begins, then all ends; a negative pad removes that many elements. ``mode``
'constant' fills with ``value``, 'reflect' mirrors without repeating the edge, 'edge' repeats it,
'wrap' (opset 19) continues from the other side. Computed with numpy on the host: in imported graphs
Pad appears around weights or at the edges of a network, so a GPU round trip is no bottleneck. The
backward pass is exact: each padded position's gradient is added to the input position it copies.
"""
import numpy as np

from ...autograd import Function
from ...tensor_ops.common import from_host
from ..errors import OnnxExportError
from .common import axis_index, first_float, ints
from .registry import exporter, importer, inputs_by_opset

PAD_MODES = ("constant", "reflect", "edge", "wrap")


def _source_index(length, begin, end, mode):
    """For each position along one padded axis, the input position its value comes from (numpy's
    and ONNX's 'reflect' (mirror without repeating the edge), 'edge' and 'wrap'); -1 for 'constant'
    fill."""
    i = np.arange(-begin, length + end)
    if mode == "edge":
        return np.clip(i, 0, length - 1)
    if mode == "wrap":
        return i % length
    if mode == "reflect":
        if length == 1:
            return np.zeros_like(i)
        period = 2 * (length - 1)
        i = i % period
        return np.where(i < length, i, period - i)
    return np.where((i >= 0) & (i < length), i, -1)


def _pad_numpy(array, crop, widths, value, mode):
    kwargs = {"constant_values": value} if mode == "constant" else {}
    return np.pad(array[crop], widths, mode=mode, **kwargs)


class PadFunction(Function):
    """Pad as (crop slices, np.pad widths): negative pads crop first, positive ones pad after."""

    def forward(self, x, crop, widths, value, mode):
        self.device, self.in_shape, self.crop, self.widths, self.mode = x.device, list(x.shape), crop, widths, mode
        return from_host(_pad_numpy(x.to("cpu").numpy(), crop, widths, value, mode), x.device)

    def backward(self, grad):
        g = grad.to("cpu").numpy()
        if self.mode == "constant":
            g = g[tuple(slice(b, g.shape[i] - e) for i, (b, e) in enumerate(self.widths))]
        else:  # every padded position adds its gradient to the input position it copies
            for axis, (b, e) in enumerate(self.widths):
                if b or e:
                    length = g.shape[axis] - b - e
                    index = _source_index(length, b, e, self.mode)
                    out = np.zeros(g.shape[:axis] + (length,) + g.shape[axis + 1:], dtype=g.dtype)
                    np.add.at(out, (slice(None),) * axis + (index,), g)
                    g = out
        full = np.zeros(self.in_shape, dtype=np.float32)
        full[self.crop] = g
        return from_host(full, self.device), None, None, None, None


def _pad_plan(shape, pads, mode):
    """(crop slices, np.pad widths) of ONNX ``pads`` on ``shape``, checked: nothing removed twice, an
    axis to copy from for the non-constant modes, at most 2^31 elements."""
    pads, rank = tuple(int(p) for p in pads), len(shape)
    if mode not in PAD_MODES:
        raise ValueError(f"Pad: mode {mode!r} is not one of {', '.join(PAD_MODES)}")
    if len(pads) != 2 * rank:
        raise ValueError(f"Pad: expected {2 * rank} pads (begins then ends) for shape {shape}, got {pads}")
    total = 1
    for i, d in enumerate(shape):
        kept = d + min(pads[i], 0) + min(pads[i + rank], 0)
        if kept < 0:
            raise ValueError(f"Pad: pads {pads} remove more than the {d} elements of axis {i} of shape {shape}")
        if mode != "constant" and kept == 0 and max(pads[i], pads[i + rank]) > 0:
            raise ValueError(f"Pad: mode {mode!r} cannot pad axis {i} of shape {shape}: no elements to copy")
        total *= kept + max(pads[i], 0) + max(pads[i + rank], 0)
    if total > 1 << 31:
        raise ValueError(f"Pad: pads {pads} make shape {shape} larger than 2^31 elements")
    crop = tuple(slice(max(-pads[i], 0), shape[i] - max(-pads[i + rank], 0)) for i in range(rank))
    widths = [(max(pads[i], 0), max(pads[i + rank], 0)) for i in range(rank)]
    return crop, widths


def pad(input, pads, value=0.0, mode="constant"):
    """ONNX Pad of a Tensor (see the module docstring); differentiable."""
    crop, widths = _pad_plan(tuple(input.shape), pads, mode)
    return PadFunction.apply(input, crop, widths, float(value), mode)


def pad_array(array, pads, value=0.0, mode="constant"):
    """:func:`pad` on a numpy array (constants folded at import), keeping its dtype."""
    crop, widths = _pad_plan(array.shape, pads, mode)
    return _pad_numpy(array, crop, widths, value, mode)


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
