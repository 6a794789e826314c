"""pycnn.nn.functional: every op as an autograd Function pairing its C++ forward and backward kernels.

Names, arguments and defaults follow torch.nn.functional. Each op checks the Python-level arguments
(types, pairs) here and leaves shape checks to its C++ binding (cpp/bindings/<op>.cpp), which names
the op, what was expected and what came.
"""
import builtins
import collections
import numbers

import numpy as np

from .. import _C
from ..autograd import Function
from ..tensor import Tensor


from .._arguments import as_bool as _bool, as_float as _float, as_int as _int, as_pair as _pair
from .._arguments import as_float_tensor, as_tensor as _tensor


# ----- conv2d -------------------------------------------------------------------------------------
class Conv2dFunction(Function):
    def forward(self, x, w, b, stride, padding, dilation, groups):
        self.saved = (x, w, stride, padding, dilation, groups)
        return _C.conv2d_forward(x, w, b, stride, padding, dilation, groups)

    def backward(self, grad):
        x, w, stride, padding, dilation, groups = self.saved
        need_x, need_w, need_b = self.needs_input_grad[:3]
        return _C.conv2d_backward(grad, x, w, stride, padding, dilation, groups, need_x, need_w, need_b)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-d convolution. input (N, C_in, H, W) or unbatched (C_in, H, W), weight
    (C_out, C_in/groups, KH, KW), bias (C_out,) -> (N, C_out, OH, OW) (or (C_out, OH, OW)) with
    OH = (H + 2*pad - dilation*(KH-1) - 1) // stride + 1.

    ``padding`` may be an int, a pair, 'valid' or 'same' (stride 1). As in torch, 'same' with an even
    effective kernel dilation*(K-1) pads one more row/column at the bottom/right than at the top/left."""
    _tensor(input, "conv2d", "input")
    _tensor(weight, "conv2d", "weight")
    if bias is not None:
        _tensor(bias, "conv2d", "bias")
    stride = _pair(stride, "conv2d", "stride")
    dilation = _pair(dilation, "conv2d", "dilation")
    groups = _int(groups, "conv2d", "groups")
    if input.ndim not in (3, 4):
        raise ValueError(f"conv2d: expected input to be 3-d (C, H, W) or 4-d (N, C, H, W), got shape "
                         f"{tuple(input.shape)}")
    unbatched = input.ndim == 3
    if unbatched:  # torch accepts one (C, H, W) image
        input = reshape(input, (1,) + tuple(input.shape))
    if isinstance(padding, str):
        if padding == "valid":
            padding = (0, 0)
        elif padding == "same":
            if stride != (1, 1):
                raise ValueError(f"conv2d: padding='same' needs stride 1, got stride={stride}")
            if weight.ndim != 4:
                raise ValueError(f"conv2d: expected 4-d weight, got shape {weight.shape}")
            total = [d * (k - 1) for d, k in zip(dilation, weight.shape[2:])]
            input = _pad_bottom_right(input, total[0] % 2, total[1] % 2)
            padding = (total[0] // 2, total[1] // 2)
        else:
            raise ValueError(f"conv2d: expected padding to be an int, a pair, 'valid' or 'same', "
                             f"got {padding!r}")
    padding = _pair(padding, "conv2d", "padding")
    out = Conv2dFunction.apply(input, weight, bias, stride, padding, dilation, groups)
    return reshape(out, tuple(out.shape[1:])) if unbatched else out


def _pad_bottom_right(input, rows, cols):
    """``input`` (N, C, H, W) with ``rows`` zero rows below and ``cols`` zero columns to the right
    (differentiable: a cat with zeros). The extra side of torch's asymmetric 'same' padding."""
    if input.ndim != 4 or input.dtype != "float32" or (rows == 0 and cols == 0):
        return input  # the binding reports a wrong rank or dtype
    n, c, h, w = input.shape
    if cols:
        zeros = Tensor._wrap(_C.zeros([n, c, h, cols], "float32", input.device))
        input = cat([input, zeros], 3)
    if rows:
        zeros = Tensor._wrap(_C.zeros([n, c, rows, w + cols], "float32", input.device))
        input = cat([input, zeros], 2)
    return input


# ----- linear -------------------------------------------------------------------------------------
class LinearFunction(Function):
    def forward(self, x, w, b):
        self.saved = (x, w)
        return _C.linear_forward(x, w, b)

    def backward(self, grad):
        x, w = self.saved
        need_x, need_w, need_b = self.needs_input_grad
        return _C.linear_backward(grad, x, w, need_x, need_w, need_b)


def linear(input, weight, bias=None):
    """y = input @ weight.T + bias. input (*, in), weight (out, in), bias (out,) -> (*, out)."""
    _tensor(input, "linear", "input")
    _tensor(weight, "linear", "weight")
    if bias is not None:
        _tensor(bias, "linear", "bias")
    return LinearFunction.apply(input, weight, bias)


# ----- elementwise arithmetic with broadcasting ---------------------------------------------------
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
                    gb = _C.binary_forward(gb, _scalar(-1.0, gb), 2)
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
            gb = _reduce_to(_C.binary_forward(q, _scalar(-1.0, q), 2), b.shape)
        return ga, gb, None


def _scalar(value, like):
    return _C.from_numpy(np.array(value, dtype=np.float32)).to(like.device)


def binary(a, b, op):
    """a (op) b with numpy broadcasting; op is 'add', 'sub', 'mul' or 'div'."""
    if op not in _BINARY:
        raise ValueError(f"binary: expected op in {sorted(_BINARY)}, got {op!r}")
    return BinaryFunction.apply(_tensor(a, op, "input"), _tensor(b, op, "other"), op)


def add(a, b):
    return binary(a, b, "add")


def mul(a, b):
    return binary(a, b, "mul")


# ----- shape --------------------------------------------------------------------------------------
class ReshapeFunction(Function):
    def forward(self, x, shape):
        self.in_shape = list(x.shape)
        return x.view(list(shape))

    def backward(self, grad):
        return grad.view(self.in_shape), None


def reshape(input, shape):
    """The same data viewed with a new shape; one dimension may be -1."""
    _tensor(input, "reshape", "input")
    shape = [_int(d, "reshape", "shape") for d in shape]
    if shape.count(-1) > 1:
        raise ValueError(f"reshape: at most one dimension may be -1, got {tuple(shape)}")
    if -1 in shape:
        known = int(np.prod([d for d in shape if d != -1]))
        if known == 0 or input.numel() % known:
            raise ValueError(f"reshape: cannot view shape {input.shape} as {tuple(shape)}")
        shape[shape.index(-1)] = input.numel() // known
    return ReshapeFunction.apply(input, tuple(shape))


def flatten(input, start_dim=1, end_dim=-1):
    """Merges dimensions start_dim..end_dim (torch.flatten; note F.flatten here defaults to
    start_dim=1 like nn.Flatten, Tensor.flatten to 0 like torch.flatten)."""
    _tensor(input, "flatten", "input")
    shape = list(input.shape)
    n = len(shape)
    if n == 0:
        return reshape(input, (1,))
    s = start_dim + n if start_dim < 0 else start_dim
    e = end_dim + n if end_dim < 0 else end_dim
    if not 0 <= s <= e < n:
        raise ValueError(f"flatten: dims ({start_dim}, {end_dim}) out of range for shape {tuple(shape)}")
    merged = int(np.prod(shape[s:e + 1]))
    return reshape(input, tuple(shape[:s] + [merged] + shape[e + 1:]))


# ----- reductions ---------------------------------------------------------------------------------
class SumFunction(Function):
    def forward(self, x, scale):
        self.in_shape, self.scale, self.device = list(x.shape), scale, x.device
        out = _C.sum_to(x, [])
        return out if scale == 1.0 else _C.binary_forward(out, _scalar(scale, out), 2)

    def backward(self, grad):
        zeros = _C.zeros(self.in_shape, "float32", self.device)
        g = _C.binary_forward(zeros, grad, 0)
        return (g if self.scale == 1.0 else _C.binary_forward(g, _scalar(self.scale, g), 2)), None


