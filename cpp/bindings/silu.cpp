// silu binding: dtype and shape checks, device dispatch. Any shape: the kernels see flat arrays.
#include "pycnn/ops/silu.h"

#include "common.h"

namespace pycnn {

static Tensor silu_forward(const Tensor& x) {
  require_float(x, "silu", "input");
  Tensor y = Tensor::empty(x.shape(), DType::Float32, x.device());
  if (x.numel() == 0) return y;
  if (x.is_cuda()) PYCNN_ON_CUDA("silu", cuda::silu_forward(y.f32(), x.f32(), x.numel()));
  else cpu::silu_forward(y.f32(), x.f32(), x.numel());
  return y;
}

// x: the forward's input.
static Tensor silu_backward(const Tensor& dy, const Tensor& x) {
  require_float(dy, "silu backward", "grad_output");
  require_float(x, "silu backward", "input");
  require_shape(dy, x.shape(), "silu backward", "grad_output");
  require_same_device(dy, x, "silu backward", "grad_output", "input");
  Tensor dx = Tensor::empty(x.shape(), DType::Float32, x.device());
  if (dy.numel() == 0) return dx;
  if (dy.is_cuda())
    PYCNN_ON_CUDA("silu", cuda::silu_backward(dx.f32(), dy.f32(), x.f32(), dy.numel()));
  else cpu::silu_backward(dx.f32(), dy.f32(), x.f32(), dy.numel());
  return dx;
}

void bind_silu(nb::module_& m) {
  m.def("silu_forward", &silu_forward, nb::arg("input"));
  m.def("silu_backward", &silu_backward, nb::arg("grad_output"), nb::arg("input"));
}

}  // namespace pycnn
