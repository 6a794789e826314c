// avg_pool2d binding: argument and shape checks, device dispatch. Backward takes the input's shape,
// not the input, which it never reads.
#include "pycnn/ops/avg_pool2d.h"

#include "shape_rules.h"

namespace pycnn {

static AvgPool2dOptions avg_pool2d_options(bool count_include_pad,
                                           std::optional<int64_t> divisor_override) {
  if (divisor_override && *divisor_override == 0)
    value_error("avg_pool2d: divisor_override must not be zero");
  return {count_include_pad, divisor_override.value_or(0)};
}

static Tensor avg_pool2d_forward(const Tensor& x, Pair kernel_size, Pair stride, Pair padding,
                                 bool ceil_mode, bool count_include_pad,
                                 std::optional<int64_t> divisor_override) {
  require_float(x, "avg_pool2d", "input");
  Pool2dShape s =
      pool2d_shape("avg_pool2d", x.shape(), kernel_size, stride, padding, {1, 1}, ceil_mode);
  AvgPool2dOptions o = avg_pool2d_options(count_include_pad, divisor_override);
  Tensor y = Tensor::empty(pool2d_output_shape(s), DType::Float32, x.device());
  if (x.is_cuda()) PYCNN_ON_CUDA("avg_pool2d", cuda::avg_pool2d_forward(y.f32(), x.f32(), s, o));
  else cpu::avg_pool2d_forward(y.f32(), x.f32(), s, o);
  return y;
}

static Tensor avg_pool2d_backward(const Tensor& dy, const Shape& input_shape, Pair kernel_size,
                                  Pair stride, Pair padding, bool ceil_mode, bool count_include_pad,
                                  std::optional<int64_t> divisor_override) {
  Pool2dShape s =
      pool2d_shape("avg_pool2d", input_shape, kernel_size, stride, padding, {1, 1}, ceil_mode);
  AvgPool2dOptions o = avg_pool2d_options(count_include_pad, divisor_override);
  require_float(dy, "avg_pool2d backward", "grad_output");
  require_shape(dy, pool2d_output_shape(s), "avg_pool2d backward", "grad_output");
  Tensor dx = Tensor::empty(input_shape, DType::Float32, dy.device());
  if (dy.is_cuda())
    PYCNN_ON_CUDA("avg_pool2d", cuda::avg_pool2d_backward(dx.f32(), dy.f32(), s, o));
  else cpu::avg_pool2d_backward(dx.f32(), dy.f32(), s, o);
  return dx;
}

void bind_avg_pool2d(nb::module_& m) {
  m.def("avg_pool2d_forward", &avg_pool2d_forward, nb::arg("input"), nb::arg("kernel_size"),
        nb::arg("stride"), nb::arg("padding"), nb::arg("ceil_mode"), nb::arg("count_include_pad"),
        nb::arg("divisor_override").none());
  m.def("avg_pool2d_backward", &avg_pool2d_backward, nb::arg("grad_output"), nb::arg("input_shape"),
        nb::arg("kernel_size"), nb::arg("stride"), nb::arg("padding"), nb::arg("ceil_mode"),
        nb::arg("count_include_pad"), nb::arg("divisor_override").none());
}

}  // namespace pycnn
