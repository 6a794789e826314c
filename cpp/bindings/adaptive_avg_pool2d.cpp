// adaptive_avg_pool2d binding: argument and shape checks, device dispatch. output_size arrives as a
// pair with Python's None entries already replaced by the input size. Backward takes the input's
// shape, not the input, which it never reads.
#include "pycnn/ops/adaptive_avg_pool2d.h"

#include "common.h"

namespace pycnn {

static AdaptivePool2dShape adaptive_avg_pool2d_shape(const Shape& input_shape, Pair output_size) {
  require_ndim(input_shape, 4, "adaptive_avg_pool2d", "input", "(N, C, H, W)");
  AdaptivePool2dShape s;
  s.N = input_shape[0], s.C = input_shape[1], s.H = input_shape[2], s.W = input_shape[3];
  std::tie(s.OH, s.OW) = output_size;
  s.validate();
  return s;
}

static Tensor adaptive_avg_pool2d_forward(const Tensor& x, Pair output_size) {
  require_float(x, "adaptive_avg_pool2d", "input");
  AdaptivePool2dShape s = adaptive_avg_pool2d_shape(x.shape(), output_size);
  Tensor y = Tensor::empty({s.N, s.C, s.OH, s.OW}, DType::Float32, x.device());
  if (x.is_cuda())
    PYCNN_ON_CUDA("adaptive_avg_pool2d", cuda::adaptive_avg_pool2d_forward(y.f32(), x.f32(), s));
  else cpu::adaptive_avg_pool2d_forward(y.f32(), x.f32(), s);
  return y;
}

static Tensor adaptive_avg_pool2d_backward(const Tensor& dy, const Shape& input_shape,
                                           Pair output_size) {
  AdaptivePool2dShape s = adaptive_avg_pool2d_shape(input_shape, output_size);
  require_float(dy, "adaptive_avg_pool2d backward", "grad_output");
  require_shape(dy, {s.N, s.C, s.OH, s.OW}, "adaptive_avg_pool2d backward", "grad_output");
  Tensor dx = Tensor::empty(input_shape, DType::Float32, dy.device());
  if (dy.is_cuda())
    PYCNN_ON_CUDA("adaptive_avg_pool2d", cuda::adaptive_avg_pool2d_backward(dx.f32(), dy.f32(), s));
  else cpu::adaptive_avg_pool2d_backward(dx.f32(), dy.f32(), s);
  return dx;
}

void bind_adaptive_avg_pool2d(nb::module_& m) {
  m.def("adaptive_avg_pool2d_forward", &adaptive_avg_pool2d_forward, nb::arg("input"),
        nb::arg("output_size"));
  m.def("adaptive_avg_pool2d_backward", &adaptive_avg_pool2d_backward, nb::arg("grad_output"),
        nb::arg("input_shape"), nb::arg("output_size"));
}

}  // namespace pycnn
