"""Activations: relu, leaky_relu, elu, gelu, silu, softplus, sigmoid, tanh, hardtanh, relu6,
hardsigmoid, hardswish, prelu, softmax and log_softmax, each an autograd Function over its C++
kernels cpp/src/{cpu,cuda}/<op>.* (bindings: cpp/bindings/<op>.cpp). Names, arguments and torch's
gradient conventions at the kinks (what passes at exactly 0, at a clip bound, at NaN) follow
torch.nn.functional."""
import numpy as np

from ... import _C
from ..._arguments import as_bool, as_float, as_int
from ...autograd import Function, is_grad_enabled, writable_in_place
from ...tensor import as_float_tensor, as_tensor
from ...tensor_ops.arithmetic import ClipFunction
from ...tensor_ops.common import scalar


class ActivationFunction(Function):
    """The autograd Function of an activation whose C++ kernels are ``forward_kernel(x, *params) -> y``
    and ``backward_kernel(dy, saved, *params) -> dx``: ``saved`` is the output y when
    ``saves_output`` (relu, sigmoid, tanh, softmax: their derivative is a function of y, and x need
    not be kept), else the input x. ``params`` are the op's numbers (a slope, bounds, a dim), which
    get no gradient."""

    saves_output = False

    def forward(self, x, *params):
        y = self.forward_kernel(x, *params)
        self.saved, self.params = (y if self.saves_output else x), params
        return y

    def backward(self, grad):
        return (self.backward_kernel(grad, self.saved, *self.params),) + (None,) * len(self.params)


class ReluFunction(ActivationFunction):
    forward_kernel = staticmethod(_C.relu_forward)
    backward_kernel = staticmethod(_C.relu_backward)
    saves_output = True

    def forward_in_place(self, x):
        _C.relu_(x)
        self.saved, self.params = x, ()


def relu(input, inplace=False):
    """max(input, 0), elementwise; any shape.

    ``inplace=True`` writes the result into ``input`` and returns it, as torch does, wherever that
    is safe (see :func:`pycnn.autograd.writable_in_place`; elsewhere, CUDA tensors included, the
    result is a new tensor with the same values and gradients). On the output of a batch norm that
    no op has read yet, the ReLU then fuses into batch norm: batch norm's backward masks the gradient
    as it reads it, and the ReLU's own backward pass (read the gradient and the output, write a new
    gradient) is gone."""
    x = as_float_tensor(input, "relu")
    if as_bool(inplace, "relu", "inplace") and writable_in_place(x):
        fused = x._fn
        absorb = getattr(fused, "absorb_relu", None)
        if is_grad_enabled() and absorb is not None and absorb():
            _C.relu_(x._data)
            return x
        return ReluFunction.apply_in_place(x)
    return ReluFunction.apply(x)


class LeakyReluFunction(ActivationFunction):
    forward_kernel = staticmethod(_C.leaky_relu_forward)
    backward_kernel = staticmethod(_C.leaky_relu_backward)


def leaky_relu(input, negative_slope=0.01, inplace=False):
    """input where input > 0, else negative_slope * input; any shape. ``inplace`` as in relu."""
    as_float_tensor(input, "leaky_relu")
    as_bool(inplace, "leaky_relu", "inplace")
    return LeakyReluFunction.apply(input, as_float(negative_slope, "leaky_relu", "negative_slope"))


class EluFunction(ActivationFunction):
    forward_kernel = staticmethod(_C.elu_forward)
    backward_kernel = staticmethod(_C.elu_backward)


def elu(input, alpha=1.0, inplace=False):
    """input where input > 0, else alpha * (exp(input) - 1) (computed as expm1, exact near 0); any
    shape. ``inplace`` as in relu."""
    as_float_tensor(input, "elu")
    as_bool(inplace, "elu", "inplace")
    return EluFunction.apply(input, as_float(alpha, "elu", "alpha"))


