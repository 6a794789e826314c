"""Losses: cross_entropy, nll_loss, mse_loss, l1_loss, smooth_l1_loss, huber_loss,
binary_cross_entropy, binary_cross_entropy_with_logits and kl_div with torch's arguments (weights,
ignore_index, label smoothing, probability targets, pos_weight, the legacy size_average/reduce
flags). Index targets without weights run one fused C++ kernel (cpp/src/{cpu,cuda}/cross_entropy.*),
mse_loss its own (mse_loss.*), the pointwise losses one kernel of each kind
(pointwise_loss.*: l1, smooth L1, Huber, BCE, BCE with logits); the other forms are composed from
those, log_softmax and the tensor ops, so their gradients come from those ops' backward passes;
kl_div runs on the host (numpy, float64 inside: a distillation loss over logits-sized tensors)."""
import numpy as np

from ... import _C
from ..._arguments import as_bool, as_float, as_int
from ...autograd import Function
from ...tensor import Tensor, as_float_tensor, as_tensor
from ...tensor_ops import binary, broadcast_to, mean, reshape, sum, sum_to
from ...tensor_ops.common import from_host, scalar
from .activation import log_softmax


_REDUCTIONS = {"none": 0, "mean": 1, "sum": 2}


def _reduction(reduction, op):
    if not isinstance(reduction, str) or reduction not in _REDUCTIONS:
        raise ValueError(f"{op}: expected reduction to be 'none', 'mean' or 'sum', got {reduction!r}")
    return _REDUCTIONS[reduction]


class CrossEntropyFunction(Function):
    def forward(self, x, target, ignore_index, label_smoothing, reduction):
        loss, valid = _C.cross_entropy_forward(x, target, ignore_index, label_smoothing, reduction)
        self.saved = (x, target, valid, ignore_index, label_smoothing, reduction)
        return loss

    def backward(self, grad):
        return (_C.cross_entropy_backward(grad, *self.saved), None, None, None, None)


def legacy_reduction(size_average, reduce, reduction, op):
    """torch's rule for the deprecated size_average/reduce flags: when either is given it overrides
    ``reduction`` (reduce=False -> 'none', else size_average=False -> 'sum', else 'mean')."""
    if size_average is None and reduce is None:
        return reduction
    size_average = True if size_average is None else as_bool(size_average, op, "size_average")
    reduce = True if reduce is None else as_bool(reduce, op, "reduce")
    return "none" if not reduce else ("mean" if size_average else "sum")


def _class_weight(weight, C, device, op):
    as_tensor(weight, op, "weight")
    if weight.dtype != "float32":
        raise TypeError(f"{op}: expected weight to be float32, got {weight.dtype}")
    if tuple(weight.shape) != (C,):
        raise ValueError(f"{op}: expected weight of shape ({C},) (one per class), got "
                         f"{tuple(weight.shape)}")
    if weight.device != device:
        raise ValueError(f"{op}: expected weight on the input's device {device}, got {weight.device}")
    return weight


def _batched_classes(input, weight, op):
    """``input`` (C,), (N, C) or (N, C, d1, ...) as (N, C, ...) with at least one class, and whether
    a batch of one was added; ``weight``, when given, checked to hold one float32 per class."""
    if input.ndim == 0:
        raise ValueError(f"{op}: expected input of shape (C,), (N, C) or (N, C, d1, ...), got shape ()")
    unbatched = input.ndim == 1
    x = reshape(input, (1,) + tuple(input.shape)) if unbatched else input
    if x.shape[1] == 0:
        raise ValueError(f"{op}: expected at least one class, got input of shape {tuple(input.shape)}")
    if weight is not None:
        _class_weight(weight, x.shape[1], x.device, op)
    return x, unbatched


def _index_target(target, x, unbatched, op):
    """Class-index ``target`` checked against the batched input ``x`` (N, C, d1, ...): shape (N, d1,
    ...) (without N when the input was unbatched) on x's device; returned as (N, d1, ...)."""
    want = tuple(x.shape[:1]) + tuple(x.shape[2:])
    if tuple(target.shape) != (want[1:] if unbatched else want):
        input_shape = tuple(x.shape[1:]) if unbatched else tuple(x.shape)
        raise ValueError(f"{op}: expected target of shape {want[1:] if unbatched else want} for "
                         f"input of shape {input_shape}, got target of shape {tuple(target.shape)}")
    if target.device != x.device:
        raise ValueError(f"{op}: expected input and target on the same device, got {x.device} and "
                         f"{target.device}")
    return target.detach().reshape(want) if unbatched else target


