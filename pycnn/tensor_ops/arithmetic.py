"""Elementwise arithmetic (add, sub, mul, div with numpy broadcasting), elementwise math on the host
(exp, log, sqrt, abs, pow), clip (torch.clamp), dtype casts and the matrix product: the ops behind Tensor's operators.

    c = binary(a, b, "mul")     # a (*), b broadcastable to a -> the broadcast shape

Each op is an autograd Function; a gradient flowing to a broadcast operand is summed back to its
shape. exp/log/sqrt/abs/pow and casts run in numpy on the host (see tensor_ops.common).
"""
import math

import numpy as np

from .. import _C
from .._arguments import as_float
from ..autograd import Function
from ..tensor import Tensor, as_float_tensor, as_tensor
from .common import from_host, scalar, unbroadcast
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
    """a (..., n, k) @ b (k, m) -> (..., n, m) on the device: one gemm, a stack of matrices viewed as
    one (... * n, k) matrix (ONNX: one MatMul, any batch size); a 2-d a is a stack of one."""

    def forward(self, a, b):
        self.saved = (a, b)
        out_shape = list(a.shape[:-1]) + [b.shape[1]]
        if a.numel() == 0 or b.numel() == 0:
            return _C.zeros(out_shape, "float32", a.device)
        return _C.gemm(_rows(a), b).view(out_shape)

    def backward(self, grad):
        a, b = self.saved
        need_a, need_b = self.needs_input_grad
        empty = a.numel() == 0 or b.numel() == 0
        da = db = None
        if need_a:  # dA = dC @ B^T, as the stack
            da = (_C.zeros(list(a.shape), "float32", a.device) if empty
                  else _C.gemm(_rows(grad), b, False, True).view(list(a.shape)))
        if need_b:  # dB = A^T @ dC over every row of the stack
            db = _C.zeros(list(b.shape), "float32", b.device) if empty else _C.gemm(_rows(a), _rows(grad), True, False)
        return da, db


def _rows(t):
    """A raw tensor (..., k) viewed as the (... , k) matrix of its rows."""
    return t if t.ndim == 2 else t.view([math.prod(t.shape[:-1]), t.shape[-1]])


class BatchedMatmulFunction(Function):
    """torch.matmul where an operand has more than 2 dimensions: the batch dimensions (all but the
    last two) broadcast, a 1-d operand is a vector whose dimension is dropped; numpy's matmul on the
    host (a CUDA operand makes one round trip), as pycnn's other host ops. The forward and gradient
    run on arrays (_forward_arrays, _gradient_arrays) so that ONNX's MatMul, whose B arrives with its
    last two axes swapped, shares them (pycnn.onnx.ops.linear.MatMulFunction)."""

    def forward(self, a, b):
        self.device = a.device
        return from_host(self._forward_arrays(a.to("cpu").numpy(), b.to("cpu").numpy()), self.device,
                         np.float32)

    def backward(self, grad):
        da, db = self._gradient_arrays(grad)
        if db is not None and len(self.b_shape) == 1:
            db = db[:, 0]
        return (None if da is None else from_host(da, self.device, np.float32),
                None if db is None else from_host(db, self.device, np.float32))

    def _forward_arrays(self, a, b):
        """a (..., M, K) or (K,) @ b (..., K, N) or (K,)."""
        self.a_shape, self.b_shape = a.shape, b.shape
        self.a = a[None, :] if a.ndim == 1 else a  # (..., M, K)
        self.b = b[:, None] if b.ndim == 1 else b  # (..., K, N)
        out = np.matmul(self.a, self.b)
        if a.ndim == 1:
            out = out[..., 0, :]
        if b.ndim == 1:
            out = out[..., 0]
        return out

    def _gradient_arrays(self, grad):
        """(dA shaped like a, dB shaped like b as a (..., K, N) matrix), None where not needed."""
        g = grad.to("cpu").numpy()
        if len(self.a_shape) == 1:
            g = g[..., None, :] if len(self.b_shape) > 1 else g[..., None]
        if len(self.b_shape) == 1:
            g = g[..., None]
        need_a, need_b = self.needs_input_grad
        da = db = None
        if need_a:
            da = unbroadcast(np.matmul(g, np.swapaxes(self.b, -1, -2)), self.a.shape).reshape(self.a_shape)
        if need_b:
            db = unbroadcast(np.matmul(np.swapaxes(self.a, -1, -2), g), self.b.shape)
        return da, db


def matmul(input, other):
    """The matrix product, as torch.matmul: (n, k) @ (k, m) -> (n, m); a 1-d operand is a row (left)
    or a column (right) vector whose dimension is dropped from the result; operands of more than 2
    dimensions are stacks of matrices whose batch dimensions broadcast ((b, n, k) @ (k, m), (b, 1, n,
    k) @ (c, k, m), ...). 1-d and 2-d operands, and a stack times one matrix, run on the device
    (pycnn's gemm, the stack as one (b * n, k) matrix: MatmulFunction); other stacks, and a stack
    times a vector, run on the host (BatchedMatmulFunction). Differentiable."""
    as_float_tensor(input, "matmul")
    as_tensor(other, "matmul", "other")
    if other.dtype != "float32":
        raise TypeError(f"matmul: expected other to be float32, got {other.dtype}")
    if input.ndim == 0 or other.ndim == 0:
        raise ValueError(f"matmul: both arguments need at least 1 dimension, got shapes "
                         f"{tuple(input.shape)} and {tuple(other.shape)}")
    k_a = input.shape[-1]
    k_b = other.shape[0] if other.ndim == 1 else other.shape[-2]
    if k_a != k_b:
        raise ValueError(f"matmul: shapes {tuple(input.shape)} and {tuple(other.shape)} cannot be "
                         f"multiplied ({k_a} != {k_b})")
    if input.device != other.device:
        raise ValueError(f"matmul: expected both operands on the same device, got {input.device} and "
                         f"{other.device}")
    if input.ndim > 2 and other.ndim == 2:  # a stack times one matrix: one gemm
        return MatmulFunction.apply(input, other)
    if input.ndim > 2 or other.ndim > 2:
        batch_a = tuple(input.shape[:-2]) if input.ndim > 1 else ()
        batch_b = tuple(other.shape[:-2]) if other.ndim > 1 else ()
        try:
            np.broadcast_shapes(batch_a, batch_b)
        except ValueError:
            raise ValueError(f"matmul: the batch dimensions of shapes {tuple(input.shape)} and "
                             f"{tuple(other.shape)} do not broadcast ({batch_a} and {batch_b})") from None
        return BatchedMatmulFunction.apply(input, other)
    a = reshape(input, (1, input.shape[0])) if input.ndim == 1 else input
    b = reshape(other, (other.shape[0], 1)) if other.ndim == 1 else other
    out = MatmulFunction.apply(a, b)
    shape = tuple(out.shape)
    if input.ndim == 1:
        shape = shape[1:]
    if other.ndim == 1:
        shape = shape[:-1]
    return out if shape == tuple(out.shape) else reshape(out, shape)


def broadcast_to(input, shape):
    """``input`` broadcast to ``shape`` (a new tensor, torch.broadcast_to's values), differentiable:
    the gradient sums back over the broadcast dimensions (binary's). ValueError where it does not
    broadcast to exactly ``shape``."""
    shape = tuple(shape)
    try:
        fits = np.broadcast_shapes(tuple(input.shape), shape) == shape
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(f"broadcast_to: shape {tuple(input.shape)} does not broadcast to {shape}")
    if tuple(input.shape) == shape:
        return input
    return binary(input, Tensor._wrap(_C.zeros(list(shape), "float32", input.device)), "add")