def sum(input):
    """The sum of all elements, as a 0-d tensor. An int64 tensor (a comparison's 0/1) sums exactly
    to an int64 tensor, as torch (on the host: a CUDA tensor makes one round trip)."""
    _tensor(input, "sum", "input")
    if input.dtype == "int64":
        return Tensor._wrap(_to_device(np.sum(input.numpy(), dtype=np.int64), input.device))
    return SumFunction.apply(input, 1.0)


def mean(input):
    """The mean of all elements, as a 0-d tensor."""
    _tensor(input, "mean", "input")
    if input.dtype != "float32":
        raise TypeError(f"mean(): could not infer output dtype. Input dtype must be floating point, "
                        f"got {input.dtype} (use .float().mean(), as in torch)")
    if input.numel() == 0:
        raise ValueError("mean: the input has no elements")
    return SumFunction.apply(input, 1.0 / input.numel())


# ----- devices ------------------------------------------------------------------------------------
class ToDeviceFunction(Function):
    def forward(self, x, device):
        self.source = x.device
        return x.to(device)

    def backward(self, grad):
        return grad.to(self.source), None


def to_device(input, device):
    return ToDeviceFunction.apply(input, device)


# ----- pooling ------------------------------------------------------------------------------------
def _pool_input(input, op):
    """``input`` as 4-d (N, C, H, W): a 3-d (C, H, W) input gains a batch of one, like torch.
    Returns the 4-d tensor and whether the batch dimension was added."""
    _tensor(input, op, "input")
    if input.ndim == 3:
        return reshape(input, (1,) + tuple(input.shape)), True
    if input.ndim != 4:
        raise ValueError(f"{op}: expected input to be 3-d (C, H, W) or 4-d (N, C, H, W), "
                         f"got shape {tuple(input.shape)}")
    return input, False


def _pool_stride(stride, kernel_size, op):
    """PyTorch's default: a missing (None or empty) stride is the kernel size."""
    if stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0):
        return kernel_size
    return _pair(stride, op, "stride")


class MaxPool2dFunction(Function):
    def forward(self, x, kernel_size, stride, padding, dilation, ceil_mode, indices_out=None):
        y, indices = _C.max_pool2d_forward(x, kernel_size, stride, padding, dilation, ceil_mode)
        # Backward needs only the argmax and the input's shape, so the input itself is not kept.
        self.saved = (indices, list(x.shape), kernel_size, stride, padding, dilation, ceil_mode)
        if indices_out is not None:
            indices_out.append(indices)
        return y

    def backward(self, grad):
        indices, in_shape, kernel_size, stride, padding, dilation, ceil_mode = self.saved
        dx = _C.max_pool2d_backward(grad, indices, in_shape, kernel_size, stride, padding, dilation,
                                    ceil_mode)
        return dx, None, None, None, None, None


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """2-d max pooling. input (N, C, H, W) or (C, H, W) -> (N, C, OH, OW) (or (C, OH, OW)) with
    OH = floor_or_ceil((H + 2*padding - dilation*(kernel-1) - 1) / stride) + 1, as in torch; stride
    defaults to kernel_size; padding (at most half the kernel) counts as -inf.

    With ``return_indices`` also returns the int64 argmax of each window as a flat index h*W + w
    into its input plane, like torch."""
    op = "max_pool2d"
    x, added_batch = _pool_input(input, op)
    kernel_size = _pair(kernel_size, op, "kernel_size")
    stride = _pool_stride(stride, kernel_size, op)
    padding = _pair(padding, op, "padding")
    dilation = _pair(dilation, op, "dilation")
    ceil_mode = _bool(ceil_mode, op, "ceil_mode")
    indices_out = [] if return_indices else None
    out = MaxPool2dFunction.apply(x, kernel_size, stride, padding, dilation, ceil_mode,
                                  indices_out=indices_out)
    if added_batch:
        out = reshape(out, tuple(out.shape[1:]))
    if not return_indices:
        return out
    indices = indices_out[0]
    if added_batch:
        indices = indices.view(list(indices.shape[1:]))
    return out, Tensor._wrap(indices)


class AvgPool2dFunction(Function):
    def forward(self, x, kernel_size, stride, padding, ceil_mode, count_include_pad,
                divisor_override):
        self.saved = (list(x.shape), kernel_size, stride, padding, ceil_mode, count_include_pad,
                      divisor_override)
        return _C.avg_pool2d_forward(x, kernel_size, stride, padding, ceil_mode, count_include_pad,
                                     divisor_override)

    def backward(self, grad):
        return (_C.avg_pool2d_backward(grad, *self.saved),) + (None,) * 6


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """2-d average pooling. input (N, C, H, W) or (C, H, W) -> (N, C, OH, OW) (or (C, OH, OW)) with
    OH = floor_or_ceil((H + 2*padding - kernel) / stride) + 1, as in torch; stride defaults to
    kernel_size. Each window's sum is divided by ``divisor_override`` when given, else by the
    window's extent inside the padded input (count_include_pad=True) or by the real elements it
    covers."""
    op = "avg_pool2d"
    x, added_batch = _pool_input(input, op)
    kernel_size = _pair(kernel_size, op, "kernel_size")
    stride = _pool_stride(stride, kernel_size, op)
    padding = _pair(padding, op, "padding")
    ceil_mode = _bool(ceil_mode, op, "ceil_mode")
    count_include_pad = _bool(count_include_pad, op, "count_include_pad")
    if divisor_override is not None:
        divisor_override = _int(divisor_override, op, "divisor_override")
        if divisor_override == 0:
            raise ValueError(f"{op}: divisor_override must not be zero")
    out = AvgPool2dFunction.apply(x, kernel_size, stride, padding, ceil_mode, count_include_pad,
                                  divisor_override)
    return reshape(out, tuple(out.shape[1:])) if added_batch else out


class AdaptiveAvgPool2dFunction(Function):
    def forward(self, x, output_size):
        self.saved = (list(x.shape), output_size)
        return _C.adaptive_avg_pool2d_forward(x, output_size)

    def backward(self, grad):
        in_shape, output_size = self.saved
        return _C.adaptive_avg_pool2d_backward(grad, in_shape, output_size), None


def adaptive_avg_pool2d(input, output_size):
    """Average pooling to a fixed output size. input (N, C, H, W) or (C, H, W) -> (N, C, OH, OW) (or
    (C, OH, OW)); ``output_size`` is an int or a pair whose None entries keep the input's size.
    Output row i averages input rows floor(i*H/OH) .. ceil((i+1)*H/OH) - 1, like torch;
    output_size 1 is global average pooling."""
    op = "adaptive_avg_pool2d"
    x, added_batch = _pool_input(input, op)
    if isinstance(output_size, (tuple, list)):
        if len(output_size) != 2:
            raise ValueError(f"{op}: expected output_size to be an int or a pair (h, w), "
                             f"got {output_size!r}")
        output_size = tuple(x.shape[2 + i] if v is None else _int(v, op, "output_size")
                            for i, v in enumerate(output_size))
    else:
        output_size = _pair(output_size, op, "output_size")
    out = AdaptiveAvgPool2dFunction.apply(x, output_size)
    return reshape(out, tuple(out.shape[1:])) if added_batch else out


