"""Convolution layers, as torch.nn.modules.conv: the Module holds the weight, the bias and the
hyper-parameters, checked at construction; pycnn.nn.functional.conv2d computes."""
from .. import functional as F
from ..module import Module
from ._utils import add_weight_and_bias, empty, pair_at_least, positive_int, reset_weight_and_bias


def _conv_repr(m):
    """torch's repr of a Conv2d or ConvTranspose2d: what differs from the defaults."""
    s = f"{m.in_channels}, {m.out_channels}, kernel_size={m.kernel_size}, stride={m.stride}"
    for key, default in (("padding", (0, 0)), ("output_padding", (0, 0)), ("dilation", (1, 1)), ("groups", 1)):
        value = getattr(m, key, default)
        if value != default:
            s += f", {key}={value}"
    if m.bias is None:
        s += ", bias=False"
    return s


def _check_channels(layer, in_channels, out_channels, groups, padding_mode):
    """(in_channels, out_channels, groups) checked as torch checks them at construction."""
    in_channels = positive_int(in_channels, layer, "in_channels")
    out_channels = positive_int(out_channels, layer, "out_channels")
    groups = positive_int(groups, layer, "groups")
    if in_channels % groups or out_channels % groups:
        raise ValueError(f"{layer}: in_channels ({in_channels}) and out_channels ({out_channels}) "
                         f"must both be divisible by groups ({groups})")
    if padding_mode != "zeros":
        raise ValueError(f"{layer}: only padding_mode='zeros' is supported, got {padding_mode!r}")
    return in_channels, out_channels, groups


class Conv2d(Module):
    """2-d convolution: (N, in_channels, H, W) -> (N, out_channels, OH, OW).
    weight (out_channels, in_channels / groups, kh, kw), bias (out_channels,)."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, padding_mode="zeros"):
        super().__init__()
        in_channels, out_channels, groups = _check_channels("Conv2d", in_channels, out_channels, groups, padding_mode)
        if isinstance(padding, str) and padding not in ("same", "valid"):
            raise ValueError(f"Conv2d: expected padding to be an int, a pair, 'valid' or 'same', "
                             f"got {padding!r}")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = pair_at_least(kernel_size, "Conv2d", "kernel_size", 1)
        self.stride = pair_at_least(stride, "Conv2d", "stride", 1)
        if padding == "same" and self.stride != (1, 1):
            raise ValueError(f"Conv2d: padding='same' is not supported for strided convolutions, got "
                             f"stride={self.stride}")
        self.padding = padding if isinstance(padding, str) else pair_at_least(padding, "Conv2d", "padding", 0)
        self.dilation = pair_at_least(dilation, "Conv2d", "dilation", 1)
        self.padding_mode = padding_mode
        add_weight_and_bias(self, (out_channels, in_channels // groups, *self.kernel_size), bias)
        self.reset_parameters()

    def reset_parameters(self):
        reset_weight_and_bias(self.weight, self.bias)

    def forward(self, input):
        return F.conv2d(input, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)

    def extra_repr(self):
        return _conv_repr(self)


class ConvTranspose2d(Module):
    """torch.nn.ConvTranspose2d: (N, in_channels, H, W) -> (N, out_channels, OH, OW),
    OH = (H - 1) * stride - 2 * padding + dilation * (kh - 1) + output_padding + 1.
    weight (in_channels, out_channels / groups, kh, kw), bias (out_channels,); torch's default init
    (its fan-in is computed from weight.shape[1], as torch does)."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0, groups=1,
                 bias=True, dilation=1, padding_mode="zeros"):
        super().__init__()
        in_channels, out_channels, groups = _check_channels("ConvTranspose2d", in_channels, out_channels, groups,
                                                            padding_mode)
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = pair_at_least(kernel_size, "ConvTranspose2d", "kernel_size", 1)
        self.stride = pair_at_least(stride, "ConvTranspose2d", "stride", 1)
        self.padding = pair_at_least(padding, "ConvTranspose2d", "padding", 0)
        self.output_padding = pair_at_least(output_padding, "ConvTranspose2d", "output_padding", 0)
        self.dilation = pair_at_least(dilation, "ConvTranspose2d", "dilation", 1)
        if any(o >= max(s, d) for o, s, d in zip(self.output_padding, self.stride, self.dilation)):
            raise ValueError(f"ConvTranspose2d: output_padding {self.output_padding} must be smaller than stride "
                             f"{self.stride} or dilation {self.dilation}")
        self.padding_mode = padding_mode
        add_weight_and_bias(self, (in_channels, out_channels // groups, *self.kernel_size), bias)
        if bias:  # one per output channel, which is the weight's dimension 1 here
            self.bias = empty(out_channels)
        self.reset_parameters()

    def reset_parameters(self):
        reset_weight_and_bias(self.weight, self.bias)

    def forward(self, input):
        return F.conv_transpose2d(input, self.weight, self.bias, self.stride, self.padding, self.output_padding,
                                  self.groups, self.dilation)

    def extra_repr(self):
        return _conv_repr(self)
