"""Pooling: max_pool2d, avg_pool2d and adaptive_avg_pool2d over the C++ kernels
cpp/src/{cpu,cuda}/<op>.* (bindings: cpp/bindings/<op>.cpp); adaptive_max_pool2d on the host
(numpy). Output sizes follow torch: floor unless ceil_mode, and with ceil_mode a last window must
start inside the input or its left padding.
"""
import numpy as np

from ... import _C
from ..._arguments import as_bool, as_int, as_pair
from ...autograd import Function
from ...tensor import Tensor, as_tensor
from ...tensor_ops import reshape
from ...tensor_ops.common import from_host


def _pool_input(input, op):
    """``input`` as 4-d (N, C, H, W): a 3-d (C, H, W) input gains a batch of one, like torch.
    Returns the 4-d tensor and whether the batch dimension was added."""
    as_tensor(input, op, "input")
    if input.ndim == 3:
        return reshape(input, (1,) + tuple(input.shape)), True
    if input.ndim != 4:
        raise ValueError(f"{op}: expected input to be 3-d (C, H, W) or 4-d (N, C, H, W), "
                         f"got shape {tuple(input.shape)}")
    return input, False


def _pool_window(kernel_size, stride, padding, op):
    """(kernel_size, stride, padding) as (h, w) pairs; a missing (None or empty) stride is the kernel
    size, PyTorch's default."""
    kernel_size = as_pair(kernel_size, op, "kernel_size")
    if stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0):
        stride = kernel_size
    return kernel_size, as_pair(stride, op, "stride"), as_pair(padding, op, "padding")


class MaxPool2dFunction(Function):
    def forward(self, x, kernel_size, stride, padding, dilation, ceil_mode, indices_out=None):
        y, indices = _C.max_pool2d_forward(x, kernel_size, stride, padding, dilation, ceil_mode)
        # Backward needs only the argmax and the input's shape, so the input itself is not kept.
        self.saved = (indices, list(x.shape), kernel_size, stride, padding, dilation, ceil_mode)
        if indices_out is not None:
            indices_out.append(indices)
        return y

    def backward(self, grad):
        indices, in_shape, kernel_size, stride, padding, dilation, ceil_mode = self.saved
        dx = _C.max_pool2d_backward(grad, indices, in_shape, kernel_size, stride, padding, dilation,
                                    ceil_mode)
        return dx, None, None, None, None, None


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """2-d max pooling. input (N, C, H, W) or (C, H, W) -> (N, C, OH, OW) (or (C, OH, OW)) with
    OH = floor_or_ceil((H + 2*padding - dilation*(kernel-1) - 1) / stride) + 1, as in torch; stride
    defaults to kernel_size; padding (at most half the kernel) counts as -inf.

    With ``return_indices`` also returns the int64 argmax of each window as a flat index h*W + w
    into its input plane, like torch."""
    op = "max_pool2d"
    x, added_batch = _pool_input(input, op)
    kernel_size, stride, padding = _pool_window(kernel_size, stride, padding, op)
    dilation = as_pair(dilation, op, "dilation")
    ceil_mode = as_bool(ceil_mode, op, "ceil_mode")
    indices_out = [] if return_indices else None
    out = MaxPool2dFunction.apply(x, kernel_size, stride, padding, dilation, ceil_mode,
                                  indices_out=indices_out)
    if added_batch:
        out = reshape(out, tuple(out.shape[1:]))
    if not return_indices:
        return out
    indices = indices_out[0]
    if added_batch:
        indices = indices.view(list(indices.shape[1:]))
    return out, Tensor._wrap(indices)


class AvgPool2dFunction(Function):
    def forward(self, x, kernel_size, stride, padding, ceil_mode, count_include_pad,
                divisor_override):
        self.saved = (list(x.shape), kernel_size, stride, padding, ceil_mode, count_include_pad,
                      divisor_override)
        return _C.avg_pool2d_forward(x, kernel_size, stride, padding, ceil_mode, count_include_pad,
                                     divisor_override)

    def backward(self, grad):
        return (_C.avg_pool2d_backward(grad, *self.saved),) + (None,) * 6


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """2-d average pooling. input (N, C, H, W) or (C, H, W) -> (N, C, OH, OW) (or (C, OH, OW)) with
    OH = floor_or_ceil((H + 2*padding - kernel) / stride) + 1, as in torch; stride defaults to
    kernel_size. Each window's sum is divided by ``divisor_override`` when given, else by the
    window's extent inside the padded input (count_include_pad=True) or by the real elements it
    covers."""
    op = "avg_pool2d"
    x, added_batch = _pool_input(input, op)
    kernel_size, stride, padding = _pool_window(kernel_size, stride, padding, op)
    ceil_mode = as_bool(ceil_mode, op, "ceil_mode")
    count_include_pad = as_bool(count_include_pad, op, "count_include_pad")
    if divisor_override is not None:
        divisor_override = as_int(divisor_override, op, "divisor_override")
        if divisor_override == 0:
            raise ValueError(f"{op}: divisor_override must not be zero")
    out = AvgPool2dFunction.apply(x, kernel_size, stride, padding, ceil_mode, count_include_pad,
                                  divisor_override)
    return reshape(out, tuple(out.shape[1:])) if added_batch else out