# ----- batch_norm ---------------------------------------------------------------------------------
class BatchNormFunction(Function):
    def forward(self, x, running_mean, running_var, w, b, training, momentum, eps):
        y, mean, rstd = _C.batch_norm_forward(x, running_mean, running_var, w, b, training,
                                              momentum, eps)
        self.saved = (x, mean, rstd, w, training)
        return y

    def backward(self, grad):
        x, mean, rstd, w, training = self.saved
        need_x, _, _, need_w, need_b = self.needs_input_grad[:5]
        dx, dw, db = _C.batch_norm_backward(grad, x, mean, rstd, w, training, need_x, need_w, need_b)
        return dx, None, None, dw, db, None, None, None


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5):
    """Per-channel normalisation. input (N, C, *), running_mean/running_var/weight/bias (C,)
    -> (N, C, *).

    Training normalises with the batch's mean and biased variance and, when running_mean/running_var
    are given, updates them in place: running = (1 - momentum) * running + momentum * batch, with the
    unbiased variance for running_var (as torch). Eval normalises with the running statistics, which
    must then be given. The running statistics are plain tensors, not part of the tape."""
    _tensor(input, "batch_norm", "input")
    for name, value in (("running_mean", running_mean), ("running_var", running_var),
                        ("weight", weight), ("bias", bias)):
        if value is not None:
            _tensor(value, "batch_norm", name)
    for name, value in (("running_mean", running_mean), ("running_var", running_var)):
        if value is not None and value.requires_grad:
            raise ValueError(f"batch_norm: {name} is updated in place and must not require grad")
    momentum = _float(momentum, "batch_norm", "momentum")
    eps = _float(eps, "batch_norm", "eps")
    if not training and (running_mean is None or running_var is None):
        raise ValueError("batch_norm: running_mean and running_var must be given when training is False")
    return BatchNormFunction.apply(input, running_mean, running_var, weight, bias, bool(training),
                                   momentum, eps)


# ----- local_response_norm ------------------------------------------------------------------------
class LocalResponseNormFunction(Function):
    def forward(self, x, size, before, alpha, beta, k):
        y, scale = _C.local_response_norm_forward(x, size, before, alpha, beta, k)
        self.saved = (x, scale, size, before, alpha, beta, k)
        return y

    def backward(self, grad):
        x, scale, size, before, alpha, beta, k = self.saved
        return (_C.local_response_norm_backward(grad, x, scale, size, before, alpha, beta, k),
                None, None, None, None, None)


def local_response_norm(input, size, alpha=1e-4, beta=0.75, k=1.0, *, window_before=None):
    """Normalisation across channels. input (N, C, *) with at least 3 dimensions -> same shape:

        b_c = a_c / (k + alpha / size * sum_{j in window(c)} a_j^2) ** beta

    window(c) = [c - window_before, c - window_before + size - 1], clipped to [0, C) (zero padding;
    the divisor stays ``size``). ``window_before`` defaults to ``size // 2``, PyTorch's window; ONNX's
    LRN centres the window the other way for even sizes and is ``window_before=(size - 1) // 2``."""
    _tensor(input, "local_response_norm", "input")
    size = _int(size, "local_response_norm", "size")
    if size <= 0:
        raise ValueError(f"local_response_norm: expected size > 0, got {size}")
    before = size // 2 if window_before is None else _int(window_before, "local_response_norm",
                                                          "window_before")
    if not 0 <= before <= size - 1:
        raise ValueError(f"local_response_norm: expected window_before in [0, size - 1] = "
                         f"[0, {size - 1}], got {before}")
    alpha = _float(alpha, "local_response_norm", "alpha")
    beta = _float(beta, "local_response_norm", "beta")
    k = _float(k, "local_response_norm", "k")
    return LocalResponseNormFunction.apply(input, size, before, alpha, beta, k)


# ----- dropout ------------------------------------------------------------------------------------
_DEFAULT_SEED = 67280421310721  # torch's default seed, so an unseeded run is reproducible too
_rng = np.random.default_rng(_DEFAULT_SEED)


def manual_seed(seed):
    """Seeds the generator that draws dropout's per-call seeds (``pycnn.manual_seed``)."""
    global _rng
    seed = _int(seed, "manual_seed", "seed")
    if seed < 0:
        raise ValueError(f"manual_seed: expected a non-negative seed, got {seed}")
    _rng = np.random.default_rng(seed)


class DropoutFunction(Function):
    def forward(self, x, p, seed):
        y, self.mask = _C.dropout_forward(x, p, seed)
        return y

    def backward(self, grad):
        return _C.dropout_backward(grad, self.mask), None, None


def dropout(input, p=0.5, training=True, inplace=False, seed=None):
    """Inverted dropout: each element is zeroed with probability ``p`` and the kept ones are scaled
    by 1 / (1 - p). input (*) -> same shape. Identity when ``training`` is False.

    The mask comes from Philox4x32-10 keyed by ``seed`` (element i is kept iff its uniform draw is
    >= p), so CPU and CUDA give the same mask for the same seed; ``seed=None`` draws one from the
    generator that :func:`manual_seed` seeds. ``inplace`` is accepted for torch's signature; the
    result is always a new tensor (same values and gradients)."""
    _tensor(input, "dropout", "input")
    _bool(inplace, "dropout", "inplace")
    training = _bool(training, "dropout", "training")
    p = _float(p, "dropout", "p")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: expected p in [0, 1], got {p}")
    if not training:
        return input
    if seed is None:
        seed = int(_rng.integers(0, 2**63))
    else:
        seed = _int(seed, "dropout", "seed")
        if not 0 <= seed < 2**64:
            raise ValueError(f"dropout: expected seed in [0, 2**64), got {seed}")
    return DropoutFunction.apply(input, p, seed)


# ----- cat ----------------------------------------------------------------------------------------
class CatFunction(Function):
    def forward(self, *xs, dim):
        self.inputs_raw, self.dim = xs, dim
        return _C.cat_forward(list(xs), dim)

    def backward(self, grad):
        return tuple(_C.cat_backward(grad, list(self.inputs_raw), self.dim,
                                     list(self.needs_input_grad)))


def cat(tensors, dim=0):
    """Concatenates float32 tensors along ``dim`` (negative counts from the end), like torch.cat:
    all shapes must match except along ``dim``. The gradient is split back to each input."""
    if isinstance(tensors, Tensor) or not isinstance(tensors, (list, tuple)):
        raise TypeError(f"cat: expected a list or tuple of pycnn.Tensor, got {type(tensors).__name__}")
    for i, t in enumerate(tensors):
        _tensor(t, "cat", f"tensors[{i}]")
    if not tensors:
        raise ValueError("cat: expected a non-empty list of tensors, got an empty one")
    dim = _int(dim, "cat", "dim")
    return CatFunction.apply(*tensors, dim=dim)


def stack(tensors, dim=0):
    """Joins same-shaped tensors along a new dimension ``dim`` (in [-ndim-1, ndim]), like
    torch.stack: each gains a dimension of size 1 there and they are concatenated."""
    if isinstance(tensors, Tensor) or not isinstance(tensors, (list, tuple)):
        raise TypeError(f"stack: expected a list or tuple of pycnn.Tensor, got {type(tensors).__name__}")
    for i, t in enumerate(tensors):
        _tensor(t, "stack", f"tensors[{i}]")
    if not tensors:
        raise ValueError("stack: expected a non-empty list of tensors, got an empty one")
    shape = tuple(tensors[0].shape)
    for i, t in enumerate(tensors):
        if tuple(t.shape) != shape:
            raise ValueError(f"stack: expected every tensor of shape {shape} (that of tensors[0]), got "
                             f"tensors[{i}] of shape {tuple(t.shape)}")
    dim = _int(dim, "stack", "dim")
    n = len(shape) + 1
    if not -n <= dim < n:
        raise ValueError(f"stack: expected dim in [{-n}, {n - 1}] for {n - 1}-d tensors, got {dim}")
    dim %= n
    new_shape = shape[:dim] + (1,) + shape[dim:]
    return cat([reshape(t, new_shape) for t in tensors], dim)
def _float_input(value, op):
    return as_float_tensor(value, op)


class ReluFunction(Function):
    def forward(self, x):
        self.y = _C.relu_forward(x)
        return self.y

    def backward(self, grad):
        return _C.relu_backward(grad, self.y)


