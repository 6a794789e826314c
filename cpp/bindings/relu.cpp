// relu binding: dtype and shape checks, device dispatch. Any shape: the kernels see flat arrays.
#include "pycnn/ops/relu.h"

#include "common.h"

namespace pycnn {

static Tensor relu_forward(const Tensor& x) {
  require_float(x, "relu", "input");
  Tensor y = Tensor::empty(x.shape(), DType::Float32, x.device());
  if (x.numel() == 0) return y;
  if (x.is_cuda()) PYCNN_ON_CUDA("relu", cuda::relu_forward(y.f32(), x.f32(), x.numel()));
  else cpu::relu_forward(y.f32(), x.f32(), x.numel());
  return y;
}

// y: the forward's output.
static Tensor relu_backward(const Tensor& dy, const Tensor& y) {
  require_float(dy, "relu backward", "grad_output");
  require_float(y, "relu backward", "output");
  require_shape(dy, y.shape(), "relu backward", "grad_output");
  require_same_device(dy, y, "relu backward", "grad_output", "output");
  Tensor dx = Tensor::empty(y.shape(), DType::Float32, y.device());
  if (dy.numel() == 0) return dx;
  if (dy.is_cuda())
    PYCNN_ON_CUDA("relu", cuda::relu_backward(dx.f32(), dy.f32(), y.f32(), dy.numel()));
  else cpu::relu_backward(dx.f32(), dy.f32(), y.f32(), dy.numel());
  return dx;
}

void bind_relu(nb::module_& m) {
  m.def("relu_forward", &relu_forward, nb::arg("input"));
  m.def("relu_backward", &relu_backward, nb::arg("grad_output"), nb::arg("output"));
}

}  // namespace pycnn