class AdaptiveAvgPool2dFunction(Function):
    def forward(self, x, output_size):
        self.saved = (list(x.shape), output_size)
        return _C.adaptive_avg_pool2d_forward(x, output_size)

    def backward(self, grad):
        in_shape, output_size = self.saved
        return _C.adaptive_avg_pool2d_backward(grad, in_shape, output_size), None


def _adaptive_output_size(x, output_size, op):
    """``output_size`` (an int, or a pair whose None entries keep x's size) as a checked pair."""
    if isinstance(output_size, (tuple, list)):
        if len(output_size) != 2:
            raise ValueError(f"{op}: expected output_size to be an int or a pair (h, w), "
                             f"got {output_size!r}")
        return tuple(x.shape[2 + i] if v is None else as_int(v, op, "output_size")
                     for i, v in enumerate(output_size))
    return as_pair(output_size, op, "output_size")


def _adaptive_bounds(size, out):
    """Output i of an adaptive pool reads rows floor(i * size / out) .. ceil((i + 1) * size / out) - 1."""
    return [(i * size // out, -(-(i + 1) * size // out)) for i in range(out)]


class AdaptiveMaxPool2dFunction(Function):
    """Adaptive max pooling on the host (numpy): each window's first maximum (NaN wins), as torch's
    scan; the gradient goes to that element (summed where windows overlap). indices_out, when a list,
    receives the int64 argmax (flat h * W + w within its plane)."""

    def forward(self, x, output_size, indices_out=None):
        a = x.to("cpu").numpy()
        n, c, h, w = a.shape
        oh, ow = output_size
        y = np.empty((n, c, oh, ow), np.float32)
        idx = np.empty((n, c, oh, ow), np.int64)
        for i, (h0, h1) in enumerate(_adaptive_bounds(h, oh)):
            for j, (w0, w1) in enumerate(_adaptive_bounds(w, ow)):
                window = a[:, :, h0:h1, w0:w1].reshape(n, c, -1)
                k = np.argmax(window, axis=2)  # numpy's argmax: the first maximum, a NaN first of all
                y[:, :, i, j] = np.take_along_axis(window, k[..., None], axis=2)[..., 0]
                idx[:, :, i, j] = (h0 + k // (w1 - w0)) * w + w0 + k % (w1 - w0)
        self.idx, self.in_shape, self.device = idx, (n, c, h, w), x.device
        if indices_out is not None:
            indices_out.append(from_host(idx, x.device, np.int64))
        return from_host(y, x.device, np.float32)

    def backward(self, grad):
        n, c, h, w = self.in_shape
        g = grad.to("cpu").numpy().reshape(n * c, -1)
        dx = np.zeros((n * c, h * w), np.float32)
        np.add.at(dx, (np.arange(n * c)[:, None], self.idx.reshape(n * c, -1)), g)
        return from_host(dx.reshape(self.in_shape), self.device, np.float32), None, None


def adaptive_max_pool2d(input, output_size, return_indices=False):
    """Max pooling to a fixed output size, as torch.nn.functional.adaptive_max_pool2d: input (N, C, H, W)
    or (C, H, W) -> (N, C, OH, OW) (or (C, OH, OW)); windows as adaptive_avg_pool2d's; with
    ``return_indices`` also the int64 argmax of each window (flat h * W + w in its plane). On the host."""
    op = "adaptive_max_pool2d"
    x, added_batch = _pool_input(input, op)
    output_size = _adaptive_output_size(x, output_size, op)
    if any(v <= 0 for v in output_size):
        raise ValueError(f"{op}: expected a positive output size, got {output_size}")
    if x.shape[2] == 0 or x.shape[3] == 0:
        raise ValueError(f"{op}: expected an input with non-empty spatial dimensions, got shape {tuple(input.shape)}")
    indices = [] if return_indices else None
    out = AdaptiveMaxPool2dFunction.apply(x, output_size, indices)
    if added_batch:
        out = reshape(out, tuple(out.shape[1:]))
    if not return_indices:
        return out
    idx = Tensor._wrap(indices[0])
    return out, (reshape(idx, tuple(idx.shape[1:])) if added_batch else idx)


def adaptive_avg_pool2d(input, output_size):
    """Average pooling to a fixed output size. input (N, C, H, W) or (C, H, W) -> (N, C, OH, OW) (or
    (C, OH, OW)); ``output_size`` is an int or a pair whose None entries keep the input's size.
    Output row i averages input rows floor(i*H/OH) .. ceil((i+1)*H/OH) - 1, like torch;
    output_size 1 is global average pooling."""
    op = "adaptive_avg_pool2d"
    x, added_batch = _pool_input(input, op)
    out = AdaptiveAvgPool2dFunction.apply(x, _adaptive_output_size(x, output_size, op))
    return reshape(out, tuple(out.shape[1:])) if added_batch else out
