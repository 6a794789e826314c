"""Layers: Modules that hold an op's parameters and hyper-parameters and call pycnn.nn.functional.

Constructors, attribute names, default initialisation and ``extra_repr`` follow torch.nn, so a model
written for PyTorch reads the same here and its state_dict keys match.
"""
import math
import numbers

import numpy as np

from .. import _C
from . import functional as F
from .._arguments import as_float, as_int, as_pair
from .functional.loss import legacy_reduction
from . import init
from .module import Module, Parameter
from ..tensor import tensor as _tensor


def _pair(value, layer, name, low=None):
    """An int or a pair of ints as (h, w), each checked to be an int >= ``low`` when given."""
    pair = as_pair(value, layer, name)
    if low is not None and any(v < low for v in pair):
        raise ValueError(f"{layer}: expected {name} to be {'positive' if low == 1 else 'non-negative'}, "
                         f"got {value!r}")
    return pair


def _positive_int(value, layer, name):
    if (isinstance(value, bool) or not isinstance(value, (numbers.Integral, np.integer)) or value <= 0
            or value >= 2**63):
        raise ValueError(f"{layer}: expected {name} to be a positive int, got {value!r} (the most is "
                         f"2**63 - 1)")
    return int(value)


def _empty(*shape):
    """A zero Parameter from pycnn's allocator, which refuses shapes too large for the machine with a
    ValueError/RuntimeError that names the shape (numpy would raise MemoryError or be OOM-killed)."""
    return Parameter(_C.zeros(list(shape), "float32", "cpu"))


def _reset_weight_and_bias(weight, bias):
    """PyTorch's default for Conv2d and Linear: kaiming_uniform_(a=sqrt(5)) on the weight, which is
    U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and the bias uniform on the same bound."""
    init.kaiming_uniform_(weight, a=math.sqrt(5))
    if bias is not None:
        fan_in, _ = init._calculate_fan_in_and_fan_out(weight)
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
        init.uniform_(bias, -bound, bound)


# ----- convolution and fully connected ------------------------------------------------------------
class Conv2d(Module):
    """2-d convolution: (N, in_channels, H, W) -> (N, out_channels, OH, OW).
    weight (out_channels, in_channels / groups, kh, kw), bias (out_channels,)."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, padding_mode="zeros"):
        super().__init__()
        in_channels = _positive_int(in_channels, "Conv2d", "in_channels")
        out_channels = _positive_int(out_channels, "Conv2d", "out_channels")
        groups = _positive_int(groups, "Conv2d", "groups")
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"Conv2d: in_channels ({in_channels}) and out_channels ({out_channels}) "
                             f"must both be divisible by groups ({groups})")
        if padding_mode != "zeros":
            raise ValueError(f"Conv2d: only padding_mode='zeros' is supported, got {padding_mode!r}")
        if isinstance(padding, str) and padding not in ("same", "valid"):
            raise ValueError(f"Conv2d: expected padding to be an int, a pair, 'valid' or 'same', "
                             f"got {padding!r}")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = _pair(kernel_size, "Conv2d", "kernel_size", 1)
        self.stride = _pair(stride, "Conv2d", "stride", 1)
        if padding == "same" and self.stride != (1, 1):
            raise ValueError(f"Conv2d: padding='same' is not supported for strided convolutions, got "
                             f"stride={self.stride}")
        self.padding = padding if isinstance(padding, str) else _pair(padding, "Conv2d", "padding", 0)
        self.dilation = _pair(dilation, "Conv2d", "dilation", 1)
        self.padding_mode = padding_mode
        self.weight = _empty(out_channels, in_channels // groups, *self.kernel_size)
        if bias:
            self.bias = _empty(out_channels)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        _reset_weight_and_bias(self.weight, self.bias)

    def forward(self, input):
        return F.conv2d(input, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)

    def extra_repr(self):
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0, 0):
            s += f", padding={self.padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s


class Linear(Module):
    """y = x @ weight.T + bias: (*, in_features) -> (*, out_features)."""

    def __init__(self, in_features, out_features, bias=True):
        super().__init__()
        self.in_features = _positive_int(in_features, "Linear", "in_features")
        self.out_features = _positive_int(out_features, "Linear", "out_features")
        self.weight = _empty(out_features, in_features)
        if bias:
            self.bias = _empty(out_features)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        _reset_weight_and_bias(self.weight, self.bias)

    def forward(self, input):
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


# ----- pooling ------------------------------------------------------------------------------------
class MaxPool2d(Module):
    """2-d max pooling; arguments in torch's order (return_indices before ceil_mode). With
    ``return_indices`` the call returns (output, int64 argmax indices)."""

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
    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, input):
        return F.adaptive_avg_pool2d(input, self.output_size)

    def extra_repr(self):
        return f"output_size={self.output_size}"


# ----- activations --------------------------------------------------------------------------------
class _InplaceActivation(Module):
    """An activation whose only argument is torch's ``inplace``: accepted for PyTorch compatibility
    (torchvision models pass it), while pycnn always returns a new tensor, which gives the same
    values and gradients. Subclasses name their function in ``function``; ``show_inplace`` says
    whether torch's repr prints the flag."""

    function = None
    show_inplace = True

    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = inplace

    def forward(self, input):
        return type(self).function(input)

    def extra_repr(self):
        return "inplace=True" if self.inplace and self.show_inplace else ""


