"""Pooling layers, as torch.nn.modules.pooling. They hold their hyper-parameters as given (an int or a
pair, as torch prints them); pycnn.nn.functional checks them on each call and computes."""
from .. import functional as F
from ..module import Module


class MaxPool2d(Module):
    """2-d max pooling: (N, C, H, W) -> (N, C, OH, OW), or (C, H, W) -> (C, OH, OW); arguments in
    torch's order (return_indices before ceil_mode). With ``return_indices`` the call returns
    (output, int64 argmax indices)."""

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False,
                 ceil_mode=False):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding, self.dilation = padding, dilation
        self.return_indices, self.ceil_mode = return_indices, ceil_mode

    def forward(self, input):
        return F.max_pool2d(input, self.kernel_size, self.stride, self.padding, self.dilation,
                            self.ceil_mode, self.return_indices)

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class AvgPool2d(Module):
    """2-d average pooling: (N, C, H, W) -> (N, C, OH, OW), or (C, H, W) -> (C, OH, OW).
    ``count_include_pad`` counts the zero
    padding in each window's divisor; ``divisor_override`` replaces the divisor."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
                 divisor_override=None):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding, self.ceil_mode = padding, ceil_mode
        self.count_include_pad, self.divisor_override = count_include_pad, divisor_override

    def forward(self, input):
        return F.avg_pool2d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad, self.divisor_override)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveAvgPool2d(Module):
    """Average pooling to a fixed output size, whatever H and W: (N, C, H, W) -> (N, C, OH, OW), or
    (C, H, W) -> (C, OH, OW), with (OH, OW) = output_size (a None entry keeps the input's size)."""

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, input):
        return F.adaptive_avg_pool2d(input, self.output_size)

    def extra_repr(self):
        return f"output_size={self.output_size}"


class AdaptiveMaxPool2d(Module):
    """Max pooling to a fixed output size, whatever H and W, as torch.nn.AdaptiveMaxPool2d: (N, C, H,
    W) -> (N, C, OH, OW); with ``return_indices`` also each window's argmax."""

    def __init__(self, output_size, return_indices=False):
        super().__init__()
        self.output_size, self.return_indices = output_size, return_indices

    def forward(self, input):
        return F.adaptive_max_pool2d(input, self.output_size, self.return_indices)

    def extra_repr(self):
        return f"output_size={self.output_size}"