class GeluFunction(ActivationFunction):
    forward_kernel = staticmethod(_C.gelu_forward)
    backward_kernel = staticmethod(_C.gelu_backward)


def gelu(input, approximate="none"):
    """input * Phi(input), Phi the standard normal CDF; any shape. approximate='tanh' uses torch's
    0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3))) instead."""
    as_float_tensor(input, "gelu")
    if not isinstance(approximate, str):
        raise TypeError(f"gelu: expected approximate to be a str ('none' or 'tanh'), got "
                        f"{type(approximate).__name__} {approximate!r}")
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: expected approximate to be 'none' or 'tanh', got {approximate!r}")
    return GeluFunction.apply(input, approximate)


class SiluFunction(ActivationFunction):
    forward_kernel = staticmethod(_C.silu_forward)
    backward_kernel = staticmethod(_C.silu_backward)


def silu(input, inplace=False):
    """input * sigmoid(input) ("swish"); any shape. ``inplace`` as in relu."""
    as_float_tensor(input, "silu")
    as_bool(inplace, "silu", "inplace")
    return SiluFunction.apply(input)


class SoftplusFunction(ActivationFunction):
    forward_kernel = staticmethod(_C.softplus_forward)
    backward_kernel = staticmethod(_C.softplus_backward)


def softplus(input, beta=1.0, threshold=20.0):
    """log(1 + exp(beta * input)) / beta, and input itself where beta * input > threshold (as
    torch); any shape. Computed without overflow for any threshold."""
    as_float_tensor(input, "softplus")
    return SoftplusFunction.apply(input, as_float(beta, "softplus", "beta"),
                                  as_float(threshold, "softplus", "threshold"))


class SigmoidFunction(ActivationFunction):
    forward_kernel = staticmethod(_C.sigmoid_forward)
    backward_kernel = staticmethod(_C.sigmoid_backward)
    saves_output = True


def sigmoid(input):
    """1 / (1 + exp(-input)), elementwise; any shape."""
    return SigmoidFunction.apply(as_float_tensor(input, "sigmoid"))


class TanhFunction(ActivationFunction):
    forward_kernel = staticmethod(_C.tanh_forward)
    backward_kernel = staticmethod(_C.tanh_backward)
    saves_output = True


def tanh(input):
    """tanh(input), elementwise; any shape."""
    return TanhFunction.apply(as_float_tensor(input, "tanh"))


def _strictly_inside(lo, hi):
    """The float32 neighbours just inside [lo, hi]: clip_backward's inclusive test on them is the
    strict test lo < x < hi for every float32 x (torch's hardtanh/hardsigmoid/hardswish rule)."""
    return (float(np.nextafter(np.float32(lo), np.float32(np.inf))),
            float(np.nextafter(np.float32(hi), np.float32(-np.inf))))


_INSIDE_THREE = _strictly_inside(-3.0, 3.0)  # hardsigmoid's and hardswish's open interval (-3, 3)


class HardtanhFunction(ClipFunction):
    """Clips like ClipFunction, but the gradient passes only strictly inside (lo < x < hi), as
    torch's hardtanh_backward: ClipFunction's backward runs on the bounds of _strictly_inside."""

    def forward(self, x, lo, hi):
        y = _C.clip_forward(x, lo, hi)
        self.saved, self.params = x, _strictly_inside(lo, hi)
        return y


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    """min(max(input, min_val), max_val), as torch.nn.functional.hardtanh; the gradient passes where
    min_val < input < max_val (not at the bounds, unlike clip). ``inplace`` as in relu."""
    as_float_tensor(input, "hardtanh")
    as_bool(inplace, "hardtanh", "inplace")
    lo, hi = as_float(min_val, "hardtanh", "min_val"), as_float(max_val, "hardtanh", "max_val")
    if not lo <= hi:
        raise ValueError(f"hardtanh: expected min_val <= max_val, got min_val={min_val!r}, "
                         f"max_val={max_val!r}")
    return HardtanhFunction.apply(input, lo, hi)


