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


class L1Loss(_Loss):
    """Mean absolute error between input and target of the same shape (*), as torch.nn.L1Loss: a
    scalar, or (*) with reduction='none'."""

    def forward(self, input, target):
        return F.l1_loss(input, target, reduction=self.reduction)


class SmoothL1Loss(_Loss):
    """Squared error below ``beta``, absolute error (less beta / 2) above it, as torch.nn.SmoothL1Loss."""

    def __init__(self, size_average=None, reduce=None, reduction="mean", beta=1.0):
        super().__init__(size_average, reduce, reduction)
        self.beta = as_float(beta, "SmoothL1Loss", "beta")
        if not self.beta >= 0:
            raise ValueError(f"SmoothL1Loss: smooth_l1_loss does not support negative values for beta, got {beta}")

    def forward(self, input, target):
        return F.smooth_l1_loss(input, target, reduction=self.reduction, beta=self.beta)


class HuberLoss(_Loss):
    """Squared error up to ``delta``, delta times the absolute error (less delta / 2) past it, as
    torch.nn.HuberLoss."""

    def __init__(self, reduction="mean", delta=1.0):
        super().__init__(reduction=reduction)
        self.delta = as_float(delta, "HuberLoss", "delta")
        if not self.delta > 0:
            raise ValueError(f"HuberLoss: huber_loss does not support non-positive values for delta, got {delta}")

    def forward(self, input, target):
        return F.huber_loss(input, target, reduction=self.reduction, delta=self.delta)


class BCELoss(_Loss):
    """Binary cross-entropy of probabilities in [0, 1] against targets of the same shape, as
    torch.nn.BCELoss; ``weight`` (a buffer, broadcastable to the input) rescales each element."""

    def __init__(self, weight=None, size_average=None, reduce=None, reduction="mean"):
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)

    def forward(self, input, target):
        return F.binary_cross_entropy(input, target, self.weight, reduction=self.reduction)


class BCEWithLogitsLoss(_Loss):
    """Binary cross-entropy of logits (sigmoid and BCE in one, without overflow), as
    torch.nn.BCEWithLogitsLoss; ``weight`` and ``pos_weight`` (buffers, broadcastable to the input,
    pos_weight usually one per class) weigh each element and the positive targets."""

    def __init__(self, weight=None, size_average=None, reduce=None, reduction="mean", pos_weight=None):
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)
        self.register_buffer("pos_weight", pos_weight)

    def forward(self, input, target):
        return F.binary_cross_entropy_with_logits(input, target, self.weight, reduction=self.reduction,
                                                  pos_weight=self.pos_weight)


class KLDivLoss(Module):
    """The Kullback-Leibler divergence of a target distribution from log-probabilities, as
    torch.nn.KLDivLoss: reduction 'mean' (default, over every element), 'batchmean', 'sum' or 'none';
    ``log_target`` when the target is log-probabilities."""

    def __init__(self, size_average=None, reduce=None, reduction="mean", log_target=False):
        super().__init__()
        reduction = legacy_reduction(size_average, reduce, reduction, "KLDivLoss")
        if not isinstance(reduction, str) or reduction not in _REDUCTIONS + ("batchmean",):
            raise ValueError(f"KLDivLoss: expected reduction in {_REDUCTIONS + ('batchmean',)}, got {reduction!r}")
        self.reduction, self.log_target = reduction, bool(log_target)

    def forward(self, input, target):
        return F.kl_div(input, target, reduction=self.reduction, log_target=self.log_target)

