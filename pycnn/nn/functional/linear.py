"""linear: the fully connected layer's op, y = x @ w.T + b, over the C++ kernels
cpp/src/cpu/linear.cpp and cpp/src/cuda/linear.cu (binding: cpp/bindings/linear.cpp)."""
from ... import _C
from ...autograd import Function
from ...tensor import as_tensor


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
    as_tensor(input, "linear", "input")
    as_tensor(weight, "linear", "weight")
    if bias is not None:
        as_tensor(bias, "linear", "bias")
    return LinearFunction.apply(input, weight, bias)
