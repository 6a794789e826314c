// sigmoid binding: dtype and shape checks, device dispatch. Any shape: the kernels see flat arrays.
#include "pycnn/ops/sigmoid.h"

#include "common.h"

namespace pycnn {

static Tensor sigmoid_forward(const Tensor& x) {
  require_float(x, "sigmoid", "input");
  Tensor y = Tensor::empty(x.shape(), DType::Float32, x.device());
  if (x.numel() == 0) return y;
  if (x.is_cuda()) PYCNN_ON_CUDA("sigmoid", cuda::sigmoid_forward(y.f32(), x.f32(), x.numel()));
  else cpu::sigmoid_forward(y.f32(), x.f32(), x.numel());
  return y;
}

// y: the forward's output.
static Tensor sigmoid_backward(const Tensor& dy, const Tensor& y) {
  require_float(dy, "sigmoid backward", "grad_output");
  require_float(y, "sigmoid backward", "output");
  require_shape(dy, y.shape(), "sigmoid backward", "grad_output");
  require_same_device(dy, y, "sigmoid backward", "grad_output", "output");
  Tensor dx = Tensor::empty(y.shape(), DType::Float32, y.device());
  if (dy.numel() == 0) return dx;
  if (dy.is_cuda())
    PYCNN_ON_CUDA("sigmoid", cuda::sigmoid_backward(dx.f32(), dy.f32(), y.f32(), dy.numel()));
  else cpu::sigmoid_backward(dx.f32(), dy.f32(), y.f32(), dy.numel());
  return dx;
}

void bind_sigmoid(nb::module_& m) {
  m.def("sigmoid_forward", &sigmoid_forward, nb::arg("input"));
  m.def("sigmoid_backward", &sigmoid_backward, nb::arg("grad_output"), nb::arg("output"));
}

}  // namespace pycnn