def relu(input, inplace=False):
    """max(input, 0), elementwise; any shape. ``inplace`` is accepted for torch's signature; the
    result is always a new tensor (same values and gradients)."""
    _bool(inplace, "relu", "inplace")
    return ReluFunction.apply(_float_input(input, "relu"))


class LeakyReluFunction(Function):
    def forward(self, x, negative_slope):
        self.saved = (x, negative_slope)
        return _C.leaky_relu_forward(x, negative_slope)

    def backward(self, grad):
        x, negative_slope = self.saved
        return _C.leaky_relu_backward(grad, x, negative_slope), None


def leaky_relu(input, negative_slope=0.01, inplace=False):
    """input where input > 0, else negative_slope * input; any shape. ``inplace`` as in relu."""
    _float_input(input, "leaky_relu")
    _bool(inplace, "leaky_relu", "inplace")
    return LeakyReluFunction.apply(input, _float(negative_slope, "leaky_relu", "negative_slope"))


class EluFunction(Function):
    def forward(self, x, alpha):
        self.saved = (x, alpha)
        return _C.elu_forward(x, alpha)

    def backward(self, grad):
        x, alpha = self.saved
        return _C.elu_backward(grad, x, alpha), None


def elu(input, alpha=1.0, inplace=False):
    """input where input > 0, else alpha * (exp(input) - 1) (computed as expm1, exact near 0); any
    shape. ``inplace`` as in relu."""
    _float_input(input, "elu")
    _bool(inplace, "elu", "inplace")
    return EluFunction.apply(input, _float(alpha, "elu", "alpha"))


class GeluFunction(Function):
    def forward(self, x, approximate):
        self.saved = (x, approximate)
        return _C.gelu_forward(x, approximate)

    def backward(self, grad):
        x, approximate = self.saved
        return _C.gelu_backward(grad, x, approximate), None


def gelu(input, approximate="none"):
    """input * Phi(input), Phi the standard normal CDF; any shape. approximate='tanh' uses torch's
    0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3))) instead."""
    _float_input(input, "gelu")
    if not isinstance(approximate, str):
        raise TypeError(f"gelu: expected approximate to be a str ('none' or 'tanh'), got "
                        f"{type(approximate).__name__} {approximate!r}")
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: expected approximate to be 'none' or 'tanh', got {approximate!r}")
    return GeluFunction.apply(input, approximate)


class SiluFunction(Function):
    def forward(self, x):
        self.x = x
        return _C.silu_forward(x)

    def backward(self, grad):
        return _C.silu_backward(grad, self.x)


def silu(input, inplace=False):
    """input * sigmoid(input) ("swish"); any shape. ``inplace`` as in relu."""
    _float_input(input, "silu")
    _bool(inplace, "silu", "inplace")
    return SiluFunction.apply(input)


class SoftplusFunction(Function):
    def forward(self, x, beta, threshold):
        self.saved = (x, beta, threshold)
        return _C.softplus_forward(x, beta, threshold)

    def backward(self, grad):
        x, beta, threshold = self.saved
        return _C.softplus_backward(grad, x, beta, threshold), None, None


def softplus(input, beta=1.0, threshold=20.0):
    """log(1 + exp(beta * input)) / beta, and input itself where beta * input > threshold (as
    torch); any shape. Computed without overflow for any threshold."""
    _float_input(input, "softplus")
    return SoftplusFunction.apply(input, _float(beta, "softplus", "beta"),
                                  _float(threshold, "softplus", "threshold"))


class SigmoidFunction(Function):
    def forward(self, x):
        self.y = _C.sigmoid_forward(x)
        return self.y

    def backward(self, grad):
        return _C.sigmoid_backward(grad, self.y)


def sigmoid(input):
    """1 / (1 + exp(-input)), elementwise; any shape."""
    return SigmoidFunction.apply(_float_input(input, "sigmoid"))


class TanhFunction(Function):
    def forward(self, x):
        self.y = _C.tanh_forward(x)
        return self.y

    def backward(self, grad):
        return _C.tanh_backward(grad, self.y)


def tanh(input):
    """tanh(input), elementwise; any shape."""
    return TanhFunction.apply(_float_input(input, "tanh"))


class ClipFunction(Function):
    def forward(self, x, lo, hi):
        self.saved = (x, lo, hi)
        return _C.clip_forward(x, lo, hi)

    def backward(self, grad):
        x, lo, hi = self.saved
        return _C.clip_backward(grad, x, lo, hi), None, None


def clip(input, min=None, max=None):
    """min(max(input, min), max), elementwise, as torch.clip / torch.clamp: a bound may be None but
    not both; min > max gives max everywhere. The gradient passes where min <= input <= max."""
    _float_input(input, "clip")
    if min is None and max is None:
        raise ValueError("clip: expected at least one of min and max to be a number, got both None")
    lo = -np.inf if min is None else _float(min, "clip", "min")
    hi = np.inf if max is None else _float(max, "clip", "max")
    if np.isnan(lo) or np.isnan(hi):
        raise ValueError(f"clip: expected bounds that are not NaN, got min={min!r}, max={max!r}")
    return ClipFunction.apply(input, lo, hi)


def _strictly_inside(lo, hi):
    """The float32 neighbours just inside [lo, hi]: clip_backward's inclusive test on them is the
    strict test lo < x < hi for every float32 x (torch's hardtanh/hardsigmoid/hardswish rule)."""
    return (float(np.nextafter(np.float32(lo), np.float32(np.inf))),
            float(np.nextafter(np.float32(hi), np.float32(-np.inf))))


_INSIDE_THREE = _strictly_inside(-3.0, 3.0)  # hardsigmoid's and hardswish's open interval (-3, 3)


class HardtanhFunction(ClipFunction):
    """Clips like ClipFunction, but the gradient passes only strictly inside (lo < x < hi), as
    torch's hardtanh_backward: ClipFunction's backward runs on the bounds of _strictly_inside."""

    def forward(self, x, lo, hi):
        self.saved = (x, *_strictly_inside(lo, hi))
        return _C.clip_forward(x, lo, hi)


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    """min(max(input, min_val), max_val), as torch.nn.functional.hardtanh; the gradient passes where
    min_val < input < max_val (not at the bounds, unlike clip). ``inplace`` as in relu."""
    _float_input(input, "hardtanh")
    _bool(inplace, "hardtanh", "inplace")
    lo, hi = _float(min_val, "hardtanh", "min_val"), _float(max_val, "hardtanh", "max_val")
    if not lo <= hi:
        raise ValueError(f"hardtanh: expected min_val <= max_val, got min_val={min_val!r}, "
                         f"max_val={max_val!r}")
    return HardtanhFunction.apply(input, lo, hi)


def relu6(input, inplace=False):
    """min(max(input, 0), 6), as torch.nn.functional.relu6 (hardtanh(input, 0, 6))."""
    return hardtanh(input, 0.0, 6.0, inplace)


def _relu6_shifted(x):
    """relu6(x + 3) on raw tensors: the gate of hardsigmoid and hardswish."""
    return _C.clip_forward(_C.binary_forward(x, _scalar(3.0, x), 0), 0.0, 6.0)


class HardsigmoidFunction(Function):
    """relu6(x + 3) / 6 with torch's hardsigmoid_backward: grad / 6 where -3 < x < 3 (tested on x
    itself: x + 3 rounds the float32 just below 3 up to 6), else 0 (NaN included)."""

    def forward(self, x):
        self.x = x
        return _C.binary_forward(_relu6_shifted(x), _scalar(6.0, x), 3)

    def backward(self, grad):
        sixth = _C.binary_forward(grad, _scalar(6.0, grad), 3)
        return _C.clip_backward(sixth, self.x, *_INSIDE_THREE)


def hardsigmoid(input, inplace=False):
    """relu6(input + 3) / 6, as torch.nn.functional.hardsigmoid: the gradient is 1/6 where
    -3 < input < 3 and 0 elsewhere (NaN included)."""
    _float_input(input, "hardsigmoid")
    _bool(inplace, "hardsigmoid", "inplace")
    return HardsigmoidFunction.apply(input)