def _weighted_nll(logp, target, weight, ignore_index, label_smoothing, reduction, op):
    """The negative log-likelihood of log-probabilities ``logp`` (N, C, *) under class-index targets
    (N, *) with class weights, as torch: each position's loss is -sum_c M_c * logp_c with
    M_c = w_t * (1 - eps) * [c == t] + eps / C * w_c (0 at ignored positions), and 'mean' divides by
    the sum of w_t over the non-ignored positions. M is built on the host from the labels (which are
    checked here); the reduction over classes is a differentiable sum_to."""
    C = logp.shape[1]
    labels = target.numpy() if target.device == "cpu" else target.to("cpu").numpy()
    keep = labels != ignore_index
    bad = keep & ((labels < 0) | (labels >= C))
    if bad.any():
        where = int(np.flatnonzero(bad.reshape(-1))[0])
        raise ValueError(f"{op}: target label {int(labels.reshape(-1)[where])} at position {where} is "
                         f"out of range: expected class indices in [0, {C}) (C = {C}) or "
                         f"ignore_index = {ignore_index}")
    w = (np.ones(C, np.float32) if weight is None else
         (weight.numpy() if weight.device == "cpu" else weight.to("cpu").numpy()))
    safe = np.where(keep, labels, 0)
    inner = int(np.prod(labels.shape[1:])) if labels.ndim > 1 else 1
    n = labels.shape[0]
    onehot = np.zeros((n, C, inner), np.float32)
    flat = safe.reshape(n, inner)
    rows, cols = np.nonzero(keep.reshape(n, inner))
    onehot[rows, flat[rows, cols], cols] = (1.0 - label_smoothing) * w[flat[rows, cols]]
    if label_smoothing:
        onehot += (label_smoothing / C) * w.reshape(1, C, 1) * keep.reshape(n, 1, inner)
    coeff = Tensor._wrap(_C.from_numpy(-onehot.reshape(logp.shape)).to(logp.device))
    per_class = binary(logp, coeff, "mul")
    per_position = sum_to(per_class, (n, 1) + tuple(logp.shape[2:]))
    per_position = reshape(per_position, (n,) + tuple(logp.shape[2:]))
    if reduction == "none":
        return per_position
    total = sum(per_position)
    if reduction == "sum":
        return total
    divisor = float(np.sum(w[safe][keep], dtype=np.float64))
    return binary(total, Tensor._wrap(scalar(divisor, total._data)), "div")


