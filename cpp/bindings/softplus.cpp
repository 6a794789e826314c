// softplus binding: dtype and shape checks, device dispatch. Any shape: the kernels see flat
// arrays.
#include "pycnn/ops/softplus.h"

#include "common.h"

namespace pycnn {

static Tensor softplus_forward(const Tensor& x, double beta, double threshold) {
  require_float(x, "softplus", "input");
  Tensor y = Tensor::empty(x.shape(), DType::Float32, x.device());
  if (x.numel() == 0) return y;
  if (x.is_cuda())
    PYCNN_ON_CUDA("softplus", cuda::softplus_forward(y.f32(), x.f32(), float(beta),
                                                     float(threshold), x.numel()));
  else cpu::softplus_forward(y.f32(), x.f32(), float(beta), float(threshold), x.numel());
  return y;
}

// x: the forward's input.
static Tensor softplus_backward(const Tensor& dy, const Tensor& x, double beta, double threshold) {
  require_float(dy, "softplus backward", "grad_output");
  require_float(x, "softplus backward", "input");
  require_shape(dy, x.shape(), "softplus backward", "grad_output");
  require_same_device(dy, x, "softplus backward", "grad_output", "input");
  Tensor dx = Tensor::empty(x.shape(), DType::Float32, x.device());
  if (dy.numel() == 0) return dx;
  if (dy.is_cuda())
    PYCNN_ON_CUDA("softplus", cuda::softplus_backward(dx.f32(), dy.f32(), x.f32(), float(beta),
                                                      float(threshold), dy.numel()));
  else
    cpu::softplus_backward(dx.f32(), dy.f32(), x.f32(), float(beta), float(threshold), dy.numel());
  return dx;
}

void bind_softplus(nb::module_& m) {
  m.def("softplus_forward", &softplus_forward, nb::arg("input"), nb::arg("beta"),
        nb::arg("threshold"));
  m.def("softplus_backward", &softplus_backward, nb::arg("grad_output"), nb::arg("input"),
        nb::arg("beta"), nb::arg("threshold"));
}

}  // namespace pycnn
