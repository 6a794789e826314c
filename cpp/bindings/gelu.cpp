// gelu binding: dtype, shape and mode checks, device dispatch. Any shape: the kernels see flat
// arrays.
#include "pycnn/ops/gelu.h"

#include <nanobind/stl/string.h>

#include "common.h"

namespace pycnn {

// torch's two modes; anything else is refused by name.
static bool parse_approximate(const std::string& approximate, const char* op) {
  if (approximate == "none") return false;
  if (approximate == "tanh") return true;
  value_error(op, ": expected approximate to be 'none' or 'tanh', got '", approximate, "'");
}

static Tensor gelu_forward(const Tensor& x, const std::string& approximate) {
  require_float(x, "gelu", "input");
  const bool tanh_approximation = parse_approximate(approximate, "gelu");
  Tensor y = Tensor::empty(x.shape(), DType::Float32, x.device());
  if (x.numel() == 0) return y;
  if (x.is_cuda())
    PYCNN_ON_CUDA("gelu", cuda::gelu_forward(y.f32(), x.f32(), tanh_approximation, x.numel()));
  else cpu::gelu_forward(y.f32(), x.f32(), tanh_approximation, x.numel());
  return y;
}

// x: the forward's input.
static Tensor gelu_backward(const Tensor& dy, const Tensor& x, const std::string& approximate) {
  require_float(dy, "gelu backward", "grad_output");
  require_float(x, "gelu backward", "input");
  require_shape(dy, x.shape(), "gelu backward", "grad_output");
  require_same_device(dy, x, "gelu backward", "grad_output", "input");
  const bool tanh_approximation = parse_approximate(approximate, "gelu backward");
  Tensor dx = Tensor::empty(x.shape(), DType::Float32, x.device());
  if (dy.numel() == 0) return dx;
  if (dy.is_cuda())
    PYCNN_ON_CUDA("gelu", cuda::gelu_backward(dx.f32(), dy.f32(), x.f32(), tanh_approximation,
                                              dy.numel()));
  else cpu::gelu_backward(dx.f32(), dy.f32(), x.f32(), tanh_approximation, dy.numel());
  return dx;
}

void bind_gelu(nb::module_& m) {
  m.def("gelu_forward", &gelu_forward, nb::arg("input"), nb::arg("approximate"));
  m.def("gelu_backward", &gelu_backward, nb::arg("grad_output"), nb::arg("input"),
        nb::arg("approximate"));
}

}  // namespace pycnn