def _probability_cross_entropy(input, target, weight, label_smoothing, reduction, op):
    """Cross entropy against class probabilities ``target`` (input's shape), as torch:
    -sum_c w_c * ((1 - eps) * p_c + eps / C) * log_softmax(input)_c per position; 'mean' divides by
    the number of positions. The target gets a gradient too."""
    if target.dtype != "float32":
        raise TypeError(f"{op}: expected probability targets to be float32, got {target.dtype}")
    if target.device != input.device:
        raise ValueError(f"{op}: expected input and target on the same device, got {input.device} "
                         f"and {target.device}")
    C = input.shape[1]
    logp = log_softmax(input, 1)
    p = target
    if label_smoothing:
        p = binary(binary(p, Tensor._wrap(scalar(1.0 - label_smoothing, p._data)), "mul"),
                   Tensor._wrap(scalar(label_smoothing / C, p._data)), "add")
    if weight is not None:
        p = binary(p, reshape(weight, (1, C) + (1,) * (input.ndim - 2)), "mul")
    per_class = binary(logp, p, "mul")
    n = input.shape[0]
    per_position = sum_to(per_class, (n, 1) + tuple(input.shape[2:]))
    per_position = -reshape(per_position, (n,) + tuple(input.shape[2:]))
    if reduction == "none":
        return per_position
    return sum(per_position) if reduction == "sum" else mean(per_position)


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
                  reduction="mean", label_smoothing=0.0):
    """Cross entropy between logits and targets, as torch.nn.functional.cross_entropy (same
    arguments, same order).

    input (N, C) or (N, C, d1, ..., dk) float32 logits (or (C,) for one sample). target is either
    int64 class indices (N,) or (N, d1, ..., dk) in [0, C) or ignore_index, or float32 class
    probabilities of the input's shape. weight (C,) rescales each class. reduction 'mean' divides by
    the number of non-ignored targets (by the sum of their weights when weighted; by the number of
    positions for probabilities); 'none' returns the per-target losses (0 where ignored).
    label_smoothing eps mixes the target with the uniform distribution: (1 - eps) on the target,
    eps / C on every class. Index targets without weights run one fused C++ kernel; the other
    forms are composed from log_softmax."""
    op = "cross_entropy"
    as_float_tensor(input, op)
    as_tensor(target, op, "target")
    reduction = legacy_reduction(size_average, reduce, reduction, op)
    code = _reduction(reduction, op)
    ignore_index = as_int(ignore_index, op, "ignore_index")
    label_smoothing = as_float(label_smoothing, op, "label_smoothing")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{op}: expected label_smoothing in [0, 1], got {label_smoothing}")
    probabilities = target.dtype == "float32"
    if not probabilities and target.dtype != "int64":
        raise TypeError(f"{op}: expected target to be int64 class indices or float32 class "
                        f"probabilities, got {target.dtype}")
    if weight is None and not probabilities:
        return CrossEntropyFunction.apply(input, target, ignore_index, label_smoothing, code)
    x, unbatched = _batched_classes(input, weight, op)
    if probabilities:
        if tuple(target.shape) != tuple(input.shape):
            raise ValueError(f"{op}: expected probability targets of the input's shape "
                             f"{tuple(input.shape)}, got {tuple(target.shape)}")
        t = reshape(target, tuple(x.shape)) if unbatched else target
        out = _probability_cross_entropy(x, t, weight, label_smoothing, reduction, op)
    else:
        t = _index_target(target, x, unbatched, op)
        out = _weighted_nll(log_softmax(x, 1), t, weight, ignore_index, label_smoothing, reduction,
                            op)
    return reshape(out, ()) if unbatched and reduction == "none" else out


def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
             reduction="mean"):
    """The negative log-likelihood of log-probabilities input (N, C, *) (or (C,)) at int64 class
    indices target (N, *), as torch.nn.functional.nll_loss: -w_t * input_t per position, 0 where
    ignored; 'mean' divides by the sum of w_t over the non-ignored positions."""
    op = "nll_loss"
    as_float_tensor(input, op)
    as_tensor(target, op, "target")
    if target.dtype != "int64":
        raise TypeError(f"{op}: expected target to be int64 class indices, got {target.dtype}")
    reduction = legacy_reduction(size_average, reduce, reduction, op)
    _reduction(reduction, op)
    ignore_index = as_int(ignore_index, op, "ignore_index")
    x, unbatched = _batched_classes(input, weight, op)
    t = _index_target(target, x, unbatched, op)
    out = _weighted_nll(x, t, weight, ignore_index, 0.0, reduction, op)
    return reshape(out, ()) if unbatched and reduction == "none" else out


class MseLossFunction(Function):
    def forward(self, x, target, reduction):
        self.saved = (x, target, reduction)
        return _C.mse_loss_forward(x, target, reduction)

    def backward(self, grad):
        x, target, reduction = self.saved
        need_x, need_t = self.needs_input_grad[:2]
        dx, dt = _C.mse_loss_backward(grad, x, target, reduction, need_x, need_t)
        return dx, dt, None


