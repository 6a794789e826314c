"""pad (torch.nn.functional.pad) and the Pad autograd Function it shares with ONNX's Pad import
(pycnn/onnx/ops/pad.py): constant, reflect, replicate (ONNX 'edge') and circular (ONNX 'wrap')
padding of any dimensions; a negative pad removes that many elements. Computed with numpy on the host
(a CUDA tensor makes one round trip): padding sits at a network's edges or around its weights. The
backward pass is exact: each padded position's gradient is added to the input position it copies.
Layers: pycnn/nn/layers/padding.py (ZeroPad2d, ConstantPad2d, ReflectionPad2d, ReplicationPad2d and
their 1-d forms)."""
import numpy as np

from ..._arguments import as_float
from ...autograd import Function
from ...tensor import as_tensor
from ...tensor_ops.common import from_host

PAD_MODES = ("constant", "reflect", "edge", "wrap")  # ONNX's names
_TORCH_MODES = {"constant": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


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
    """(crop slices, np.pad widths) of ONNX ``pads`` (all begins, then all ends) on ``shape``,
    checked: nothing removed twice, an axis to copy from for the non-constant modes, at most 2^31
    elements."""
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


def onnx_pad(input, pads, value=0.0, mode="constant"):
    """ONNX Pad of a Tensor: ``pads`` all begins then all ends, ONNX's mode names; differentiable."""
    crop, widths = _pad_plan(tuple(input.shape), pads, mode)
    return PadFunction.apply(input, crop, widths, float(value), mode)


def onnx_pad_array(array, pads, value=0.0, mode="constant"):
    """:func:`onnx_pad` on a numpy array (constants folded at import), keeping its dtype."""
    crop, widths = _pad_plan(array.shape, pads, mode)
    return _pad_numpy(array, crop, widths, value, mode)


def pad(input, pad, mode="constant", value=None):
    """torch.nn.functional.pad: ``pad`` (left, right) of the last dimension, then (top, bottom) of the
    one before, and so on (an even count, at most two a dimension); negative values crop. ``mode``
    'constant' fills with ``value`` (0 by default); 'reflect' (mirrored without the edge, each pad
    smaller than its dimension), 'replicate' (the edge repeated) and 'circular' (wrapped, each pad
    at most its dimension) pad the last 1, 2 or 3 dimensions of an input with one or two more
    (N, C, ...), as torch's. Differentiable; on the host."""
    op = "pad"
    as_tensor(input, op, "input")
    if not isinstance(pad, (tuple, list)) or not all(isinstance(p, (int, np.integer)) and not isinstance(p, bool)
                                                      for p in pad):
        raise TypeError(f"pad: expected pad to be a tuple of ints, got {pad!r}")
    if not isinstance(mode, str) or mode not in _TORCH_MODES:
        raise ValueError(f"pad: expected mode 'constant', 'reflect', 'replicate' or 'circular', got {mode!r}")
    if len(pad) % 2:
        raise ValueError(f"pad: padding length must be divisible by 2, got {len(pad)} ({tuple(pad)})")
    dims, ndim = len(pad) // 2, input.ndim
    if dims > ndim:
        raise ValueError(f"pad: padding length should be at most two times the input dimension, got padding "
                         f"length {len(pad)} and an input of dimension {ndim}")
    shape = tuple(input.shape)
    if mode != "constant":
        if value not in (None, 0, 0.0):
            raise ValueError(f"pad: padding mode {mode!r} doesn't take in value argument, got value={value!r}")
        if dims == 0 or ndim - dims not in (1, 2) or dims > 3:
            raise ValueError(f"pad: mode {mode!r} pads the last 1, 2 or 3 dimensions of an input with one or two "
                             f"more ((N, C, ...) or (C, ...)), got {len(pad)} pads for shape {shape}")
        for i in range(dims):
            size, (left, right) = shape[ndim - 1 - i], pad[2 * i:2 * i + 2]
            if mode == "reflect" and (left >= size or right >= size):
                raise ValueError(f"pad: reflect padding ({left}, {right}) must be smaller than dimension "
                                 f"{ndim - 1 - i} of shape {shape} ({size})")
            if mode == "circular" and (left > size or right > size):
                raise ValueError(f"pad: circular padding ({left}, {right}) must be at most dimension "
                                 f"{ndim - 1 - i} of shape {shape} ({size})")
    begins, ends = [0] * ndim, [0] * ndim
    for i in range(dims):
        begins[ndim - 1 - i], ends[ndim - 1 - i] = int(pad[2 * i]), int(pad[2 * i + 1])
    fill = 0.0 if value is None else as_float(value, op, "value")
    crop, widths = _pad_plan(shape, begins + ends, _TORCH_MODES[mode])
    return PadFunction.apply(input, crop, widths, fill, _TORCH_MODES[mode])
