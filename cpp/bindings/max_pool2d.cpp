// max_pool2d binding: argument and shape checks, device dispatch. Forward returns the argmax
// indices beside the output; backward takes them and the input's shape (not the input, which it
// never reads), so the tape keeps no activation alive for a pooling layer.
#include "pycnn/ops/max_pool2d.h"

#include "shape_rules.h"

namespace pycnn {

// Returns (output, indices).
static std::tuple<Tensor, Tensor> max_pool2d_forward(const Tensor& x, Pair kernel_size, Pair stride,
                                                     Pair padding, Pair dilation, bool ceil_mode) {
  require_float(x, "max_pool2d", "input");
  Pool2dShape s =
      pool2d_shape("max_pool2d", x.shape(), kernel_size, stride, padding, dilation, ceil_mode);
  const Shape out_shape = pool2d_output_shape(s);
  Tensor y = Tensor::empty(out_shape, DType::Float32, x.device());
  Tensor idx = Tensor::empty(out_shape, DType::Int64, x.device());
  if (x.is_cuda())
    PYCNN_ON_CUDA("max_pool2d", cuda::max_pool2d_forward(y.f32(), idx.i64(), x.f32(), s));
  else cpu::max_pool2d_forward(y.f32(), idx.i64(), x.f32(), s);
  return {y, idx};
}

static Tensor max_pool2d_backward(const Tensor& dy, const Tensor& idx, const Shape& input_shape,
                                  Pair kernel_size, Pair stride, Pair padding, Pair dilation,
                                  bool ceil_mode) {
  Pool2dShape s =
      pool2d_shape("max_pool2d", input_shape, kernel_size, stride, padding, dilation, ceil_mode);
  const Shape out_shape = pool2d_output_shape(s);
  require_float(dy, "max_pool2d backward", "grad_output");
  require_dtype(idx, DType::Int64, "max_pool2d backward", "indices");
  require_shape(dy, out_shape, "max_pool2d backward", "grad_output");
  require_shape(idx, out_shape, "max_pool2d backward", "indices");
  require_same_device(dy, idx, "max_pool2d backward", "grad_output", "indices");
  Tensor dx = Tensor::empty(input_shape, DType::Float32, dy.device());
  if (dy.is_cuda())
    PYCNN_ON_CUDA("max_pool2d", cuda::max_pool2d_backward(dx.f32(), dy.f32(), idx.i64(), s));
  else cpu::max_pool2d_backward(dx.f32(), dy.f32(), idx.i64(), s);
  return dx;
}

void bind_max_pool2d(nb::module_& m) {
  m.def("max_pool2d_forward", &max_pool2d_forward, nb::arg("input"), nb::arg("kernel_size"),
        nb::arg("stride"), nb::arg("padding"), nb::arg("dilation"), nb::arg("ceil_mode"));
  m.def("max_pool2d_backward", &max_pool2d_backward, nb::arg("grad_output"), nb::arg("indices"),
        nb::arg("input_shape"), nb::arg("kernel_size"), nb::arg("stride"), nb::arg("padding"),
        nb::arg("dilation"), nb::arg("ceil_mode"));
}

}  // namespace pycnn