def mse_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    """Mean squared error (input - target)^2 reduced by 'mean', 'sum' or 'none', as
    torch.nn.functional.mse_loss (same arguments, same order); input and target must have the same
    shape (PyTorch warns and broadcasts; pycnn raises ValueError). Both get gradients. ``weight``
    (input's shape) scales each squared error and 'mean' then divides by sum(weight), as torch."""
    as_float_tensor(input, "mse_loss")
    as_tensor(target, "mse_loss", "target")
    if target.dtype != "float32":
        raise TypeError(f"mse_loss: expected target to be float32, got {target.dtype}")
    reduction = legacy_reduction(size_average, reduce, reduction, "mse_loss")
    code = _reduction(reduction, "mse_loss")
    if tuple(input.shape) != tuple(target.shape):
        raise ValueError(f"mse_loss: expected input and target of the same shape, got input "
                         f"{tuple(input.shape)} and target {tuple(target.shape)} (pycnn does not "
                         "broadcast a loss's operands)")
    if weight is None:
        return MseLossFunction.apply(input, target, code)
    as_tensor(weight, "mse_loss", "weight")
    if tuple(weight.shape) != tuple(input.shape):
        raise ValueError(f"mse_loss: expected weight of the input's shape {tuple(input.shape)}, got "
                         f"{tuple(weight.shape)}")
    diff = binary(input, target, "sub")
    weighted = binary(binary(diff, diff, "mul"), weight, "mul")
    if reduction == "none":
        return weighted
    total = sum(weighted)
    return total if reduction == "sum" else binary(total, sum(weight), "div")


# ----- the pointwise losses (cpp/src/{cpu,cuda}/pointwise_loss.*) --------------------------------------
_L1, _SMOOTH_L1, _HUBER, _BCE, _BCE_LOGITS = range(5)


class PointwiseLossFunction(Function):
    """One of the pointwise losses (kind: _L1 ... _BCE_LOGITS) of input and target of one shape, with
    pos_weight (BCE with logits) broadcast to that shape or None. Gradients for input and target from
    the kernel; pos_weight's, where asked, on the host: t * log(1 + e^-x) times the upstream one."""

    def forward(self, x, target, pos_weight, kind, param, reduction):
        self.saved = (x, target, pos_weight, kind, param, reduction)
        return _C.pointwise_loss_forward(x, target, pos_weight, kind, param, reduction)

    def backward(self, grad):
        x, t, p, kind, param, reduction = self.saved
        need_x, need_t, need_p = self.needs_input_grad[:3]
        dx, dt = _C.pointwise_loss_backward(grad, x, t, p, kind, param, reduction, need_x, need_t)
        dp = None
        if need_p:
            xs, ts, g = x.to("cpu").numpy(), t.to("cpu").numpy(), grad.to("cpu").numpy()
            softplus = np.log1p(np.exp(-np.abs(xs))) + np.maximum(-xs, 0.0)
            scale = g if reduction == 0 else g / (xs.size if reduction == 1 else 1)
            dp = _C.from_numpy(np.ascontiguousarray(ts * softplus * scale, dtype=np.float32)).to(x.device)
        return dx, dt, dp, None, None, None


def _pair(input, target, op, same_shape_error=None):
    as_float_tensor(input, op)
    as_tensor(target, op, "target")
    if target.dtype != "float32":
        raise TypeError(f"{op}: expected target to be float32, got {target.dtype}")
    if target.device != input.device:
        raise ValueError(f"{op}: expected target on the input's device {input.device}, got {target.device}")
    if tuple(input.shape) != tuple(target.shape):
        raise ValueError(same_shape_error or
                         f"{op}: expected input and target of the same shape, got input {tuple(input.shape)} "
                         f"and target {tuple(target.shape)} (pycnn does not broadcast a loss's operands)")


def _pointwise(input, target, kind, param, reduction, weight, op, mean_over_weight, pos_weight=None):
    """The loss of ``kind``, with ``weight`` (None or broadcast to the input) scaling each element's
    loss: then 'mean' divides by sum(weight) (l1_loss, as torch's) or by the element count
    (mean_over_weight False: huber_loss and the BCE losses, as torch's)."""
    code = _reduction(reduction, op)
    p = None
    if pos_weight is not None:
        as_float_tensor(pos_weight, op)
        try:
            p = broadcast_to(pos_weight, input.shape)
        except ValueError:
            raise ValueError(f"{op}: expected pos_weight broadcastable to the input's shape {tuple(input.shape)}, "
                             f"got {tuple(pos_weight.shape)}") from None
    if weight is None:
        return PointwiseLossFunction.apply(input, target, p, kind, float(param), code)
    as_float_tensor(weight, op)
    if weight.device != input.device:
        raise ValueError(f"{op}: expected weight on the input's device {input.device}, got {weight.device}")
    each = binary(PointwiseLossFunction.apply(input, target, p, kind, float(param), 0), weight, "mul")
    if tuple(each.shape) != tuple(input.shape):
        raise ValueError(f"{op}: expected weight broadcastable to the input's shape {tuple(input.shape)}, got "
                         f"{tuple(weight.shape)}")
    if reduction == "none":
        return each
    total = sum(each)
    if reduction == "sum":
        return total
    # (l1_loss' weight has the input's shape; the mean of no elements is NaN)
    return binary(total, sum(weight), "div") if mean_over_weight else total / float(input.numel())