class ReLU(_InplaceActivation):
    """max(x, 0)."""

    function = staticmethod(F.relu)


class LeakyReLU(Module):
    """x if x >= 0 else negative_slope * x. ``inplace`` as in :class:`ReLU`."""

    def __init__(self, negative_slope=0.01, inplace=False):
        super().__init__()
        self.negative_slope, self.inplace = negative_slope, inplace

    def forward(self, input):
        return F.leaky_relu(input, self.negative_slope)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}" + (", inplace=True" if self.inplace else "")


class ELU(Module):
    """x if x > 0 else alpha * (exp(x) - 1), as torch.nn.ELU. ``inplace`` as in :class:`ReLU`."""

    def __init__(self, alpha=1.0, inplace=False):
        super().__init__()
        self.alpha, self.inplace = alpha, inplace

    def forward(self, input):
        return F.elu(input, self.alpha)

    def extra_repr(self):
        return f"alpha={self.alpha}" + (", inplace=True" if self.inplace else "")


class GELU(Module):
    """x * Phi(x), exact (approximate='none') or by the tanh formula, as torch.nn.GELU."""

    def __init__(self, approximate="none"):
        super().__init__()
        self.approximate = approximate

    def forward(self, input):
        return F.gelu(input, approximate=self.approximate)

    def extra_repr(self):
        return f"approximate={self.approximate!r}"


class SiLU(_InplaceActivation):
    """x * sigmoid(x), as torch.nn.SiLU."""

    function = staticmethod(F.silu)


class Softplus(Module):
    """log(1 + exp(beta * x)) / beta, linear above the threshold, as torch.nn.Softplus."""

    def __init__(self, beta=1.0, threshold=20.0):
        super().__init__()
        self.beta, self.threshold = beta, threshold

    def forward(self, input):
        return F.softplus(input, self.beta, self.threshold)

    def extra_repr(self):
        return f"beta={self.beta}, threshold={self.threshold}"


class Hardtanh(Module):
    """min(max(x, min_val), max_val), as torch.nn.Hardtanh (see F.hardtanh for the gradient)."""

    def __init__(self, min_val=-1.0, max_val=1.0, inplace=False):
        super().__init__()
        lo, hi = as_float(min_val, "Hardtanh", "min_val"), as_float(max_val, "Hardtanh", "max_val")
        if not lo <= hi:  # checked at construction, as torch does
            raise ValueError(f"Hardtanh: expected min_val <= max_val, got min_val={min_val!r}, "
                             f"max_val={max_val!r}")
        self.min_val, self.max_val, self.inplace = lo, hi, inplace

    def forward(self, input):
        return F.hardtanh(input, self.min_val, self.max_val)

    def extra_repr(self):
        return f"min_val={self.min_val}, max_val={self.max_val}" + (", inplace=True" if self.inplace else "")


class ReLU6(Hardtanh):
    """min(max(x, 0), 6), as torch.nn.ReLU6."""

    def __init__(self, inplace=False):
        super().__init__(0.0, 6.0, inplace)

    def extra_repr(self):
        return "inplace=True" if self.inplace else ""


class Hardsigmoid(_InplaceActivation):
    """relu6(x + 3) / 6, as torch.nn.Hardsigmoid."""

    function = staticmethod(F.hardsigmoid)
    show_inplace = False


