"""Two ONNX ops pycnn has no kernel for, as autograd Functions computed with numpy on the host:
``Transpose`` (a permutation of the axes) and constant ``Pad``. They appear in imported graphs only
around weights or at the edges of a network, so the copy to and from a GPU is no bottleneck; their
backward passes are exact (the inverse permutation; the gradient of the un-padded window)."""
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


class PadFunction(Function):
    def forward(self, x, pads, value):
        """pads: ONNX order (begin_0, ..., begin_n-1, end_0, ..., end_n-1), all >= 0."""
        n = len(x.shape)
        self.pads, self.device, self.in_shape = pads, x.device, list(x.shape)
        widths = [(pads[i], pads[i + n]) for i in range(n)]
        return _to_device(np.pad(x.to("cpu").numpy(), widths, constant_values=value), x.device)

    def backward(self, grad):
        n = len(self.in_shape)
        window = tuple(slice(self.pads[i], self.pads[i] + self.in_shape[i]) for i in range(n))
        return _to_device(grad.to("cpu").numpy()[window], self.device), None, None


def transpose(input, perm):
    """``input`` with its axes permuted: output axis i is input axis perm[i] (numpy.transpose)."""
    perm = tuple(int(p) for p in perm)
    if sorted(perm) != list(range(input.ndim)):
        raise ValueError(f"Transpose: perm {perm} is not a permutation of the {input.ndim} axes of shape "
                         f"{tuple(input.shape)}")
    return TransposeFunction.apply(input, perm)


def pad(input, pads, value=0.0):
    """Constant padding, ONNX's ``pads`` layout: all begins, then all ends (non-negative)."""
    pads = tuple(int(p) for p in pads)
    if len(pads) != 2 * input.ndim or min(pads, default=0) < 0:
        raise ValueError(f"Pad: expected {2 * input.ndim} non-negative pads for shape {tuple(input.shape)}, "
                         f"got {pads}")
    total = 1
    for i, d in enumerate(input.shape):
        total *= d + pads[i] + pads[i + input.ndim]
    if total > 1 << 31:
        raise ValueError(f"Pad: pads {pads} make shape {tuple(input.shape)} larger than 2^31 elements")
    return PadFunction.apply(input, pads, float(value))
