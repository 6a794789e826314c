"""Loss layers, as torch.nn.modules.loss: the Module holds the reduction (and the class weight and
ignore_index of the classification losses), checked at construction; pycnn.nn.functional computes.
Each takes torch's deprecated size_average/reduce flags, which override ``reduction`` when given."""
from ..._arguments import as_float, as_int
from .. import functional as F
from ..functional.loss import legacy_reduction
from ..module import Module

_REDUCTIONS = ("none", "mean", "sum")


class _Loss(Module):
    """What every loss holds: ``reduction``, 'mean' (default), 'sum' or 'none' (one loss per sample)."""

    def __init__(self, size_average=None, reduce=None, reduction="mean"):
        super().__init__()
        self._set_reduction(size_average, reduce, reduction)

    def _set_reduction(self, size_average, reduce, reduction):
        name = type(self).__name__
        reduction = legacy_reduction(size_average, reduce, reduction, name)
        if not isinstance(reduction, str) or reduction not in _REDUCTIONS:
            raise ValueError(f"{name}: expected reduction in {_REDUCTIONS}, got {reduction!r}")
        self.reduction = reduction


class _ClassificationLoss(_Loss):
    """A loss over class labels: ``weight`` (C,) rescales each class (a buffer, as in torch, so it
    moves with ``.to`` and is saved in the state_dict) and targets equal to ``ignore_index`` count
    for nothing."""

    def __init__(self, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean"):
        Module.__init__(self)  # the weight and ignore_index are checked before the reduction, as ever
        self.register_buffer("weight", weight)
        self.ignore_index = as_int(ignore_index, type(self).__name__, "ignore_index")
        self._set_reduction(size_average, reduce, reduction)


class CrossEntropyLoss(_ClassificationLoss):
    """Softmax cross-entropy of logits (N, C, *) against int64 class labels (N, *) or class
    probabilities (N, C, *), as torch.nn.CrossEntropyLoss (same arguments, same order): a scalar, or
    (N, *) with reduction='none'. ``label_smoothing`` in [0, 1] mixes the target with the uniform one."""

    def __init__(self, weight=None, size_average=None, ignore_index=-100, reduce=None,
                 reduction="mean", label_smoothing=0.0):
        super().__init__(weight, size_average, ignore_index, reduce, reduction)
        label_smoothing = as_float(label_smoothing, "CrossEntropyLoss", "label_smoothing")
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"CrossEntropyLoss: expected label_smoothing in [0, 1], got {label_smoothing!r}")
        self.label_smoothing = label_smoothing

    def forward(self, input, target):
        return F.cross_entropy(input, target, self.weight, ignore_index=self.ignore_index,
                               reduction=self.reduction, label_smoothing=self.label_smoothing)


class NLLLoss(_ClassificationLoss):
    """Negative log-likelihood of log-probabilities (N, C, *) at int64 class labels (N, *), as
    torch.nn.NLLLoss: a scalar, or (N, *) with reduction='none'."""

    def forward(self, input, target):
        return F.nll_loss(input, target, self.weight, ignore_index=self.ignore_index,
                          reduction=self.reduction)


class MSELoss(_Loss):
    """Mean squared error between input and target of the same shape (*): a scalar, or (*) with
    reduction='none'."""

    def forward(self, input, target):
        return F.mse_loss(input, target, reduction=self.reduction)