class Hardswish(_InplaceActivation):
    """x * relu6(x + 3) / 6, as torch.nn.Hardswish."""

    function = staticmethod(F.hardswish)
    show_inplace = False


class PReLU(Module):
    """x if x >= 0 else a * x with a learned slope ``a``: one shared (num_parameters=1) or one per
    channel (dim 1 of the input), initialised to ``init``, as torch.nn.PReLU."""

    def __init__(self, num_parameters=1, init=0.25):
        super().__init__()
        self.num_parameters = _positive_int(num_parameters, "PReLU", "num_parameters")
        if isinstance(init, bool) or not isinstance(init, numbers.Real):
            raise TypeError(f"PReLU: expected init to be a number, got {type(init).__name__} {init!r}")
        self.init = float(init)
        self.weight = _empty(self.num_parameters)
        self.reset_parameters()

    def reset_parameters(self):
        init.constant_(self.weight, self.init)

    def forward(self, input):
        return F.prelu(input, self.weight)

    def extra_repr(self):
        return f"num_parameters={self.num_parameters}"


class Sigmoid(Module):
    def forward(self, input):
        return F.sigmoid(input)


class Tanh(Module):
    def forward(self, input):
        return F.tanh(input)


def _softmax_dim(dim, input):
    # torch's rule for dim=None (kept for old code): 0 for 0-, 1- and 3-d inputs, else 1
    if dim is not None:
        return dim
    return 0 if input.ndim in (0, 1, 3) else 1


class _SoftmaxFamily(Module):
    """Softmax and LogSoftmax: one module shape, the function differs."""

    _function = None

    def __init__(self, dim=None):
        super().__init__()
        self.dim = dim

    def forward(self, input):
        return self._function(input, _softmax_dim(self.dim, input))

    def extra_repr(self):
        return f"dim={self.dim}"


class Softmax(_SoftmaxFamily):
    _function = staticmethod(F.softmax)


class LogSoftmax(_SoftmaxFamily):
    _function = staticmethod(F.log_softmax)


class Dropout(Module):
    """Zeroes each element with probability p while training and scales the rest by 1/(1-p);
    the identity in eval mode. ``inplace`` as in :class:`ReLU`."""

    def __init__(self, p=0.5, inplace=False):
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0 <= p <= 1:
            raise ValueError(f"Dropout: expected p to be a probability between 0 and 1, got {p!r}")
        self.p, self.inplace = float(p), inplace

    def forward(self, input):
        return F.dropout(input, self.p, self.training)

    def extra_repr(self):
        return f"p={self.p}, inplace={self.inplace}"


# ----- normalization ------------------------------------------------------------------------------
class _BatchNorm(Module):
    """Batch normalization over the channel dimension 1. Training normalizes by the batch statistics
    and updates running_mean/running_var (momentum; a cumulative average when momentum is None);
    eval normalizes by the running statistics. ``bias=False`` (keyword, as in torch 2.13) drops the
    shift."""

    _expected_dims = ()

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True, *,
                 bias=True):
        super().__init__()
        name = type(self).__name__
        self.num_features = _positive_int(num_features, name, "num_features")
        eps = as_float(eps, name, "eps")
        if not eps > 0:
            raise ValueError(f"{name}: expected eps > 0, got {eps!r}")
        if momentum is not None:
            momentum = as_float(momentum, name, "momentum")
        self.eps, self.momentum = eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        if affine:
            self.weight = _empty(num_features)
            init.ones_(self.weight)
            if bias:
                self.bias = _empty(num_features)
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", _empty(num_features).detach())
            self.register_buffer("running_var", init.ones_(_empty(num_features)).detach())
            self.register_buffer("num_batches_tracked", _tensor(np.array(0, dtype=np.int64)))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self):
        if self.track_running_stats:
            self.running_mean.zero_()
            init.ones_(self.running_var)
            self.num_batches_tracked.zero_()

    def reset_parameters(self):
        self.reset_running_stats()
        if self.affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def _count_batch(self):
        """num_batches_tracked += 1 (an int64 scalar: CPU memory is shared with numpy; a GPU
        buffer is read, incremented and written back)."""
        counter = self.num_batches_tracked
        if counter.device == "cpu":
            counter.numpy()[...] += 1
        else:
            counter.copy_(np.array(counter.item() + 1, dtype=np.int64))

    def forward(self, input):
        if input.ndim not in self._expected_dims:
            dims = " or ".join(f"{d}D" for d in self._expected_dims)
            raise ValueError(f"{type(self).__name__}: expected {dims} input, got {input.ndim}D input "
                             f"of shape {tuple(input.shape)}")
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self._count_batch()
            if self.momentum is None:
                factor = 1.0 / float(self.num_batches_tracked.item())
        use_batch_stats = self.training or (self.running_mean is None and self.running_var is None)
        return F.batch_norm(input, self.running_mean, self.running_var, self.weight, self.bias,
                            use_batch_stats, factor, self.eps)

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}")


