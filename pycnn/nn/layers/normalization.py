"""Normalization layers: BatchNorm1d and BatchNorm2d (torch.nn.modules.batchnorm) and
LocalResponseNorm (torch.nn.modules.normalization). The Modules hold the affine parameters and the
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