class HardswishFunction(Function):
    """x * relu6(x + 3) / 6 with torch's hardswish_backward: 0 where x <= -3, x/3 + 1/2 where
    -3 < x < 3, 1 where x >= 3 and for NaN. The masks come from the clip kernels' inclusive test on
    the float32 neighbours just inside the bounds (as in hardtanh), applied after the multiply, so a
    NaN slope never leaks through a zero mask."""

    def forward(self, x):
        self.x = x
        return _C.binary_forward(_C.binary_forward(x, _relu6_shifted(x), 2), _scalar(6.0, x), 3)

    def backward(self, grad):
        x = self.x
        above_lo, below_hi = _INSIDE_THREE
        slope = _C.binary_forward(_C.binary_forward(x, _scalar(3.0, x), 3), _scalar(0.5, x), 0)
        inside = _C.clip_backward(_C.binary_forward(grad, slope, 2), x, above_lo, below_hi)
        right = _C.binary_forward(grad, _C.clip_backward(grad, x, -np.inf, below_hi), 1)  # x >= 3, NaN
        return _C.binary_forward(inside, right, 0)


def hardswish(input, inplace=False):
    """input * relu6(input + 3) / 6, as torch.nn.functional.hardswish (MobileNetV3), with torch's
    gradient (see HardswishFunction)."""
    _float_input(input, "hardswish")
    _bool(inplace, "hardswish", "inplace")
    return HardswishFunction.apply(input)


class PreluFunction(Function):
    def forward(self, x, w):
        self.saved = (x, w)
        return _C.prelu_forward(x, w)

    def backward(self, grad):
        x, w = self.saved
        need_x, need_w = self.needs_input_grad
        return _C.prelu_backward(grad, x, w, need_x, need_w)


def prelu(input, weight):
    """input where input > 0, else weight * input, with weight (1,) or (C,) broadcast over dim 1 of
    input (N, C, *), as torch.nn.functional.prelu. weight is learned: it gets a gradient."""
    _float_input(input, "prelu")
    _tensor(weight, "prelu", "weight")
    return PreluFunction.apply(input, weight)


# ----- softmax, log_softmax -----------------------------------------------------------------------
def _dim(dim, op):
    if dim is None:
        raise ValueError(f"{op}: expected dim to be an int, got None (PyTorch's implicit dim choice "
                         "is deprecated; pass dim explicitly)")
    return _int(dim, op, "dim")


class SoftmaxFunction(Function):
    def forward(self, x, dim):
        self.dim = dim
        self.y = _C.softmax_forward(x, dim)
        return self.y

    def backward(self, grad):
        return _C.softmax_backward(grad, self.y, self.dim), None


def softmax(input, dim=None):
    """exp(input) / sum(exp(input)) along dim (negative counts from the end); numerically stable."""
    return SoftmaxFunction.apply(_float_input(input, "softmax"), _dim(dim, "softmax"))


class LogSoftmaxFunction(Function):
    def forward(self, x, dim):
        self.dim = dim
        self.y = _C.log_softmax_forward(x, dim)
        return self.y

    def backward(self, grad):
        return _C.log_softmax_backward(grad, self.y, self.dim), None


def log_softmax(input, dim=None):
    """log(softmax(input, dim)), computed stably as (x - max) - log(sum(exp(x - max)))."""
    return LogSoftmaxFunction.apply(_float_input(input, "log_softmax"), _dim(dim, "log_softmax"))


# ----- losses -------------------------------------------------------------------------------------
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


def _legacy_reduction(size_average, reduce, reduction, op):
    """torch's rule for the deprecated size_average/reduce flags: when either is given it overrides
    ``reduction`` (reduce=False -> 'none', else size_average=False -> 'sum', else 'mean')."""
    if size_average is None and reduce is None:
        return reduction
    size_average = True if size_average is None else _bool(size_average, op, "size_average")
    reduce = True if reduce is None else _bool(reduce, op, "reduce")
    return "none" if not reduce else ("mean" if size_average else "sum")


class SumToFunction(Function):
    """Sums ``x`` down to ``shape`` (every dimension of size 1 in ``shape`` summed over)."""

    def forward(self, x, shape):
        self.in_shape, self.device = list(x.shape), x.device
        return _C.sum_to(x, list(shape))

    def backward(self, grad):
        zeros = _C.zeros(self.in_shape, "float32", self.device)
        return _C.binary_forward(zeros, grad, 0), None


def _class_weight(weight, C, device, op):
    _tensor(weight, op, "weight")
    if weight.dtype != "float32":
        raise TypeError(f"{op}: expected weight to be float32, got {weight.dtype}")
    if tuple(weight.shape) != (C,):
        raise ValueError(f"{op}: expected weight of shape ({C},) (one per class), got "
                         f"{tuple(weight.shape)}")
    if weight.device != device:
        raise ValueError(f"{op}: expected weight on the input's device {device}, got {weight.device}")
    return weight


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
    per_position = SumToFunction.apply(per_class, (n, 1) + tuple(logp.shape[2:]))
    per_position = reshape(per_position, (n,) + tuple(logp.shape[2:]))
    if reduction == "none":
        return per_position
    total = sum(per_position)
    if reduction == "sum":
        return total
    divisor = float(np.sum(w[safe][keep], dtype=np.float64))
    return binary(total, Tensor._wrap(_scalar(divisor, total._data)), "div")


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
        p = binary(binary(p, Tensor._wrap(_scalar(1.0 - label_smoothing, p._data)), "mul"),
                   Tensor._wrap(_scalar(label_smoothing / C, p._data)), "add")
    if weight is not None:
        p = binary(p, reshape(weight, (1, C) + (1,) * (input.ndim - 2)), "mul")
    per_class = binary(logp, p, "mul")
    n = input.shape[0]
    per_position = SumToFunction.apply(per_class, (n, 1) + tuple(input.shape[2:]))
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
    _float_input(input, op)
    _tensor(target, op, "target")
    reduction = _legacy_reduction(size_average, reduce, reduction, op)
    code = _reduction(reduction, op)
    ignore_index = _int(ignore_index, op, "ignore_index")
    label_smoothing = _float(label_smoothing, op, "label_smoothing")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{op}: expected label_smoothing in [0, 1], got {label_smoothing}")
    probabilities = target.dtype == "float32"
    if not probabilities and target.dtype != "int64":
        raise TypeError(f"{op}: expected target to be int64 class indices or float32 class "
                        f"probabilities, got {target.dtype}")
    if weight is None and not probabilities:
        return CrossEntropyFunction.apply(input, target, ignore_index, label_smoothing, code)
    if input.ndim == 0:
        raise ValueError(f"{op}: expected input of shape (C,), (N, C) or (N, C, d1, ...), got shape ()")
    unbatched = input.ndim == 1
    x = reshape(input, (1,) + tuple(input.shape)) if unbatched else input
    C = x.shape[1]
    if C == 0:
        raise ValueError(f"{op}: expected at least one class, got input of shape {tuple(input.shape)}")
    if weight is not None:
        _class_weight(weight, C, x.device, op)
    if probabilities:
        if tuple(target.shape) != tuple(input.shape):
            raise ValueError(f"{op}: expected probability targets of the input's shape "
                             f"{tuple(input.shape)}, got {tuple(target.shape)}")
        t = reshape(target, tuple(x.shape)) if unbatched else target
        out = _probability_cross_entropy(x, t, weight, label_smoothing, reduction, op)
    else:
        want = tuple(x.shape[:1]) + tuple(x.shape[2:])
        if tuple(target.shape) != (want[1:] if unbatched else want):
            raise ValueError(f"{op}: expected target of shape {want[1:] if unbatched else want} for "
                             f"input of shape {tuple(input.shape)}, got target of shape "
                             f"{tuple(target.shape)}")
        if target.device != x.device:
            raise ValueError(f"{op}: expected input and target on the same device, got {x.device} "
                             f"and {target.device}")
        t = target.detach().reshape(want) if unbatched else target
        out = _weighted_nll(log_softmax(x, 1), t, weight, ignore_index, label_smoothing, reduction,
                            op)
    return reshape(out, ()) if unbatched and reduction == "none" else out


