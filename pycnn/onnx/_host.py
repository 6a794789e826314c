"""ONNX ops pycnn has no kernel for, as autograd Functions computed with numpy on the host:
``Transpose`` (a permutation of the axes), ``Pad`` (constant, reflect, edge, wrap; negative pads
crop) and ``Max``/``Min`` of several tensors. They appear in imported graphs only around weights or
at the edges of a network, so the copy to and from a GPU is no bottleneck; their backward passes are
exact (the inverse permutation; each padded position's gradient added to the input position it
copies; the gradient of an extremum to the first input holding it)."""
import numpy as np

from .. import _C
from ..autograd import Function


def _to_device(array, device):
    return _C.from_numpy(np.ascontiguousarray(array)).to(device)


class TransposeFunction(Function):
    def forward(self, x, perm):
        self.perm, self.device = perm, x.device
        return _to_device(np.transpose(x.to("cpu").numpy(), perm), x.device)

    def backward(self, grad):
        inverse = np.argsort(self.perm)
        return _to_device(np.transpose(grad.to("cpu").numpy(), inverse), self.device), None


class ExtremumFunction(Function):
    def forward(self, *xs, largest):
        self.device = xs[0].device
        arrays = [x.to("cpu").numpy() for x in xs]
        self.shapes = [a.shape for a in arrays]
        reduce = np.maximum if largest else np.minimum
        out = reduce.reduce(np.broadcast_arrays(*arrays)) if len(arrays) > 1 else arrays[0].copy()
        # The gradient goes to the first input holding the extremum (ties are not split).
        self.winner = np.zeros(out.shape, dtype=np.int64)
        taken = np.zeros(out.shape, dtype=bool)
        for k, a in enumerate(arrays):
            hit = (a == out) & ~taken
            self.winner[hit] = k
            taken |= hit
        return _to_device(out, self.device)

    def backward(self, grad):
        g = grad.to("cpu").numpy()
        grads = []
        for k, shape in enumerate(self.shapes):
            if not self.needs_input_grad[k]:
                grads.append(None)
                continue
            mine = np.where(self.winner == k, g, 0.0)
            extra = mine.ndim - len(shape)
            mine = mine.sum(axis=tuple(range(extra))) if extra else mine
            mine = mine.sum(axis=tuple(i for i, d in enumerate(shape) if d == 1 and mine.shape[i] != 1),
                            keepdims=True)
            grads.append(_to_device(mine.astype(np.float32).reshape(shape), self.device))
        return tuple(grads)


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


class PadFunction(Function):
    def forward(self, x, crop, widths, value, mode):
        self.device, self.in_shape, self.crop, self.widths, self.mode = x.device, list(x.shape), crop, widths, mode
        return _to_device(_pad_numpy(x.to("cpu").numpy(), crop, widths, value, mode), x.device)

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
        return _to_device(full, self.device), None, None, None, None


def transpose(input, perm):
    """``input`` with its axes permuted: output axis i is input axis perm[i] (numpy.transpose)."""
    perm = tuple(int(p) for p in perm)
    if sorted(perm) != list(range(input.ndim)):
        raise ValueError(f"Transpose: perm {perm} is not a permutation of the {input.ndim} axes of shape "
                         f"{tuple(input.shape)}")
    return TransposeFunction.apply(input, perm)


def extremum(inputs, largest):
    """ONNX Max (``largest``) or Min: the elementwise extremum of inputs broadcast together."""
    shapes = [tuple(x.shape) for x in inputs]
    try:
        np.broadcast_shapes(*shapes)
    except ValueError:
        raise ValueError(f"{'Max' if largest else 'Min'}: input shapes {shapes} do not broadcast together") from None
    return ExtremumFunction.apply(*inputs, largest=bool(largest))


PAD_MODES = ("constant", "reflect", "edge", "wrap")


def _pad_numpy(array, crop, widths, value, mode):
    kwargs = {"constant_values": value} if mode == "constant" else {}
    return np.pad(array[crop], widths, mode=mode, **kwargs)


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
    """ONNX Pad: ``pads`` are all begins, then all ends; a negative pad removes that many elements.
    ``mode`` 'constant' fills with ``value``, 'reflect' mirrors without repeating the edge, 'edge'
    repeats it, 'wrap' continues from the other side."""
    crop, widths = _pad_plan(tuple(input.shape), pads, mode)
    return PadFunction.apply(input, crop, widths, float(value), mode)


def pad_array(array, pads, value=0.0, mode="constant"):
    """:func:`pad` on a numpy array (constants folded at import), keeping its dtype."""
    crop, widths = _pad_plan(array.shape, pads, mode)
    return _pad_numpy(array, crop, widths, value, mode)
