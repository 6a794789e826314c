"""Elementwise arithmetic (add, sub, mul, div with numpy broadcasting), elementwise math on the host
(exp, log, sqrt, abs, pow), clip (torch.clamp), dtype casts and the matrix product: the ops behind Tensor's operators.

    c = binary(a, b, "mul")     # a (*), b broadcastable to a -> the broadcast shape

Each op is an autograd Function; a gradient flowing to a broadcast operand is summed back to its
shape. exp/log/sqrt/abs/pow and casts run in numpy on the host (see tensor_ops.common).
"""
import numpy as np

from .. import _C
from .._arguments import as_float
from ..autograd import Function
from ..tensor import Tensor, as_float_tensor, as_tensor
from .common import from_host, scalar
from .shape import reshape


_BINARY = {"add": 0, "sub": 1, "mul": 2, "div": 3}


def _reduce_to(grad, shape):
    return grad if tuple(grad.shape) == tuple(shape) else _C.sum_to(grad, list(shape))


class BinaryFunction(Function):
    def forward(self, a, b, op):
        self.op = op
        self.saved = (a, b) if op in ("mul", "div") else (a.shape, b.shape)
        return _C.binary_forward(a, b, _BINARY[op])

    def backward(self, grad):
        need_a, need_b = self.needs_input_grad[:2]
        op = self.op
        if op in ("add", "sub"):
            a_shape, b_shape = self.saved
            ga = _reduce_to(grad, a_shape) if need_a else None
            gb = None
            if need_b:
                gb = _reduce_to(grad, b_shape)
                if op == "sub":
                    gb = _C.binary_forward(gb, scalar(-1.0, gb), 2)
            return ga, gb, None
        a, b = self.saved
        if op == "mul":
            ga = _reduce_to(_C.binary_forward(grad, b, 2), a.shape) if need_a else None
            gb = _reduce_to(_C.binary_forward(grad, a, 2), b.shape) if need_b else None
            return ga, gb, None
        # div: d(a/b)/da = 1/b, d(a/b)/db = -a/b^2
        ga = _reduce_to(_C.binary_forward(grad, b, 3), a.shape) if need_a else None
        gb = None
        if need_b:
            q = _C.binary_forward(_C.binary_forward(grad, a, 2), _C.binary_forward(b, b, 2), 3)
            gb = _reduce_to(_C.binary_forward(q, scalar(-1.0, q), 2), b.shape)
        return ga, gb, None


def binary(a, b, op):
    """a (op) b with numpy broadcasting; op is 'add', 'sub', 'mul' or 'div'."""
    if op not in _BINARY:
        raise ValueError(f"binary: expected op in {sorted(_BINARY)}, got {op!r}")
    return BinaryFunction.apply(as_tensor(a, op, "input"), as_tensor(b, op, "other"), op)


class CastFunction(Function):
    def forward(self, x, dtype):
        a = x.numpy()
        if dtype == "int64":  # truncation toward zero, as torch
            with np.errstate(invalid="ignore"):
                return from_host(np.trunc(a).astype(np.int64), x.device, np.int64)
        return from_host(a, x.device, np.float32)

    def backward(self, grad):
        return grad, None


def cast(input, dtype):
    """``input`` converted to 'float32' or 'int64' (float to int truncates toward zero), as
    torch's ``.to(dtype)``; ``input`` itself when it already has that dtype. Only the float32 side
    has gradients. Runs on the host (a CUDA tensor makes one round trip)."""
    as_tensor(input, "cast", "input")
    if dtype not in ("float32", "int64"):
        raise TypeError(f"cast: expected dtype 'float32' or 'int64', got {dtype!r}")
    if input.dtype == dtype:
        return input
    # integer results carry no gradient, as in torch: cut the tape for them
    return CastFunction.apply(input.detach() if dtype == "int64" else input, dtype)


def _unary_host(input, op, fn):
    """``fn`` (a numpy ufunc) of a float32 tensor, as a raw tensor on its device."""
    with np.errstate(all="ignore"):  # inf and NaN results, as torch, without numpy's warnings
        return from_host(fn(input.numpy()), input.device, np.float32)


class ExpFunction(Function):
    def forward(self, x):
        self.y = _unary_host(x, "exp", np.exp)
        return self.y

    def backward(self, grad):
        return _C.binary_forward(grad, self.y, 2)


class LogFunction(Function):
    def forward(self, x):
        self.x = x
        return _unary_host(x, "log", np.log)

    def backward(self, grad):
        return _C.binary_forward(grad, self.x, 3)


class SqrtFunction(Function):
    def forward(self, x):
        self.y = _unary_host(x, "sqrt", np.sqrt)
        return self.y

    def backward(self, grad):
        return _C.binary_forward(_C.binary_forward(grad, self.y, 3), scalar(0.5, grad), 2)


class AbsFunction(Function):
    def forward(self, x):
        self.sign = _unary_host(x, "abs", np.sign)  # 0 at 0, as torch's abs backward
        return _unary_host(x, "abs", np.abs)

    def backward(self, grad):
        return _C.binary_forward(grad, self.sign, 2)