class BatchNorm2d(_BatchNorm):
    """Batch normalization of (N, C, H, W) over N, H, W per channel."""

    _expected_dims = (4,)


class BatchNorm1d(_BatchNorm):
    """Batch normalization of (N, C) or (N, C, L) over N (and L) per channel."""

    _expected_dims = (2, 3)


class LocalResponseNorm(Module):
    """AlexNet's cross-channel normalization: x / (k + alpha/size * sum of x^2 over size channels)^beta."""

    def __init__(self, size, alpha=1e-4, beta=0.75, k=1.0):
        super().__init__()
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def forward(self, input):
        return F.local_response_norm(input, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self):
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"


# ----- shape --------------------------------------------------------------------------------------
class Flatten(Module):
    """Merges dimensions start_dim..end_dim: (N, C, H, W) -> (N, C*H*W) by default."""

    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, input):
        return F.flatten(input, self.start_dim, self.end_dim)

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


# ----- losses -------------------------------------------------------------------------------------
_REDUCTIONS = ("none", "mean", "sum")


def _reduction(value, loss):
    if not isinstance(value, str) or value not in _REDUCTIONS:
        raise ValueError(f"{loss}: expected reduction in {_REDUCTIONS}, got {value!r}")
    return value


class CrossEntropyLoss(Module):
    """Softmax cross-entropy of logits (N, C, *) against int64 class labels (N, *) or class
    probabilities (N, C, *), as torch.nn.CrossEntropyLoss (same arguments, same order).
    ``weight`` (C,) rescales each class; it is a buffer, as in torch."""

    def __init__(self, weight=None, size_average=None, ignore_index=-100, reduce=None,
                 reduction="mean", label_smoothing=0.0):
        super().__init__()
        self.register_buffer("weight", weight)
        self.ignore_index = as_int(ignore_index, "CrossEntropyLoss", "ignore_index")
        reduction = legacy_reduction(size_average, reduce, reduction, "CrossEntropyLoss")
        self.reduction = _reduction(reduction, "CrossEntropyLoss")
        label_smoothing = as_float(label_smoothing, "CrossEntropyLoss", "label_smoothing")
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"CrossEntropyLoss: expected label_smoothing in [0, 1], got {label_smoothing!r}")
        self.label_smoothing = label_smoothing

    def forward(self, input, target):
        return F.cross_entropy(input, target, self.weight, ignore_index=self.ignore_index,
                               reduction=self.reduction, label_smoothing=self.label_smoothing)


class NLLLoss(Module):
    """Negative log-likelihood of log-probabilities (N, C, *) at int64 class labels (N, *), as
    torch.nn.NLLLoss. ``weight`` (C,) rescales each class; it is a buffer, as in torch."""

    def __init__(self, weight=None, size_average=None, ignore_index=-100, reduce=None,
                 reduction="mean"):
        super().__init__()
        self.register_buffer("weight", weight)
        self.ignore_index = as_int(ignore_index, "NLLLoss", "ignore_index")
        reduction = legacy_reduction(size_average, reduce, reduction, "NLLLoss")
        self.reduction = _reduction(reduction, "NLLLoss")

    def forward(self, input, target):
        return F.nll_loss(input, target, self.weight, ignore_index=self.ignore_index,
                          reduction=self.reduction)


class MSELoss(Module):
    """Mean squared error between input and target of the same shape."""

    def __init__(self, size_average=None, reduce=None, reduction="mean"):
        super().__init__()
        reduction = legacy_reduction(size_average, reduce, reduction, "MSELoss")
        self.reduction = _reduction(reduction, "MSELoss")

    def forward(self, input, target):
        return F.mse_loss(input, target, reduction=self.reduction)