def relu6(input, inplace=False):
    """min(max(input, 0), 6), as torch.nn.functional.relu6 (hardtanh(input, 0, 6))."""
    return hardtanh(input, 0.0, 6.0, inplace)


def _relu6_shifted(x):
    """relu6(x + 3) on raw tensors: the gate of hardsigmoid and hardswish."""
    return _C.clip_forward(_C.binary_forward(x, scalar(3.0, x), 0), 0.0, 6.0)


class HardsigmoidFunction(Function):
    """relu6(x + 3) / 6 with torch's hardsigmoid_backward: grad / 6 where -3 < x < 3 (tested on x
    itself: x + 3 rounds the float32 just below 3 up to 6), else 0 (NaN included)."""

    def forward(self, x):
        self.x = x
        return _C.binary_forward(_relu6_shifted(x), scalar(6.0, x), 3)

    def backward(self, grad):
        sixth = _C.binary_forward(grad, scalar(6.0, grad), 3)
        return _C.clip_backward(sixth, self.x, *_INSIDE_THREE)


def hardsigmoid(input, inplace=False):
    """relu6(input + 3) / 6, as torch.nn.functional.hardsigmoid: the gradient is 1/6 where
    -3 < input < 3 and 0 elsewhere (NaN included)."""
    as_float_tensor(input, "hardsigmoid")
    as_bool(inplace, "hardsigmoid", "inplace")
    return HardsigmoidFunction.apply(input)


class HardswishFunction(Function):
    """x * relu6(x + 3) / 6 with torch's hardswish_backward: 0 where x <= -3, x/3 + 1/2 where
    -3 < x < 3, 1 where x >= 3 and for NaN. The masks come from the clip kernels' inclusive test on
    the float32 neighbours just inside the bounds (as in hardtanh), applied after the multiply, so a
    NaN slope never leaks through a zero mask."""

    def forward(self, x):
        self.x = x
        return _C.binary_forward(_C.binary_forward(x, _relu6_shifted(x), 2), scalar(6.0, x), 3)

    def backward(self, grad):
        x = self.x
        above_lo, below_hi = _INSIDE_THREE
        slope = _C.binary_forward(_C.binary_forward(x, scalar(3.0, x), 3), scalar(0.5, x), 0)
        inside = _C.clip_backward(_C.binary_forward(grad, slope, 2), x, above_lo, below_hi)
        right = _C.binary_forward(grad, _C.clip_backward(grad, x, -np.inf, below_hi), 1)  # x >= 3, NaN
        return _C.binary_forward(inside, right, 0)


def hardswish(input, inplace=False):
    """input * relu6(input + 3) / 6, as torch.nn.functional.hardswish (MobileNetV3), with torch's
    gradient (see HardswishFunction)."""
    as_float_tensor(input, "hardswish")
    as_bool(inplace, "hardswish", "inplace")
    return HardswishFunction.apply(input)


class PreluFunction(Function):
    def forward(self, x, w):
        self.saved = (x, w)
        return _C.prelu_forward(x, w)

    def backward(self, grad):
        x, w = self.saved
        need_x, need_w = self.needs_input_grad
        return _C.prelu_backward(grad, x, w, need_x, need_w)


def prelu(input, weight):
    """input where input > 0, else weight * input, with weight (1,) or (C,) broadcast over dim 1 of
    input (N, C, *), as torch.nn.functional.prelu. weight is learned: it gets a gradient."""
    as_float_tensor(input, "prelu")
    as_tensor(weight, "prelu", "weight")
    return PreluFunction.apply(input, weight)


# ----- softmax, log_softmax -----------------------------------------------------------------------
def _dim(dim, op):
    if dim is None:
        raise ValueError(f"{op}: expected dim to be an int, got None (PyTorch's implicit dim choice "
                         "is deprecated; pass dim explicitly)")
    return as_int(dim, op, "dim")


