"""Activation layers, as torch.nn.modules.activation: each Module holds its op's hyper-parameters
under torch's names and calls the op of pycnn.nn.functional. Every one keeps the shape: (*) -> (*).

Constructors, attribute names, ``extra_repr`` and construction-time errors follow torch.nn, so a
model written for PyTorch reads and prints the same here.
"""
from ..._arguments import as_float
from .. import functional as F
from .. import init
from ..module import Module
from ._utils import empty, positive_int


class _Activation(Module):
    """An elementwise layer: ``function(input, *arguments)``, (*) -> (*). A subclass names its
    pycnn.nn.functional op in ``function`` and, in ``arguments``, the attributes its ``__init__``
    sets (with torch's names and checks) that the op takes after the input, in the op's order.
    ``extra_repr`` prints them as torch does: name=value."""

    function = None  # staticmethod(F.<op>): a plain function stored on a class would bind to self
    arguments = ()

    def forward(self, input):
        return self.function(input, *[getattr(self, name) for name in self.arguments])

    def extra_repr(self):
        return ", ".join(f"{name}={getattr(self, name)}" for name in self.arguments)


class _InplaceActivation(_Activation):
    """An activation with torch's ``inplace`` flag (torchvision models pass it). ReLU passes it on
    (see pycnn.nn.functional.relu); the others always return a new tensor, which gives the same
    values and gradients, so there the flag is kept but not passed on. ``show_inplace`` says whether
    torch's repr prints it."""

    show_inplace = True

    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = inplace

    def extra_repr(self):
        shown = super().extra_repr()
        if self.inplace and self.show_inplace:
            shown += (", " if shown else "") + "inplace=True"
        return shown


class ReLU(_InplaceActivation):
    """max(x, 0), elementwise: (*) -> (*). With ``inplace=True`` the result is written into the
    input where that is safe, and after a batch norm in training it fuses into batch norm's
    backward (pycnn.nn.functional.relu)."""

    function = staticmethod(F.relu)

    def forward(self, input):
        return F.relu(input, self.inplace)


class LeakyReLU(_InplaceActivation):
    """x if x >= 0 else negative_slope * x: (*) -> (*)."""

    function = staticmethod(F.leaky_relu)
    arguments = ("negative_slope",)

    def __init__(self, negative_slope=0.01, inplace=False):
        super().__init__(inplace)
        self.negative_slope = negative_slope


class ELU(_InplaceActivation):
    """x if x > 0 else alpha * (exp(x) - 1), as torch.nn.ELU: (*) -> (*)."""

    function = staticmethod(F.elu)
    arguments = ("alpha",)

    def __init__(self, alpha=1.0, inplace=False):
        super().__init__(inplace)
        self.alpha = alpha


class GELU(_Activation):
    """x * Phi(x), exact (approximate='none') or by the tanh formula, as torch.nn.GELU: (*) -> (*)."""

    function = staticmethod(F.gelu)
    arguments = ("approximate",)

    def __init__(self, approximate="none"):
        super().__init__()
        self.approximate = approximate

    def extra_repr(self):
        return f"approximate={self.approximate!r}"  # quoted, as torch prints it


class SiLU(_InplaceActivation):
    """x * sigmoid(x), as torch.nn.SiLU: (*) -> (*)."""

    function = staticmethod(F.silu)


class Softplus(_Activation):
    """log(1 + exp(beta * x)) / beta, linear above the threshold, as torch.nn.Softplus: (*) -> (*)."""

    function = staticmethod(F.softplus)
    arguments = ("beta", "threshold")

    def __init__(self, beta=1.0, threshold=20.0):
        super().__init__()
        self.beta, self.threshold = beta, threshold


class Hardtanh(_InplaceActivation):
    """min(max(x, min_val), max_val), as torch.nn.Hardtanh (see F.hardtanh for the gradient):
    (*) -> (*)."""

    function = staticmethod(F.hardtanh)
    arguments = ("min_val", "max_val")

    def __init__(self, min_val=-1.0, max_val=1.0, inplace=False):
        super().__init__(inplace)
        lo, hi = as_float(min_val, "Hardtanh", "min_val"), as_float(max_val, "Hardtanh", "max_val")
        if not lo <= hi:  # checked at construction, as torch does
            raise ValueError(f"Hardtanh: expected min_val <= max_val, got min_val={min_val!r}, "
                             f"max_val={max_val!r}")
        self.min_val, self.max_val = lo, hi


