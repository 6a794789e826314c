"""normalize (torch.nn.functional.normalize): ``input`` divided by its p-norm along a dimension,
the norm clamped below at eps; cosine_similarity, the sum of two such L2-normalised tensors' product.
The norm is :class:`LpNormFunction`, on the host (numpy, float64 inside);
the division and the clamp are pycnn's elementwise kernels."""
import numpy as np

from ..._arguments import as_float, as_int
from ...autograd import Function
from ...tensor import as_float_tensor
from ...tensor_ops import broadcast_to
from ...tensor_ops.common import from_host


class LpNormFunction(Function):
    """The p-norm of ``x`` along ``dim`` (kept as size 1), (sum |x|^p)^(1/p), on the host in float64.
    Its gradient sign(x) |x|^(p-1) / norm^(p-1) is 0 where the norm is 0 or x is 0 (torch's norm
    backward), so a row of zeros, or a zero under p < 1, gives a zero gradient, not NaN."""

    def forward(self, x, p, dim):
        a = x.to("cpu").numpy().astype(np.float64)
        self.a, self.p, self.dim, self.device = a, p, dim, x.device
        self.norm = np.sum(np.abs(a) ** p, axis=dim, keepdims=True) ** (1.0 / p)
        return from_host(self.norm.astype(np.float32), x.device)

    def backward(self, grad):
        g = grad.to("cpu").numpy().astype(np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            d = np.sign(self.a) * np.abs(self.a) ** (self.p - 1) / self.norm ** (self.p - 1)
        d = np.where((self.norm > 0) & (self.a != 0), d, 0.0)  # p < 1: |0|^(p-1) is inf, its product 0
        return from_host((g * d).astype(np.float32), self.device), None, None


def normalize(input, p=2.0, dim=1, eps=1e-12, out=None):
    """``input`` divided by its p-norm along ``dim``, the norm at least ``eps``, as
    torch.nn.functional.normalize (L2 by default: unit rows of an embedding). Differentiable; the norm
    on the host."""
    op = "normalize"
    as_float_tensor(input, op)
    if out is not None:
        raise ValueError("normalize: out= is not supported (pycnn returns a new tensor)")
    p, eps = as_float(p, op, "p"), as_float(eps, op, "eps")
    if not p > 0 or not np.isfinite(p):
        raise ValueError(f"normalize: expected a finite p > 0, got {p}")
    if input.ndim == 0:
        raise ValueError("normalize: expected an input with at least one dimension, got a 0-d tensor")
    dim = as_int(dim, op, "dim")
    if not -input.ndim <= dim < input.ndim:
        raise IndexError(f"normalize: dimension out of range (expected to be in range of [{-input.ndim}, "
                         f"{input.ndim - 1}], but got {dim})")
    norm = LpNormFunction.apply(input, p, dim % input.ndim)
    return input / norm.clamp(min=eps)


def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    """The cosine of the angle between x1 and x2 along ``dim`` (of their broadcast shape, which the
    result drops), each normalised by max(its norm, eps) first, as torch.nn.functional.cosine_similarity."""
    op = "cosine_similarity"
    as_float_tensor(x1, op)
    as_float_tensor(x2, op)
    try:
        shape = np.broadcast_shapes(tuple(x1.shape), tuple(x2.shape))
    except ValueError:
        raise ValueError(f"cosine_similarity: shapes {tuple(x1.shape)} and {tuple(x2.shape)} do not "
                         "broadcast") from None
    eps = as_float(eps, op, "eps")
    if len(shape) == 0:
        raise ValueError("cosine_similarity: expected inputs with at least one dimension")
    dim = as_int(dim, op, "dim")
    if not -len(shape) <= dim < len(shape):
        raise IndexError(f"cosine_similarity: dimension out of range (expected to be in range of [{-len(shape)}, "
                         f"{len(shape) - 1}], but got {dim})")
    x1, x2 = broadcast_to(x1, shape), broadcast_to(x2, shape)
    return (normalize(x1, 2.0, dim, eps) * normalize(x2, 2.0, dim, eps)).sum(dim)
