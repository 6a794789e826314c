"""conv1d, max_pool1d and avg_pool1d (torch.nn.functional's): the 2-d ops (C++ kernels, forward and
backward) on (N, C, L) viewed as (N, C, 1, L), a kernel of height 1 and no padding along the height."""
from ..._arguments import as_int
from ...tensor import as_tensor
from ...tensor_ops import reshape
from .conv import conv2d
from .pooling import avg_pool2d, max_pool2d


def _single(value, op, name):
    """An int or a 1-tuple as an int."""
    if isinstance(value, (tuple, list)):
        if len(value) != 1:
            raise ValueError(f"{op}: expected {name} to be an int or a 1-tuple, got {value!r}")
        value = value[0]
    return as_int(value, op, name)


def _lift(input, op):
    """(input as (N, C, 1, L), the shape to give the result back: batched or not)."""
    as_tensor(input, op, "input")
    if input.ndim not in (2, 3):
        raise ValueError(f"{op}: expected input (N, C, L) or (C, L), got shape {tuple(input.shape)}")
    batched = input.ndim == 3
    n, c, length = (input.shape if batched else (1,) + tuple(input.shape))
    return reshape(input, (n, c, 1, length)), batched


def _drop(y, batched):
    n, c, _, length = y.shape
    return reshape(y, (n, c, length) if batched else (c, length))


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1-d convolution: input (N, C_in, L) or (C_in, L), weight (C_out, C_in/groups, K), bias (C_out,)
    -> (N, C_out, OL) with OL = (L + 2 * padding - dilation * (K - 1) - 1) // stride + 1."""
    x, batched = _lift(input, "conv1d")
    as_tensor(weight, "conv1d", "weight")
    if weight.ndim != 3:
        raise ValueError(f"conv1d: expected weight (C_out, C_in/groups, K), got shape {tuple(weight.shape)}")
    w = reshape(weight, (weight.shape[0], weight.shape[1], 1, weight.shape[2]))
    y = conv2d(x, w, bias, (1, _single(stride, "conv1d", "stride")), (0, _single(padding, "conv1d", "padding")),
               (1, _single(dilation, "conv1d", "dilation")), groups)
    return _drop(y, batched)


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    """1-d max pooling of (N, C, L) or (C, L); stride defaults to kernel_size."""
    x, batched = _lift(input, "max_pool1d")
    k = _single(kernel_size, "max_pool1d", "kernel_size")
    s = k if stride is None else _single(stride, "max_pool1d", "stride")
    y = max_pool2d(x, (1, k), (1, s), (0, _single(padding, "max_pool1d", "padding")),
                   (1, _single(dilation, "max_pool1d", "dilation")), ceil_mode)
    return _drop(y, batched)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """1-d average pooling of (N, C, L) or (C, L); stride defaults to kernel_size."""
    x, batched = _lift(input, "avg_pool1d")
    k = _single(kernel_size, "avg_pool1d", "kernel_size")
    s = k if stride is None else _single(stride, "avg_pool1d", "stride")
    y = avg_pool2d(x, (1, k), (1, s), (0, _single(padding, "avg_pool1d", "padding")), ceil_mode, count_include_pad)
    return _drop(y, batched)
