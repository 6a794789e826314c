"""Normalization layers: BatchNorm1d and BatchNorm2d (torch.nn.modules.batchnorm), LocalResponseNorm,
LayerNorm, GroupNorm (torch.nn.modules.normalization), InstanceNorm1d/2d
(torch.nn.modules.instancenorm). The Modules hold the affine parameters and the
running statistics; pycnn.nn.functional.batch_norm and local_response_norm compute."""
import numpy as np

from ..._arguments import as_float
from ...tensor import tensor
from .. import functional as F
from .. import init
from ..module import Module
from ._utils import empty, positive_int


class _BatchNorm(Module):
    """Batch normalization over the channel dimension 1. Training normalizes by the batch statistics
    and updates running_mean/running_var (momentum; a cumulative average when momentum is None);
    eval normalizes by the running statistics. ``bias=False`` (keyword, as in torch 2.13) drops the
    shift. weight, bias, running_mean, running_var: (num_features,)."""

    _expected_dims = ()

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True, *,
                 bias=True):
        super().__init__()
        name = type(self).__name__
        self.num_features = positive_int(num_features, name, "num_features")
        eps = as_float(eps, name, "eps")
        if not eps > 0:
            raise ValueError(f"{name}: expected eps > 0, got {eps!r}")
        if momentum is not None:
            momentum = as_float(momentum, name, "momentum")
        self.eps, self.momentum = eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        if affine:
            self.weight = empty(num_features)
            init.ones_(self.weight)
            if bias:
                self.bias = empty(num_features)
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", empty(num_features).detach())
            self.register_buffer("running_var", init.ones_(empty(num_features)).detach())
            self.register_buffer("num_batches_tracked", tensor(np.array(0, dtype=np.int64)))
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
    """Batch normalization of (N, C, H, W) over N, H, W per channel: (N, C, H, W) -> same."""

    _expected_dims = (4,)


class BatchNorm1d(_BatchNorm):
    """Batch normalization of (N, C) or (N, C, L) over N (and L) per channel: -> same shape."""

    _expected_dims = (2, 3)


class LocalResponseNorm(Module):
    """AlexNet's cross-channel normalization: x / (k + alpha/size * sum of x^2 over size channels)^beta.
    (N, C, *) -> same."""

    def __init__(self, size, alpha=1e-4, beta=0.75, k=1.0):
        super().__init__()
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def forward(self, input):
        return F.local_response_norm(input, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self):
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"


def _eps(value, name):
    eps = as_float(value, name, "eps")
    if not eps > 0:
        raise ValueError(f"{name}: expected eps > 0, got {value!r}")
    return eps


def _affine_parameters(module, shape, affine, bias=True):
    """weight (ones) and bias (zeros) of ``shape`` when ``affine`` (bias unless ``bias=False``), else None."""
    if affine:
        module.weight = init.ones_(empty(*shape))
        if bias:
            module.bias = empty(*shape)
        else:
            module.register_parameter("bias", None)
    else:
        module.register_parameter("weight", None)
        module.register_parameter("bias", None)


class LayerNorm(Module):
    """torch.nn.LayerNorm: normalised over the trailing ``normalized_shape`` dimensions, then
    elementwise weight (ones) and bias (zeros) of that shape. (*, normalized_shape) -> same."""

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True):
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
        self.normalized_shape = tuple(positive_int(d, "LayerNorm", "normalized_shape") for d in shape)
        self.eps, self.elementwise_affine = _eps(eps, "LayerNorm"), elementwise_affine
        _affine_parameters(self, self.normalized_shape, elementwise_affine, bias)

    def forward(self, input):
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"


class GroupNorm(Module):
    """torch.nn.GroupNorm: the channels of (N, C, *) in ``num_groups`` groups, each normalised, then
    per-channel weight (ones) and bias (zeros). (N, C, *) -> same."""

    def __init__(self, num_groups, num_channels, eps=1e-5, affine=True):
        super().__init__()
        self.num_groups = positive_int(num_groups, "GroupNorm", "num_groups")
        self.num_channels = positive_int(num_channels, "GroupNorm", "num_channels")
        if self.num_channels % self.num_groups:
            raise ValueError(f"GroupNorm: num_channels ({num_channels}) must be divisible by num_groups "
                             f"({num_groups})")
        self.eps, self.affine = _eps(eps, "GroupNorm"), affine
        _affine_parameters(self, (self.num_channels,), affine)

    def forward(self, input):
        return F.group_norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}"


class _InstanceNorm(Module):
    """torch.nn.InstanceNorm1d/2d without running statistics (track_running_stats=False, torch's
    default): each sample's channel normalised over its positions; affine=False by default."""

    _expected_dims = ()

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=False, track_running_stats=False):
        super().__init__()
        name = type(self).__name__
        self.num_features = positive_int(num_features, name, "num_features")
        if track_running_stats:
            raise ValueError(f"{name}: track_running_stats=True is not supported")
        self.eps, self.momentum, self.affine = _eps(eps, name), momentum, affine
        self.track_running_stats = False
        _affine_parameters(self, (self.num_features,), affine)

    def forward(self, input):
        if input.ndim not in self._expected_dims:
            raise ValueError(f"{type(self).__name__}: expected {self._expected_dims[0]}D input, got "
                             f"{input.ndim}D input of shape {tuple(input.shape)}")
        return F.instance_norm(input, weight=self.weight, bias=self.bias, eps=self.eps)

    def extra_repr(self):
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, " \
               "track_running_stats=False"


class InstanceNorm1d(_InstanceNorm):
    """Instance normalization of (N, C, L)."""

    _expected_dims = (3,)


class InstanceNorm2d(_InstanceNorm):
    """Instance normalization of (N, C, H, W)."""

    _expected_dims = (4,)
