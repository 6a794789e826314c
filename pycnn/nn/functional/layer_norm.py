"""layer_norm, group_norm and instance_norm (torch.nn.functional's): one normalisation of ``input``
viewed as rows, each row to zero mean and unit (biased) variance, then the per-element or
per-channel affine transform.

The rows are ``input`` (d0, d1, ..., dk) viewed as (d0 * ... * d(start-1) * groups, the rest):
layer_norm's start is the first normalised dimension (groups 1), instance_norm's 2 (one row per sample
and channel), group_norm's 1 with ``groups`` rows per sample. :class:`NormalizeFunction` runs batch
norm's C++ kernels (cpp/src/{cpu,cuda}/batch_norm.*) on the view (1, rows, row length) in training
mode without running statistics, which is exactly this normalisation with its exact backward.
"""
import math

from ... import _C
from ..._arguments import as_float, as_int
from ...autograd import Function
from ...tensor import as_tensor
from ...tensor_ops import reshape


class NormalizeFunction(Function):
    """``x`` with each row of its (rows, -1) view normalised; see the module docstring."""

    def forward(self, x, start, groups, eps):
        shape = list(x.shape)
        rows = math.prod(shape[:start]) * groups
        self.shape, self.view = shape, [1, rows, math.prod(shape) // rows]
        y, mean, rstd = _C.batch_norm_forward(x.view(self.view), None, None, None, None, True, 0.0, eps)
        self.saved = (x.view(self.view), mean, rstd)
        return y.view(shape)

    def backward(self, grad):
        x, mean, rstd = self.saved
        dx, _, _ = _C.batch_norm_backward(grad.view(self.view), x, mean, rstd, None, True, True, False, False)
        return dx.view(self.shape), None, None, None


def normalize(input, start, groups=1, eps=1e-5):
    """``input`` with each row of its view (prod(shape[:start]) * groups, -1) normalised (see the module
    docstring); differentiable."""
    as_tensor(input, "normalize", "input")
    eps = as_float(eps, "normalize", "eps")
    if not eps > 0:
        raise ValueError(f"normalize: expected eps > 0, got {eps}")
    shape = tuple(input.shape)
    if input.dtype != "float32":
        raise TypeError(f"normalize: expected a float32 input, got {input.dtype}")
    if not 0 <= start <= len(shape) or math.prod(shape) == 0:
        raise ValueError(f"normalize: cannot normalise shape {shape} from dimension {start}")
    rest = math.prod(shape[start:])
    if groups < 1 or rest % groups:
        raise ValueError(f"normalize: {groups} groups do not divide the {rest} elements of each row of shape {shape}")
    if rest == groups:
        # Rows of one element (layer_norm over a last dimension of 1, group_norm with a channel a group
        # and no positions): x - mean is 0, NaN where x is infinite or NaN, and its gradient 0, as torch
        # computes them; batch norm's kernels want two values a row.
        return input * 0.0
    return NormalizeFunction.apply(input, int(start), int(groups), eps)


def _affine(y, weight, bias, shape):
    """y * weight + bias with weight and bias viewed as ``shape`` (broadcast to y)."""
    if weight is not None:
        y = y * reshape(weight, shape)
    if bias is not None:
        y = y + reshape(bias, shape)
    return y


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """torch.nn.functional.layer_norm: normalised over the trailing dimensions ``normalized_shape``,
    then weight and bias of that shape."""
    as_tensor(input, "layer_norm", "input")
    normalized_shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    k = len(normalized_shape)
    if k == 0 or k > input.ndim or tuple(input.shape[input.ndim - k:]) != normalized_shape:
        raise ValueError(f"layer_norm: expected input with trailing dimensions {normalized_shape}, got shape "
                         f"{tuple(input.shape)}")
    return _affine(normalize(input, input.ndim - k, 1, eps), weight, bias, normalized_shape)


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    """torch.nn.functional.group_norm: the channels of (N, C, *) in ``num_groups`` groups, each
    normalised over its channels and positions, then per-channel weight and bias (C,)."""
    as_tensor(input, "group_norm", "input")
    num_groups = as_int(num_groups, "group_norm", "num_groups")
    if input.ndim < 2 or num_groups < 1 or input.shape[1] % num_groups:
        raise ValueError(f"group_norm: expected input (N, C, *) with C divisible by num_groups={num_groups}, got "
                         f"shape {tuple(input.shape)}")
    channel = (input.shape[1],) + (1,) * (input.ndim - 2)
    return _affine(normalize(input, 1, num_groups, eps), weight, bias, channel)


def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None, use_input_stats=True,
                  momentum=0.1, eps=1e-5):
    """torch.nn.functional.instance_norm with ``use_input_stats`` (each sample and channel normalised over
    its positions), then per-channel weight and bias (C,). Running statistics are not supported."""
    as_tensor(input, "instance_norm", "input")
    if running_mean is not None or running_var is not None or not use_input_stats:
        raise ValueError("instance_norm: running statistics are not supported (track_running_stats=False only)")
    if input.ndim < 3:
        raise ValueError(f"instance_norm: expected input (N, C, *) with positions, got shape {tuple(input.shape)}")
    channel = (input.shape[1],) + (1,) * (input.ndim - 2)
    return _affine(normalize(input, 2, 1, eps), weight, bias, channel)