class SoftmaxFunction(ActivationFunction):
    forward_kernel = staticmethod(_C.softmax_forward)
    backward_kernel = staticmethod(_C.softmax_backward)
    saves_output = True


def softmax(input, dim=None):
    """exp(input) / sum(exp(input)) along dim (negative counts from the end); numerically stable."""
    return SoftmaxFunction.apply(as_float_tensor(input, "softmax"), _dim(dim, "softmax"))


class LogSoftmaxFunction(ActivationFunction):
    forward_kernel = staticmethod(_C.log_softmax_forward)
    backward_kernel = staticmethod(_C.log_softmax_backward)
    saves_output = True


def log_softmax(input, dim=None):
    """log(softmax(input, dim)), computed stably as (x - max) - log(sum(exp(x - max)))."""
    return LogSoftmaxFunction.apply(as_float_tensor(input, "log_softmax"), _dim(dim, "log_softmax"))


# ----- activations composed of the kernels above (their gradients are those kernels' backward) -------
_SELU_ALPHA, _SELU_SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946


def selu(input, inplace=False):
    """scale * elu(input, alpha) with Klambauer et al.'s alpha 1.6733 and scale 1.0507 (self-normalising
    networks), as torch.nn.functional.selu: the elu kernel times the scale. ``inplace`` as in elu."""
    return elu(input, _SELU_ALPHA, inplace) * _SELU_SCALE


def celu(input, alpha=1.0, inplace=False):
    """max(0, x) + min(0, alpha * (exp(x / alpha) - 1)), as torch.nn.functional.celu: alpha * elu(x /
    alpha). alpha 0 raises ValueError, as torch."""
    alpha = as_float(alpha, "celu", "alpha")
    if alpha == 0:
        raise ValueError("celu: ZeroDivisionError, expected alpha != 0 (celu divides by alpha)")
    as_float_tensor(input, "celu")
    return elu(input * (1.0 / alpha), 1.0, inplace) * alpha


def mish(input, inplace=False):
    """input * tanh(softplus(input)) (Misra 2019), as torch.nn.functional.mish."""
    as_float_tensor(input, "mish")
    as_bool(inplace, "mish", "inplace")
    return input * tanh(softplus(input))


def logsigmoid(input):
    """log(sigmoid(input)) = -softplus(-input), stable for large |input|, as torch.nn.functional.logsigmoid."""
    as_float_tensor(input, "logsigmoid")
    return -softplus(-input)


def softsign(input):
    """input / (1 + |input|), as torch.nn.functional.softsign."""
    as_float_tensor(input, "softsign")
    return input / (input.abs() + 1.0)


def tanhshrink(input):
    """input - tanh(input), as torch.nn.functional.tanhshrink."""
    return as_float_tensor(input, "tanhshrink") - tanh(input)


def softmin(input, dim=None):
    """softmax(-input, dim), as torch.nn.functional.softmin (dim required)."""
    return softmax(-as_float_tensor(input, "softmin"), _dim(dim, "softmin"))


def glu(input, dim=-1):
    """The gated linear unit a * sigmoid(b), a and b the halves of ``input`` along ``dim`` (of even
    size), as torch.nn.functional.glu."""
    as_float_tensor(input, "glu")
    dim = as_int(dim, "glu", "dim")
    if input.ndim == 0:
        raise ValueError("glu: does not support scalars because halving size must be even")
    if not -input.ndim <= dim < input.ndim:
        raise IndexError(f"glu: dimension out of range (expected to be in range of [{-input.ndim}, "
                         f"{input.ndim - 1}], but got {dim})")
    size = input.shape[dim]
    if size % 2:
        raise ValueError(f"glu: halving dimension must be even, but dimension {dim % input.ndim} is size {size}")
    a, b = input.split(size // 2, dim)
    return a * sigmoid(b)

