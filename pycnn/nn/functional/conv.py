"""conv2d: 2-d convolution (cross-correlation, as torch), as an autograd Function over the C++
kernels cpp/src/cpu/conv2d.cpp and cpp/src/cuda/conv2d.cu (binding: cpp/bindings/conv2d.cpp, which
checks the shapes and names what was expected and what came)."""
from ... import _C
from ..._arguments import as_int, as_pair
from ...autograd import Function
from ...tensor import Tensor, as_tensor
from ...tensor_ops import cat, reshape


class Conv2dFunction(Function):
    def forward(self, x, w, b, stride, padding, dilation, groups):
        self.saved = (x, w, stride, padding, dilation, groups)
        return _C.conv2d_forward(x, w, b, stride, padding, dilation, groups)

    def takes_input_grad(self):
        """The input's gradient from elsewhere (a residual block's shortcut) is summed into dx in the
        kernel's own pass (see autograd's Function.takes_input_grad): on the CPU."""
        return self.needs_input_grad[0] and self.saved[0].device == "cpu"

    def backward(self, grad):
        x, w, stride, padding, dilation, groups = self.saved
        need_x, need_w, need_b = self.needs_input_grad[:3]
        return _C.conv2d_backward(grad, x, w, stride, padding, dilation, groups, need_x, need_w, need_b,
                                  self.__dict__.pop("input_grad", None))


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-d convolution. input (N, C_in, H, W) or unbatched (C_in, H, W), weight
    (C_out, C_in/groups, KH, KW), bias (C_out,) -> (N, C_out, OH, OW) (or (C_out, OH, OW)) with
    OH = (H + 2*pad - dilation*(KH-1) - 1) // stride + 1.

    ``padding`` may be an int, a pair, 'valid' or 'same' (stride 1). As in torch, 'same' with an even
    effective kernel dilation*(K-1) pads one more row/column at the bottom/right than at the top/left."""
    as_tensor(input, "conv2d", "input")
    as_tensor(weight, "conv2d", "weight")
    if bias is not None:
        as_tensor(bias, "conv2d", "bias")
    stride = as_pair(stride, "conv2d", "stride")
    dilation = as_pair(dilation, "conv2d", "dilation")
    groups = as_int(groups, "conv2d", "groups")
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
    padding = as_pair(padding, "conv2d", "padding")
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
