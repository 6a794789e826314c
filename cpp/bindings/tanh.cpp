// tanh binding: dtype and shape checks, device dispatch. Any shape: the kernels see flat arrays.
#include "pycnn/ops/tanh.h"

#include "common.h"

namespace pycnn {

static Tensor tanh_forward(const Tensor& x) {
  require_float(x, "tanh", "input");
  Tensor y = Tensor::empty(x.shape(), DType::Float32, x.device());
  if (x.numel() == 0) return y;
  if (x.is_cuda()) PYCNN_ON_CUDA("tanh", cuda::tanh_forward(y.f32(), x.f32(), x.numel()));
  else cpu::tanh_forward(y.f32(), x.f32(), x.numel());
  return y;
}

// y: the forward's output.
static Tensor tanh_backward(const Tensor& dy, const Tensor& y) {
  require_float(dy, "tanh backward", "grad_output");
  require_float(y, "tanh backward", "output");
  require_shape(dy, y.shape(), "tanh backward", "grad_output");
  require_same_device(dy, y, "tanh backward", "grad_output", "output");
  Tensor dx = Tensor::empty(y.shape(), DType::Float32, y.device());
  if (dy.numel() == 0) return dx;
  if (dy.is_cuda())
    PYCNN_ON_CUDA("tanh", cuda::tanh_backward(dx.f32(), dy.f32(), y.f32(), dy.numel()));
  else cpu::tanh_backward(dx.f32(), dy.f32(), y.f32(), dy.numel());
  return dx;
}

void bind_tanh(nb::module_& m) {
  m.def("tanh_forward", &tanh_forward, nb::arg("input"));
  m.def("tanh_backward", &tanh_backward, nb::arg("grad_output"), nb::arg("output"));
}

}  // namespace pycnn