def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
             reduction="mean"):
    """The negative log-likelihood of log-probabilities input (N, C, *) (or (C,)) at int64 class
    indices target (N, *), as torch.nn.functional.nll_loss: -w_t * input_t per position, 0 where
    ignored; 'mean' divides by the sum of w_t over the non-ignored positions."""
    op = "nll_loss"
    _float_input(input, op)
    _tensor(target, op, "target")
    if target.dtype != "int64":
        raise TypeError(f"{op}: expected target to be int64 class indices, got {target.dtype}")
    reduction = _legacy_reduction(size_average, reduce, reduction, op)
    _reduction(reduction, op)
    ignore_index = _int(ignore_index, op, "ignore_index")
    if input.ndim == 0:
        raise ValueError(f"{op}: expected input of shape (C,), (N, C) or (N, C, d1, ...), got shape ()")
    unbatched = input.ndim == 1
    x = reshape(input, (1,) + tuple(input.shape)) if unbatched else input
    C = x.shape[1]
    if C == 0:
        raise ValueError(f"{op}: expected at least one class, got input of shape {tuple(input.shape)}")
    if weight is not None:
        _class_weight(weight, C, x.device, op)
    want = tuple(x.shape[:1]) + tuple(x.shape[2:])
    if tuple(target.shape) != (want[1:] if unbatched else want):
        raise ValueError(f"{op}: expected target of shape {want[1:] if unbatched else want} for "
                         f"input of shape {tuple(input.shape)}, got target of shape "
                         f"{tuple(target.shape)}")
    if target.device != x.device:
        raise ValueError(f"{op}: expected input and target on the same device, got {x.device} and "
                         f"{target.device}")
    t = target.detach().reshape(want) if unbatched else target
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
    _float_input(input, "mse_loss")
    _tensor(target, "mse_loss", "target")
    if target.dtype != "float32":
        raise TypeError(f"mse_loss: expected target to be float32, got {target.dtype}")
    reduction = _legacy_reduction(size_average, reduce, reduction, "mse_loss")
    code = _reduction(reduction, "mse_loss")
    if tuple(input.shape) != tuple(target.shape):
        raise ValueError(f"mse_loss: expected input and target of the same shape, got input "
                         f"{tuple(input.shape)} and target {tuple(target.shape)} (pycnn does not "
                         "broadcast a loss's operands)")
    if weight is None:
        return MseLossFunction.apply(input, target, code)
    _tensor(weight, "mse_loss", "weight")
    if tuple(weight.shape) != tuple(input.shape):
        raise ValueError(f"mse_loss: expected weight of the input's shape {tuple(input.shape)}, got "
                         f"{tuple(weight.shape)}")
    diff = binary(input, target, "sub")
    weighted = binary(binary(diff, diff, "mul"), weight, "mul")
    if reduction == "none":
        return weighted
    total = sum(weighted)
    return total if reduction == "sum" else binary(total, sum(weight), "div")


# ----- tensor methods: indexing, shapes, reductions, comparisons, casts, elementwise math, matmul ----
# Indexing, permutations, argmax/max/min, comparisons, dtype casts and exp/log/sqrt/abs/pow have no
# C++ kernel: their forward runs in numpy on the host (sharing a CPU tensor's memory; a CUDA tensor
# makes one round trip to the host and back, which is acceptable for these small ops and documented
# on each) and the result is a new tensor on the input's device. Backward passes that are products
# run on the device; scatters (indexing, max along a dim) run on the host like their forward.
def _to_device(array, device, dtype=None):
    """A new raw tensor holding a copy of ``array`` on ``device`` (float32, or int64 for integers
    and bools)."""
    array = np.asarray(array)
    if dtype is None:
        dtype = np.int64 if array.dtype.kind in "iub" else np.float32
    return _C.from_numpy(np.array(array, dtype=dtype, order="C", copy=True)).to(device)


def _dim_index(dim, ndim, op="dim"):
    """``dim`` in [-ndim, ndim - 1] (a 0-d tensor takes -1 and 0, as torch), as a non-negative int."""
    dim = _int(dim, op, "dim")
    n = max(ndim, 1)
    if not -n <= dim < n:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], but "
                         f"got {dim})")
    return dim % n


_BASIC = (type(None), type(Ellipsis), slice)


def _index_array(item):
    """A tensor index: int64 positions (tensor, ndarray, list) or a boolean mask (a comparison's
    result, .bool(), a numpy bool array, a list of bools), as a numpy int64 or bool array."""
    from ..tensor import BoolTensor

    if isinstance(item, Tensor):
        if item.dtype != "int64":
            raise IndexError(f"tensors used as indices must be long, int, byte or bool tensors, got "
                             f"{item.dtype}")
        return item.numpy().astype(bool) if isinstance(item, BoolTensor) else item.numpy()
    array = np.asarray(item)
    if array.size == 0 and array.dtype.kind == "f":  # [] is an empty list of positions
        return array.astype(np.int64)
    if array.dtype.kind not in "iub":
        raise IndexError(f"indices must be ints, slices, None, Ellipsis, or int64/bool tensors, "
                         f"arrays or lists; got an array of dtype {array.dtype}")
    return array if array.dtype.kind == "b" else array.astype(np.int64)


def _index_key(key, shape):
    """torch's indexing rules as a plan for numpy: ``(basic, axis, merged, index)``. ``basic`` holds
    ints, slices (step > 0) and None with the Ellipsis expanded and the tensor index replaced by
    full slices (None for a 0-d mask); ``axis`` is the dimension of ``x[basic]`` the tensor index
    applies to (None without one), ``merged`` how many dimensions it covers there (a mask covers its
    own rank), ``index`` the int64 positions along them (negative ones wrapped). Integer indices
    select first, as in torch."""
    if not isinstance(key, tuple):
        key = (key,)
    items, consumed, arrays = [], 0, 0
    for item in key:
        if isinstance(item, (bool, np.bool_)):
            raise IndexError("indexing with a Python bool is not supported; use None to add a "
                             "dimension")
        if isinstance(item, (numbers.Integral, np.integer)):
            items.append(int(item))
            consumed += 1
        elif item is None or item is Ellipsis:
            items.append(item)
        elif isinstance(item, slice):
            for part in (item.start, item.stop, item.step):
                if part is not None and (isinstance(part, bool) or
                                         not isinstance(part, (numbers.Integral, np.integer))):
                    raise IndexError(f"slice indices must be ints or None, got {item!r}")
            if item.step is not None and item.step <= 0:
                raise ValueError("step must be greater than zero")
            items.append(item)
            consumed += 1
        elif isinstance(item, (Tensor, np.ndarray, list)):
            array = _index_array(item)
            items.append(array)
            consumed += array.ndim if array.dtype.kind == "b" else 1
            arrays += 1
        else:
            raise IndexError(f"indices must be ints, slices, None, Ellipsis, or int64/bool tensors, "
                             f"arrays or lists; got {type(item).__name__}")
    if builtins.sum(item is Ellipsis for item in items) > 1:  # sum is the tensor op here
        raise IndexError("an index can only have a single ellipsis ('...')")
    if arrays > 1:
        raise IndexError(f"pycnn supports one tensor, array or list index per indexing, got {arrays}; "
                         "index in two steps")
    if consumed > len(shape):
        raise IndexError(f"too many indices for tensor of dimension {len(shape)}")
    basic, axis, merged, index = [], None, 1, None
    d = o = 0  # the input dimension the next item indexes, the dimension it makes in x[basic]
    for item in items:
        if item is Ellipsis:
            fill = len(shape) - consumed
            basic.extend([slice(None)] * fill)
            d, o = d + fill, o + fill
        elif item is None:
            basic.append(None)
            o += 1
        elif isinstance(item, slice):
            basic.append(item)
            d, o = d + 1, o + 1
        elif isinstance(item, int):
            if not -shape[d] <= item < shape[d]:
                raise IndexError(f"index {item} is out of bounds for dimension {d} with size {shape[d]}")
            basic.append(item)
            d += 1
        elif item.dtype.kind == "b":
            want = tuple(shape[d:d + item.ndim])
            if item.shape != want:
                raise IndexError(f"The shape of the mask {list(item.shape)} at index {d} does not "
                                 f"match the shape of the indexed tensor {list(want)} at index {d}")
            # a mask over k dimensions takes its true positions from those dimensions flattened; a
            # 0-d mask adds a dimension of size 1 (True) or 0 (False), as torch
            basic.extend([slice(None)] * item.ndim if item.ndim else [None])
            axis, merged, index = o, max(item.ndim, 1), np.flatnonzero(item)
            d, o = d + item.ndim, o + merged
        else:
            size = shape[d]
            bad = (item < -size) | (item >= size)
            if bad.any():
                raise IndexError(f"index {int(item[bad].reshape(-1)[0])} is out of bounds for "
                                 f"dimension {d} with size {size}")
            basic.append(slice(None))
            axis, merged, index = o, 1, item % size if size else item
            d, o = d + 1, o + 1
    return tuple(basic), axis, merged, index