def _same_size_weight(weight, input, op):
    if weight is not None:
        as_tensor(weight, op, "weight")
        if tuple(weight.shape) != tuple(input.shape):
            raise ValueError(f"{op}: expected weight of the input's shape {tuple(input.shape)}, got "
                             f"{tuple(weight.shape)}")


def l1_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    """Mean absolute error |input - target| reduced by 'mean', 'sum' or 'none', as
    torch.nn.functional.l1_loss (same arguments, same order); input and target of the same shape (pycnn
    does not broadcast them); the gradient at input == target is 0. ``weight`` (input's shape) scales
    each error and 'mean' then divides by sum(weight), as torch."""
    _pair(input, target, "l1_loss")
    reduction = legacy_reduction(size_average, reduce, reduction, "l1_loss")
    _same_size_weight(weight, input, "l1_loss")
    return _pointwise(input, target, _L1, 0.0, reduction, weight, "l1_loss", True)


def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean", beta=1.0):
    """0.5 (input - target)^2 / beta where |input - target| < beta, else |input - target| - 0.5 beta
    (beta 0: l1_loss), as torch.nn.functional.smooth_l1_loss."""
    _pair(input, target, "smooth_l1_loss")
    reduction = legacy_reduction(size_average, reduce, reduction, "smooth_l1_loss")
    beta = as_float(beta, "smooth_l1_loss", "beta")
    if not beta >= 0 or not np.isfinite(beta):
        raise ValueError(f"smooth_l1_loss does not support negative values for beta, got {beta}")
    return _pointwise(input, target, _SMOOTH_L1, beta, reduction, None, "smooth_l1_loss", True)


def huber_loss(input, target, reduction="mean", delta=1.0, weight=None):
    """0.5 (input - target)^2 where |input - target| <= delta, else delta (|input - target| - 0.5
    delta), as torch.nn.functional.huber_loss; ``weight`` (input's shape) scales each element's loss,
    and 'mean' then divides by the element count, as torch (l1_loss divides by sum(weight))."""
    _pair(input, target, "huber_loss")
    delta = as_float(delta, "huber_loss", "delta")
    if not delta > 0 or not np.isfinite(delta):
        raise ValueError(f"huber_loss does not support non-positive values for delta, got {delta}")
    _same_size_weight(weight, input, "huber_loss")
    return _pointwise(input, target, _HUBER, delta, reduction, weight, "huber_loss", False)


def _bce_sizes(input, target, op):
    return (f"{op}: using a target size ({tuple(target.shape)}) that is different to the input size "
            f"({tuple(input.shape)}) is not supported; ensure they have the same size")


def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None, reduction="mean"):
    """-(target log(input) + (1 - target) log(1 - input)) of probabilities ``input`` in [0, 1] (each
    log at least -100, as torch), as torch.nn.functional.binary_cross_entropy; ``weight``
    (broadcastable to the input) rescales each element's loss, 'mean' divides by the element count.
    Input outside [0, 1] (or NaN) raises ValueError. The target's gradient is the clamped logs'
    log(1 - x) - log(x), so +-100 where x is 0 or 1 (torch's is +-inf there, past its own clamp)."""
    op = "binary_cross_entropy"
    as_float_tensor(input, op)
    as_tensor(target, op, "target")
    _pair(input, target, op, _bce_sizes(input, target, op))
    values = input.numpy()  # on the host: a CUDA input makes one round trip
    if values.size and not ((values >= 0) & (values <= 1)).all():
        bad = values[~((values >= 0) & (values <= 1))].flat[0]
        raise ValueError(f"{op}: all elements of input should be between 0 and 1 (probabilities; for logits use "
                         f"binary_cross_entropy_with_logits), got {bad}")
    reduction = legacy_reduction(size_average, reduce, reduction, op)
    return _pointwise(input, target, _BCE, 0.0, reduction, weight, op, False)


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None,
                                     reduction="mean", pos_weight=None):
    """binary_cross_entropy of sigmoid(input), computed from the logits without overflow
    ((1 - t) x + (1 + (p - 1) t) log(1 + e^-x)), as torch.nn.functional.binary_cross_entropy_with_logits;
    ``pos_weight`` (broadcastable to the input, usually one per class) weighs the positive targets,
    ``weight`` as binary_cross_entropy's. Gradients for input, target and pos_weight."""
    op = "binary_cross_entropy_with_logits"
    as_float_tensor(input, op)
    as_tensor(target, op, "target")
    _pair(input, target, op, _bce_sizes(input, target, op))
    reduction = legacy_reduction(size_average, reduce, reduction, op)
    return _pointwise(input, target, _BCE_LOGITS, 0.0, reduction, weight, op, False, pos_weight)