class PowFunction(Function):
    """x ** p for a number p, or p ** x for a number base p (``base``)."""

    def forward(self, x, p, base):
        a = x.numpy()
        with np.errstate(all="ignore"):
            if base:
                y = np.power(np.float32(p), a)
                slope = y * np.float32(np.log(p))
            else:
                y = np.power(a, np.float32(p))
                # torch: exponent 0 has gradient 0 everywhere (also at x = 0)
                slope = np.zeros_like(a) if p == 0 else np.float32(p) * np.power(a, np.float32(p - 1))
        self.slope = from_host(slope, x.device, np.float32)
        return from_host(y, x.device, np.float32)

    def backward(self, grad):
        return _C.binary_forward(grad, self.slope, 2), None, None


def exp(input):
    """e ** input, elementwise (on the host: a CUDA tensor makes one round trip)."""
    return ExpFunction.apply(as_float_tensor(input, "exp"))


def log(input):
    """The natural logarithm, elementwise (-inf at 0, NaN below, as torch; on the host)."""
    return LogFunction.apply(as_float_tensor(input, "log"))


def sqrt(input):
    """The square root, elementwise (NaN below 0, as torch; on the host)."""
    return SqrtFunction.apply(as_float_tensor(input, "sqrt"))


def absolute(input):
    """|input|, elementwise; the gradient is sign(input) (0 at 0, as torch; on the host)."""
    return AbsFunction.apply(as_float_tensor(input, "abs"))


def power(input, exponent):
    """input ** exponent for a number ``exponent``, elementwise, as torch.pow (on the host).
    A tensor exponent is not supported."""
    as_float_tensor(input, "pow")
    if isinstance(exponent, Tensor):
        raise TypeError("pow: a tensor exponent is not supported; pass a number")
    return PowFunction.apply(input, as_float(exponent, "pow", "exponent"), False)


def rpow(input, base):
    """base ** input for a positive number ``base`` (``2 ** tensor``), elementwise (on the host)."""
    as_float_tensor(input, "pow")
    base = as_float(base, "pow", "base")
    if not base > 0:
        raise ValueError(f"pow: expected a positive base for base ** tensor, got {base}")
    return PowFunction.apply(input, base, True)


class ClipFunction(Function):
    """clip's kernels (cpp/src/{cpu,cuda}/clip.*); hardtanh's Function derives from this one."""

    def forward(self, x, lo, hi):
        self.saved, self.params = x, (lo, hi)
        return _C.clip_forward(x, lo, hi)

    def backward(self, grad):
        return _C.clip_backward(grad, self.saved, *self.params), None, None


def clip(input, min=None, max=None):
    """min(max(input, min), max), elementwise, as torch.clip / torch.clamp: a bound may be None but
    not both; min > max gives max everywhere. The gradient passes where min <= input <= max."""
    as_float_tensor(input, "clip")
    if min is None and max is None:
        raise ValueError("clip: expected at least one of min and max to be a number, got both None")
    lo = -np.inf if min is None else as_float(min, "clip", "min")
    hi = np.inf if max is None else as_float(max, "clip", "max")
    if np.isnan(lo) or np.isnan(hi):
        raise ValueError(f"clip: expected bounds that are not NaN, got min={min!r}, max={max!r}")
    return ClipFunction.apply(input, lo, hi)


class MatmulFunction(Function):
    def forward(self, a, b):
        self.saved = (a, b)
        if a.numel() == 0 or b.numel() == 0:
            return _C.zeros([a.shape[0], b.shape[1]], "float32", a.device)
        return _C.gemm(a, b)

    def backward(self, grad):
        a, b = self.saved
        need_a, need_b = self.needs_input_grad
        empty = a.numel() == 0 or b.numel() == 0 or grad.numel() == 0
        da = db = None
        if need_a:  # dA = dC @ B^T
            da = _C.zeros(list(a.shape), "float32", a.device) if empty else _C.gemm(grad, b, False, True)
        if need_b:  # dB = A^T @ dC
            db = _C.zeros(list(b.shape), "float32", b.device) if empty else _C.gemm(a, grad, True, False)
        return da, db


def matmul(input, other):
    """The matrix product, as torch.matmul for 1-d and 2-d operands: (n, k) @ (k, m) -> (n, m); a 1-d
    operand is a row (left) or a column (right) vector whose dimension is dropped from the result.
    On the device (pycnn's gemm); differentiable."""
    as_float_tensor(input, "matmul")
    as_tensor(other, "matmul", "other")
    if other.dtype != "float32":
        raise TypeError(f"matmul: expected other to be float32, got {other.dtype}")
    if not (1 <= input.ndim <= 2 and 1 <= other.ndim <= 2):
        raise ValueError(f"matmul: expected 1-d or 2-d operands, got shapes {tuple(input.shape)} and "
                         f"{tuple(other.shape)}")
    a = reshape(input, (1, input.shape[0])) if input.ndim == 1 else input
    b = reshape(other, (other.shape[0], 1)) if other.ndim == 1 else other
    if a.shape[1] != b.shape[0]:
        raise ValueError(f"matmul: shapes {tuple(input.shape)} and {tuple(other.shape)} cannot be "
                         f"multiplied ({a.shape[1]} != {b.shape[0]})")
    if a.device != b.device:
        raise ValueError(f"matmul: expected both operands on the same device, got {a.device} and "
                         f"{b.device}")
    out = MatmulFunction.apply(a, b)
    shape = tuple(out.shape)
    if input.ndim == 1:
        shape = shape[1:]
    if other.ndim == 1:
        shape = shape[:-1]
    return out if shape == tuple(out.shape) else reshape(out, shape)
