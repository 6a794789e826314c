"""conv_transpose2d (torch.nn.functional's): the transpose of conv2d, on conv2d's C++ kernels
(cpp/src/{cpu,cuda}/conv2d.*): its forward is conv2d's input gradient, its input gradient is conv2d's
forward, its weight gradient conv2d's weight gradient with the roles of input and output swapped.

:class:`ConvTranspose2dFunction` computes the full transposed convolution, of size
(H - 1) * stride + dilation * (kH - 1) + 1, then keeps ``out_hw`` rows and columns from ``begin`` on
(zeros where they reach past the full result): torch's symmetric ``padding`` and ``output_padding``
and ONNX's begin/end ``pads``, ``output_padding`` and ``output_shape`` are all such a window.
"""
import numpy as np

from ... import _C
from ..._arguments import as_int, as_pair
from ...autograd import Function
from ...tensor import as_tensor
from ...tensor_ops import reshape
from ...tensor_ops.common import from_host


def _window(full_hw, begin, out_hw):
    """(source slices of the full result, destination slices of the output) of the kept window."""
    src, dst = [], []
    for size, b, o in zip(full_hw, begin, out_hw):
        lo, hi = max(b, 0), min(b + o, size)
        src.append(slice(lo, max(hi, lo)))
        dst.append(slice(lo - b, lo - b + max(hi - lo, 0)))
    return (Ellipsis, *src), (Ellipsis, *dst)


class ConvTranspose2dFunction(Function):
    def forward(self, x, w, stride, dilation, groups, begin, out_hw):
        n, _, h, wd = x.shape
        cout = w.shape[1] * groups
        full_hw = [(size - 1) * s + d * (k - 1) + 1 for size, s, d, k in zip((h, wd), stride, dilation, w.shape[2:])]
        shape = [n, cout, *full_hw]
        zeros = _C.zeros(shape, "float32", x.device)
        full, _, _ = _C.conv2d_backward(x, zeros, w, stride, (0, 0), dilation, groups, True, False, False)
        self.saved = (x, w, stride, dilation, groups, shape)
        self.src, self.dst = _window(full_hw, begin, out_hw)
        if list(full_hw) == list(out_hw) and begin == (0, 0):
            return full
        out = np.zeros([n, cout, *out_hw], np.float32)
        out[self.dst] = full.to("cpu").numpy()[self.src]
        return from_host(out, x.device, np.float32)

    def backward(self, grad):
        x, w, stride, dilation, groups, shape = self.saved
        if list(grad.shape) != shape or self.src != self.dst:
            full = np.zeros(shape, np.float32)
            full[self.src] = grad.to("cpu").numpy()[self.dst]
            grad = from_host(full, x.device, np.float32)
        need_x, need_w = self.needs_input_grad[:2]
        dx = _C.conv2d_forward(grad, w, None, stride, (0, 0), dilation, groups) if need_x else None
        dw = None
        if need_w:  # conv2d's weight gradient with grad as its input and x as its output gradient
            _, dw, _ = _C.conv2d_backward(x, grad, w, stride, (0, 0), dilation, groups, False, True, False)
        return dx, dw, None, None, None, None, None


def conv_transpose_output_size(size, kernel, stride, dilation, pad_begin, pad_end, output_padding):
    """(size - 1) * stride - pad_begin - pad_end + dilation * (kernel - 1) + output_padding + 1."""
    return (size - 1) * stride - pad_begin - pad_end + dilation * (kernel - 1) + output_padding + 1


def conv_transpose_window(input, weight, bias, stride, dilation, groups, begin, out_hw):
    """The transposed convolution's rows and columns ``out_hw`` from ``begin`` on (see the module
    docstring), plus ``bias`` per output channel; input (N, C_in, H, W), weight (C_in, C_out/groups,
    kH, kW)."""
    if input.ndim != 4 or weight.ndim != 4:
        raise ValueError(f"conv_transpose2d: expected 4-d input (N, C_in, H, W) and weight (C_in, C_out/groups, "
                         f"kH, kW), got shapes {tuple(input.shape)} and {tuple(weight.shape)}")
    if groups < 1 or input.shape[1] != weight.shape[0] or weight.shape[0] % groups:
        raise ValueError(f"conv_transpose2d: input of {input.shape[1]} channels and weight of shape "
                         f"{tuple(weight.shape)} with groups={groups}: expected weight (C_in, C_out/groups, kH, kW) "
                         "with C_in divisible by groups")
    if bias is not None and tuple(bias.shape) != (weight.shape[1] * groups,):
        raise ValueError(f"conv_transpose2d: expected bias of shape ({weight.shape[1] * groups},), got "
                         f"{tuple(bias.shape)}")
    if min(out_hw) < 1:
        raise ValueError(f"conv_transpose2d: the output would be {tuple(out_hw)}, not positive")
    if input.dtype != "float32" or weight.dtype != "float32":
        raise TypeError(f"conv_transpose2d: expected float32 input and weight, got {input.dtype}, {weight.dtype}")
    if input.device != weight.device:
        raise ValueError(f"conv_transpose2d: input on {input.device}, weight on {weight.device}")
    y = ConvTranspose2dFunction.apply(input, weight, tuple(stride), tuple(dilation), int(groups), tuple(begin),
                                      tuple(out_hw))
    if bias is not None:
        y = y + reshape(bias, (bias.shape[0], 1, 1))
    return y


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """torch.nn.functional.conv_transpose2d: input (N, C_in, H, W) or (C_in, H, W), weight
    (C_in, C_out/groups, kH, kW), bias (C_out,) -> (N, C_out, OH, OW) with
    OH = (H - 1) * stride - 2 * padding + dilation * (kH - 1) + output_padding + 1."""
    as_tensor(input, "conv_transpose2d", "input")
    as_tensor(weight, "conv_transpose2d", "weight")
    stride, padding = as_pair(stride, "conv_transpose2d", "stride"), as_pair(padding, "conv_transpose2d", "padding")
    output_padding = as_pair(output_padding, "conv_transpose2d", "output_padding")
    dilation, groups = as_pair(dilation, "conv_transpose2d", "dilation"), as_int(groups, "conv_transpose2d", "groups")
    if any(o >= max(s, d) or o < 0 for o, s, d in zip(output_padding, stride, dilation)):
        raise ValueError(f"conv_transpose2d: output_padding {output_padding} must be smaller than stride {stride} "
                         f"or dilation {dilation}")
    unbatched = input.ndim == 3
    if unbatched:
        input = reshape(input, (1,) + tuple(input.shape))
    if input.ndim != 4 or weight.ndim != 4:
        raise ValueError(f"conv_transpose2d: expected 3-d or 4-d input and 4-d weight, got shapes "
                         f"{tuple(input.shape)} and {tuple(weight.shape)}")
    out_hw = [conv_transpose_output_size(size, k, s, d, p, p, o) for size, k, s, d, p, o in
              zip(input.shape[2:], weight.shape[2:], stride, dilation, padding, output_padding)]
    y = conv_transpose_window(input, weight, bias, stride, dilation, groups, padding, out_hw)
    return reshape(y, tuple(y.shape[1:])) if unbatched else y