def _merged_shape(shape, axis, merged):
    """``shape`` with its ``merged`` dimensions from ``axis`` on merged into one."""
    return shape[:axis] + (int(np.prod(shape[axis:axis + merged])),) + shape[axis + merged:]


def _gather(view, axis, merged, index):
    """``index`` taken along ``axis`` of ``view`` after merging ``merged`` dimensions there."""
    if merged != 1:
        view = view.reshape(_merged_shape(view.shape, axis, merged))
    return np.take(view, index, axis=axis)


class IndexFunction(Function):
    def forward(self, x, plan):
        self.in_shape, self.device = tuple(x.shape), x.device
        self.basic, self.axis, self.merged, self.index = plan
        view = x.numpy()[self.basic]
        self.view_shape = view.shape
        out = view if self.axis is None else _gather(view, self.axis, self.merged, self.index)
        return _to_device(out, x.device)

    def backward(self, grad):
        g = grad.numpy()
        if self.axis is None:
            partial = g
        else:
            partial = np.zeros(_merged_shape(self.view_shape, self.axis, self.merged), np.float32)
            np.add.at(partial, (slice(None),) * self.axis + (self.index,), g)  # repeats add up
            partial = partial.reshape(self.view_shape)
        full = np.zeros(self.in_shape, np.float32)
        full[self.basic] = partial
        return _to_device(full, self.device), None


def index(input, key):
    """``input[key]`` with torch's rules for ints, slices (step > 0), None, Ellipsis and one int64
    index (tensor, ndarray or list; any shape; negative entries count from the end) or boolean mask
    (a comparison's result, ``.bool()``, a numpy bool array) along consecutive dimensions. Integer
    indices select first. The result is a new tensor (a copy: pycnn has no strided views, so writing
    to it does not change ``input``); backward adds the gradient back into zeros of the input's
    shape, repeated indices accumulating. Runs in numpy on the host (a CUDA tensor makes one round
    trip)."""
    _tensor(input, "index", "input")
    return IndexFunction.apply(input, _index_key(key, tuple(input.shape)))


def _arg_extreme(input, dim, keepdim, largest):
    op = "argmax" if largest else "argmin"
    _tensor(input, op, "input")
    keepdim = _bool(keepdim, op, "keepdim")
    a = input.numpy()
    pick = np.argmax if largest else np.argmin
    if dim is None:
        if a.size == 0:
            raise IndexError(f"{op}(): Expected reduction dim to be specified for input.numel() == 0.")
        out = np.asarray(pick(a))
        if keepdim:
            out = out.reshape((1,) * a.ndim)
    else:
        dim = _dim_index(dim, a.ndim, op)
        a = a.reshape(1) if a.ndim == 0 else a
        if a.shape[dim] == 0:
            raise IndexError(f"{op}(): Expected reduction dim {dim} to have non-zero size.")
        out = pick(a, axis=dim, keepdims=keepdim)
        if input.ndim == 0:
            out = out.reshape(())
    return Tensor._wrap(_to_device(out, input.device, np.int64))


def argmax(input, dim=None, keepdim=False):
    """The int64 index of the largest value: of the flattened input when ``dim`` is None, else along
    ``dim`` (that dimension dropped unless ``keepdim``). The first one wins a tie; NaN counts as the
    largest, as torch. No gradient. Runs on the host (a CUDA tensor makes one round trip)."""
    return _arg_extreme(input, dim, keepdim, True)


def argmin(input, dim=None, keepdim=False):
    """The int64 index of the smallest value, like :func:`argmax`."""
    return _arg_extreme(input, dim, keepdim, False)


class ExtremeAllFunction(Function):
    def forward(self, x, largest):
        a = x.numpy()
        value = np.max(a) if largest else np.min(a)
        # torch spreads the gradient evenly over every element equal to the extremum
        hits = np.isnan(a) if np.isnan(value) else (a == value)
        self.share = _to_device(hits / max(int(hits.sum()), 1), x.device, np.float32)
        return _to_device(value, x.device)

    def backward(self, grad):
        return _C.binary_forward(self.share, grad, 2), None


class ExtremeDimFunction(Function):
    def forward(self, x, dim, keepdim, largest, indices_out):
        a = x.numpy()
        a = a.reshape(1) if a.ndim == 0 else a
        where = (np.argmax if largest else np.argmin)(a, axis=dim, keepdims=True)
        values = np.take_along_axis(a, where, axis=dim)
        self.in_shape, self.dim, self.where, self.device = a.shape, dim, where, x.device
        self.out_ndim = x.ndim
        if not keepdim:
            values, where = np.squeeze(values, dim), np.squeeze(where, dim)
        if x.ndim == 0:
            values, where = values.reshape(()), where.reshape(())
        indices_out.append(Tensor._wrap(_to_device(where, x.device, np.int64)))
        return _to_device(values, x.device)

    def backward(self, grad):
        g = grad.numpy().reshape(self.where.shape)
        full = np.zeros(self.in_shape, np.float32)
        np.put_along_axis(full, self.where, g, axis=self.dim)
        if self.out_ndim == 0:
            full = full.reshape(())
        return _to_device(full, self.device), None, None, None, None


def _extreme(input, dim, keepdim, largest):
    op = "max" if largest else "min"
    _tensor(input, op, "input")
    keepdim = _bool(keepdim, op, "keepdim")
    if isinstance(dim, Tensor):
        raise TypeError(f"{op}: the elementwise {op} of two tensors is not supported; pass dim as an "
                        "int")
    if dim is None:
        if input.numel() == 0:
            raise RuntimeError(f"{op}(): Expected reduction dim to be specified for input.numel() == 0. "
                               "Specify the reduction dim with the 'dim' argument.")
        return ExtremeAllFunction.apply(input, largest)
    dim = _dim_index(dim, input.ndim, op)
    if input.ndim and input.shape[dim] == 0:
        raise IndexError(f"{op}(): Expected reduction dim {dim} to have non-zero size.")
    indices = []
    values = ExtremeDimFunction.apply(input, dim, keepdim, largest, indices)
    return (MaxResult if largest else MinResult)(values, indices[0])


MaxResult = collections.namedtuple("max", ["values", "indices"])
MinResult = collections.namedtuple("min", ["values", "indices"])