# ----- kl_div (on the host) ---------------------------------------------------------------------------
class KlDivFunction(Function):
    """The elementwise Kullback-Leibler terms of log-probabilities x against target t: t (log t - x),
    0 where t is 0 (torch's xlogy), or with log_target exp(t) (t - x); reduced by 'none', 'sum', 'mean'
    (over every element) or 'batchmean' (over the first dimension). Gradients for both, as torch's:
    dl/dx = -t (exp(t)), dl/dt = log t + 1 - x (exp(t) (t - x + 1)), NaN at t = 0 as torch's."""

    def forward(self, x, t, reduction, log_target):
        self.device, self.reduction, self.log_target = x.device, reduction, log_target
        self.x = x.to("cpu").numpy().astype(np.float64)
        self.t = t.to("cpu").numpy().astype(np.float64)
        with np.errstate(all="ignore"):
            if log_target:
                each = np.exp(self.t) * (self.t - self.x)
            else:
                each = np.where(self.t == 0, 0.0, self.t * np.log(self.t)) - self.t * self.x
        batch = self.x.shape[0] if self.x.ndim else 1
        self.divisor = {"none": 1, "sum": 1, "mean": each.size, "batchmean": batch}[reduction]
        if reduction == "none":
            return from_host(each.astype(np.float32), self.device)
        with np.errstate(all="ignore"):  # the mean of no elements is NaN
            return from_host(np.asarray(each.sum() / self.divisor, np.float32), self.device)

    def backward(self, grad):
        g = grad.to("cpu").numpy().astype(np.float64) / self.divisor  # 1 for 'none' and 'sum'
        need_x, need_t = self.needs_input_grad[:2]
        with np.errstate(all="ignore"):
            if self.log_target:
                dx = -np.exp(self.t) * g
                dt = np.exp(self.t) * (self.t - self.x + 1.0) * g
            else:
                dx = -self.t * g
                dt = np.where(self.t == 0, np.nan, np.log(self.t) + 1.0 - self.x) * g  # torch's NaN at t = 0
        def wrap(a):
            return from_host(np.broadcast_to(a, self.x.shape).astype(np.float32), self.device)

        return (wrap(dx) if need_x else None), (wrap(dt) if need_t else None), None, None


def kl_div(input, target, size_average=None, reduce=None, reduction="mean", log_target=False):
    """The Kullback-Leibler divergence of the distribution ``target`` from log-probabilities ``input``
    (knowledge distillation: ``kl_div(log_softmax(student / T), softmax(teacher / T), 'batchmean')``), as
    torch.nn.functional.kl_div: reduction 'batchmean' (the mathematical KL, summed and divided by the
    batch), 'sum', 'none' or 'mean' (over every element, as torch's default); ``log_target`` when the
    target is log-probabilities. input and target of the same shape; both get gradients."""
    op = "kl_div"
    _pair(input, target, op)
    reduction = legacy_reduction(size_average, reduce, reduction, op)
    if not isinstance(reduction, str) or reduction not in ("none", "mean", "sum", "batchmean"):
        raise ValueError(f"kl_div: expected reduction to be 'none', 'mean', 'sum' or 'batchmean', got {reduction!r}")
    return KlDivFunction.apply(input, target, reduction, as_bool(log_target, op, "log_target"))