class ReLU6(Hardtanh):
    """min(max(x, 0), 6), as torch.nn.ReLU6: (*) -> (*). A Hardtanh with bounds (0, 6), which torch
    leaves out of the repr."""

    def __init__(self, inplace=False):
        super().__init__(0.0, 6.0, inplace)

    def extra_repr(self):
        return "inplace=True" if self.inplace else ""


class Hardsigmoid(_InplaceActivation):
    """relu6(x + 3) / 6, as torch.nn.Hardsigmoid: (*) -> (*)."""

    function = staticmethod(F.hardsigmoid)
    show_inplace = False


class Hardswish(_InplaceActivation):
    """x * relu6(x + 3) / 6, as torch.nn.Hardswish: (*) -> (*)."""

    function = staticmethod(F.hardswish)
    show_inplace = False


class Sigmoid(_Activation):
    """1 / (1 + exp(-x)), elementwise: (*) -> (*)."""

    function = staticmethod(F.sigmoid)


class Tanh(_Activation):
    """tanh(x), elementwise: (*) -> (*)."""

    function = staticmethod(F.tanh)


class _SoftmaxFamily(_Activation):
    """Softmax and LogSoftmax: normalise along ``dim``. dim=None (kept for old code) takes torch's
    implicit choice: 0 for 0-, 1- and 3-d inputs, else 1."""

    arguments = ("dim",)

    def __init__(self, dim=None):
        super().__init__()
        self.dim = dim

    def forward(self, input):
        dim = self.dim
        if dim is None:
            dim = 0 if input.ndim in (0, 1, 3) else 1
        return self.function(input, dim)


class Softmax(_SoftmaxFamily):
    """exp(x) / sum(exp(x)) along dim: (*) -> (*)."""

    function = staticmethod(F.softmax)


class LogSoftmax(_SoftmaxFamily):
    """log(softmax(x, dim)), computed stably: (*) -> (*)."""

    function = staticmethod(F.log_softmax)


class SELU(_InplaceActivation):
    """scale * elu(x, alpha) with the self-normalising constants, as torch.nn.SELU: (*) -> (*)."""

    function = staticmethod(F.selu)


class CELU(_InplaceActivation):
    """max(0, x) + min(0, alpha * (exp(x / alpha) - 1)), as torch.nn.CELU: (*) -> (*)."""

    function = staticmethod(F.celu)
    arguments = ("alpha",)

    def __init__(self, alpha=1.0, inplace=False):
        super().__init__(inplace)
        self.alpha = alpha


class Mish(_InplaceActivation):
    """x * tanh(softplus(x)), as torch.nn.Mish: (*) -> (*)."""

    function = staticmethod(F.mish)


class LogSigmoid(_Activation):
    """log(sigmoid(x)), as torch.nn.LogSigmoid: (*) -> (*)."""

    function = staticmethod(F.logsigmoid)


class Softsign(_Activation):
    """x / (1 + |x|), as torch.nn.Softsign: (*) -> (*)."""

    function = staticmethod(F.softsign)


class Tanhshrink(_Activation):
    """x - tanh(x), as torch.nn.Tanhshrink: (*) -> (*)."""

    function = staticmethod(F.tanhshrink)


class Softmin(_SoftmaxFamily):
    """softmax(-x) along dim: (*) -> (*)."""

    function = staticmethod(F.softmin)


class GLU(_Activation):
    """a * sigmoid(b) of the halves of the input along ``dim``, as torch.nn.GLU: the size along dim
    halves."""

    function = staticmethod(F.glu)
    arguments = ("dim",)

    def __init__(self, dim=-1):
        super().__init__()
        self.dim = dim


class PReLU(Module):
    """x if x >= 0 else a * x with a learned slope ``a``: one shared (num_parameters=1) or one per
    channel (dim 1 of the input), initialised to ``init``, as torch.nn.PReLU.
    (N, C, *) -> same; weight (num_parameters,), num_parameters 1 or C."""

    def __init__(self, num_parameters=1, init=0.25):
        super().__init__()
        self.num_parameters = positive_int(num_parameters, "PReLU", "num_parameters")
        self.init = as_float(init, "PReLU", "init")
        self.weight = empty(self.num_parameters)
        self.reset_parameters()

    def reset_parameters(self):
        init.constant_(self.weight, self.init)

    def forward(self, input):
        return F.prelu(input, self.weight)

    def extra_repr(self):
        return f"num_parameters={self.num_parameters}"
