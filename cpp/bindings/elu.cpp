// elu binding: dtype and shape checks, device dispatch. Any shape: the kernels see flat arrays.
#include "pycnn/ops/elu.h"

#include "common.h"

namespace pycnn {

static Tensor elu_forward(const Tensor& x, double alpha) {
  require_float(x, "elu", "input");
  Tensor y = Tensor::empty(x.shape(), DType::Float32, x.device());
  if (x.numel() == 0) return y;
  if (x.is_cuda())
    PYCNN_ON_CUDA("elu", cuda::elu_forward(y.f32(), x.f32(), float(alpha), x.numel()));
  else cpu::elu_forward(y.f32(), x.f32(), float(alpha), x.numel());
  return y;
}

// x: the forward's input.
static Tensor elu_backward(const Tensor& dy, const Tensor& x, double alpha) {
  require_float(dy, "elu backward", "grad_output");
  require_float(x, "elu backward", "input");
  require_shape(dy, x.shape(), "elu backward", "grad_output");
  require_same_device(dy, x, "elu backward", "grad_output", "input");
  Tensor dx = Tensor::empty(x.shape(), DType::Float32, x.device());
  if (dy.numel() == 0) return dx;
  if (dy.is_cuda())
    PYCNN_ON_CUDA("elu", cuda::elu_backward(dx.f32(), dy.f32(), x.f32(), float(alpha), dy.numel()));
  else cpu::elu_backward(dx.f32(), dy.f32(), x.f32(), float(alpha), dy.numel());
  return dx;
}

void bind_elu(nb::module_& m) {
  m.def("elu_forward", &elu_forward, nb::arg("input"), nb::arg("alpha"));
  m.def("elu_backward", &elu_backward, nb::arg("grad_output"), nb::arg("input"), nb::arg("alpha"));
}

}  // namespace pycnn
