// leaky_relu binding: dtype and shape checks, device dispatch. Any shape: the kernels see flat
// arrays.
#include "pycnn/ops/leaky_relu.h"

#include "common.h"

namespace pycnn {

static Tensor leaky_relu_forward(const Tensor& x, double negative_slope) {
  require_float(x, "leaky_relu", "input");
  Tensor y = Tensor::empty(x.shape(), DType::Float32, x.device());
  if (x.numel() == 0) return y;
  if (x.is_cuda())
    PYCNN_ON_CUDA("leaky_relu",
                  cuda::leaky_relu_forward(y.f32(), x.f32(), float(negative_slope), x.numel()));
  else cpu::leaky_relu_forward(y.f32(), x.f32(), float(negative_slope), x.numel());
  return y;
}

// x: the forward's input.
static Tensor leaky_relu_backward(const Tensor& dy, const Tensor& x, double negative_slope) {
  require_float(dy, "leaky_relu backward", "grad_output");
  require_float(x, "leaky_relu backward", "input");
  require_shape(dy, x.shape(), "leaky_relu backward", "grad_output");
  require_same_device(dy, x, "leaky_relu backward", "grad_output", "input");
  Tensor dx = Tensor::empty(x.shape(), DType::Float32, x.device());
  if (dy.numel() == 0) return dx;
  if (dy.is_cuda())
    PYCNN_ON_CUDA("leaky_relu", cuda::leaky_relu_backward(dx.f32(), dy.f32(), x.f32(),
                                                          float(negative_slope), dy.numel()));
  else
    cpu::leaky_relu_backward(dx.f32(), dy.f32(), x.f32(), float(negative_slope), dy.numel());
  return dx;
}

void bind_leaky_relu(nb::module_& m) {
  m.def("leaky_relu_forward", &leaky_relu_forward, nb::arg("input"), nb::arg("negative_slope"));
  m.def("leaky_relu_backward", &leaky_relu_backward, nb::arg("grad_output"), nb::arg("input"),
        nb::arg("negative_slope"));
}

}  // namespace pycnn