def max_reduce(input, dim=None, keepdim=False):
    """torch.max (named max_reduce here so the builtin stays usable): without ``dim``, the largest value as a 0-d tensor (its gradient shared evenly by
    every element equal to it); with ``dim``, a named tuple ``(values, indices)`` along that
    dimension (dropped unless ``keepdim``), the gradient going to the index taken (the first of a
    tie). NaN propagates. Runs on the host (a CUDA tensor makes one round trip)."""
    return _extreme(input, dim, keepdim, True)


def min_reduce(input, dim=None, keepdim=False):
    """torch.min, like :func:`max_reduce`."""
    return _extreme(input, dim, keepdim, False)


def squeeze(input, dim=None):
    """``input`` without dimensions of size 1: all of them, or those of ``dim`` (an int or a tuple;
    a listed dimension whose size is not 1 is kept), as torch.squeeze. A view (differentiable)."""
    _tensor(input, "squeeze", "input")
    shape = tuple(input.shape)
    if dim is None:
        dims = set(range(len(shape)))
    else:
        listed = [_dim_index(d, len(shape), "squeeze") for d in (dim if isinstance(dim, (tuple, list))
                                                                 else (dim,))]
        dims = set(listed)
        if len(dims) != len(listed):
            raise ValueError(f"squeeze: a dim appears multiple times in the list of dims {tuple(dim)}")
    return reshape(input, tuple(s for i, s in enumerate(shape) if not (i in dims and s == 1)))


def unsqueeze(input, dim):
    """``input`` with a dimension of size 1 inserted at ``dim`` (in [-ndim-1, ndim]), as
    torch.unsqueeze. A view (differentiable)."""
    _tensor(input, "unsqueeze", "input")
    shape = tuple(input.shape)
    dim = _dim_index(dim, len(shape) + 1, "unsqueeze")
    return reshape(input, shape[:dim] + (1,) + shape[dim:])


class PermuteFunction(Function):
    def forward(self, x, dims):
        self.dims = dims
        return _to_device(np.transpose(x.numpy(), dims), x.device)

    def backward(self, grad):
        return _to_device(np.transpose(grad.numpy(), np.argsort(self.dims)), grad.device), None


def permute(input, dims):
    """``input`` with its dimensions reordered: output dimension i is input dimension dims[i], as
    torch.permute. A copy (pycnn tensors are contiguous), computed on the host (a CUDA tensor makes
    one round trip); differentiable."""
    _tensor(input, "permute", "input")
    n = input.ndim
    dims = tuple(_dim_index(d, n, "permute") for d in dims)
    if sorted(dims) != list(range(n)):
        raise ValueError(f"permute: expected a permutation of the {n} dimensions of shape "
                         f"{tuple(input.shape)}, got {dims}")
    if dims == tuple(range(n)):
        return input
    return PermuteFunction.apply(input, dims)


def transpose(input, dim0, dim1):
    """``input`` with dimensions ``dim0`` and ``dim1`` swapped, as torch.transpose (a copy; see
    :func:`permute`)."""
    _tensor(input, "transpose", "input")
    dims = list(range(input.ndim))
    a, b = _dim_index(dim0, input.ndim, "transpose"), _dim_index(dim1, input.ndim, "transpose")
    if input.ndim:
        dims[a], dims[b] = dims[b], dims[a]
    return permute(input, dims)


_COMPARE = {"eq": np.equal, "ne": np.not_equal, "lt": np.less, "le": np.less_equal,
            "gt": np.greater, "ge": np.greater_equal}


def compare(input, other, op):
    """``input (op) other`` elementwise with broadcasting, op one of 'eq', 'ne', 'lt', 'le', 'gt',
    'ge'; ``other`` a tensor on the same device, an array or a number. pycnn has no bool dtype: the
    result is an int64 tensor of 0 and 1 (a BoolTensor, which indexing reads as a mask, as torch's
    bool tensors), so ``(pred == y).sum().item()`` counts like torch and ``.float().mean()`` is the
    fraction. No gradient. Runs on the host (a CUDA tensor makes one round trip)."""
    from ..tensor import BoolTensor

    _tensor(input, op, "input")
    if isinstance(other, Tensor):
        if other.device != input.device:
            raise ValueError(f"{op}: expected both tensors on the same device, got {input.device} and "
                             f"{other.device}")
        b = other.numpy()
    elif isinstance(other, (numbers.Number, np.ndarray, np.generic, list, tuple)):
        b = np.asarray(other)
    else:
        raise TypeError(f"{op}: expected other to be a tensor, an array or a number, got "
                        f"{type(other).__name__}")
    a = input.numpy()
    try:
        shape = np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise ValueError(f"{op}: shapes {tuple(a.shape)} and {tuple(b.shape)} do not broadcast") from None
    with np.errstate(invalid="ignore"):
        out = _COMPARE[op](a, b)
    return BoolTensor._wrap(_to_device(np.broadcast_to(out, shape), input.device, np.int64))


class CastFunction(Function):
    def forward(self, x, dtype):
        a = x.numpy()
        if dtype == "int64":  # truncation toward zero, as torch
            with np.errstate(invalid="ignore"):
                return _to_device(np.trunc(a).astype(np.int64), x.device, np.int64)
        return _to_device(a, x.device, np.float32)

    def backward(self, grad):
        return grad, None


def cast(input, dtype):
    """``input`` converted to 'float32' or 'int64' (float to int truncates toward zero), as
    torch's ``.to(dtype)``; ``input`` itself when it already has that dtype. Only the float32 side
    has gradients. Runs on the host (a CUDA tensor makes one round trip)."""
    _tensor(input, "cast", "input")
    if dtype not in ("float32", "int64"):
        raise TypeError(f"cast: expected dtype 'float32' or 'int64', got {dtype!r}")
    if input.dtype == dtype:
        return input
    # integer results carry no gradient, as in torch: cut the tape for them
    return CastFunction.apply(input.detach() if dtype == "int64" else input, dtype)


def _unary_host(input, op, fn):
    """``fn`` (a numpy ufunc) of a float32 tensor, as a raw tensor on its device."""
    with np.errstate(all="ignore"):  # inf and NaN results, as torch, without numpy's warnings
        return _to_device(fn(input.numpy()), input.device, np.float32)


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
        return _C.binary_forward(_C.binary_forward(grad, self.y, 3), _scalar(0.5, grad), 2)


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
        self.slope = _to_device(slope, x.device, np.float32)
        return _to_device(y, x.device, np.float32)

    def backward(self, grad):
        return _C.binary_forward(grad, self.slope, 2), None, None


def exp(input):
    """e ** input, elementwise (on the host: a CUDA tensor makes one round trip)."""
    return ExpFunction.apply(_float_input(input, "exp"))


def log(input):
    """The natural logarithm, elementwise (-inf at 0, NaN below, as torch; on the host)."""
    return LogFunction.apply(_float_input(input, "log"))


def sqrt(input):
    """The square root, elementwise (NaN below 0, as torch; on the host)."""
    return SqrtFunction.apply(_float_input(input, "sqrt"))


def absolute(input):
    """|input|, elementwise; the gradient is sign(input) (0 at 0, as torch; on the host)."""
    return AbsFunction.apply(_float_input(input, "abs"))


def power(input, exponent):
    """input ** exponent for a number ``exponent``, elementwise, as torch.pow (on the host).
    A tensor exponent is not supported."""
    _float_input(input, "pow")
    if isinstance(exponent, Tensor):
        raise TypeError("pow: a tensor exponent is not supported; pass a number")
    return PowFunction.apply(input, _float(exponent, "pow", "exponent"), False)


def rpow(input, base):
    """base ** input for a positive number ``base`` (``2 ** tensor``), elementwise (on the host)."""
    _float_input(input, "pow")
    base = _float(base, "pow", "base")
    if not base > 0:
        raise ValueError(f"pow: expected a positive base for base ** tensor, got {base}")
    return PowFunction.apply(input, base, True)


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
    _float_input(input, "matmul")
    _tensor(other, "matmul", "other")
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
