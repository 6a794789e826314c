"""Conv1d, MaxPool1d, AvgPool1d (torch.nn's): Modules over pycnn.nn.functional's conv1d, max_pool1d,
avg_pool1d (the 2-d kernels on (N, C, 1, L))."""
from .. import functional as F
from ..module import Module
from ._utils import add_weight_and_bias, positive_int, reset_weight_and_bias
from .conv import _check_channels


class Conv1d(Module):
    """1-d convolution: (N, in_channels, L) -> (N, out_channels, OL); weight (out_channels,
    in_channels / groups, kernel_size), bias (out_channels,); torch's default init."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1, bias=True,
                 padding_mode="zeros"):
        super().__init__()
        self.in_channels, self.out_channels, self.groups = _check_channels("Conv1d", in_channels, out_channels,
                                                                           groups, padding_mode)
        self.kernel_size = (positive_int(kernel_size[0] if isinstance(kernel_size, tuple) else kernel_size,
                                         "Conv1d", "kernel_size"),)
        self.stride, self.padding, self.dilation = stride, padding, dilation
        self.padding_mode = padding_mode
        add_weight_and_bias(self, (self.out_channels, self.in_channels // self.groups, self.kernel_size[0]), bias)
        reset_weight_and_bias(self.weight, self.bias)

    def forward(self, input):
        return F.conv1d(input, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}, dilation={self.dilation}, groups={self.groups}")


class MaxPool1d(Module):
    """1-d max pooling: (N, C, L) -> (N, C, OL)."""

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
        super().__init__()
        self.kernel_size, self.stride = kernel_size, stride if stride is not None else kernel_size
        self.padding, self.dilation, self.ceil_mode = padding, dilation, ceil_mode

    def forward(self, input):
        return F.max_pool1d(input, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode)

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class AvgPool1d(Module):
    """1-d average pooling: (N, C, L) -> (N, C, OL)."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
        super().__init__()
        self.kernel_size, self.stride = kernel_size, stride if stride is not None else kernel_size
        self.padding, self.ceil_mode, self.count_include_pad = padding, ceil_mode, count_include_pad

    def forward(self, input):
        return F.avg_pool1d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"
