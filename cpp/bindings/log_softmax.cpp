// log_softmax binding: dtype and dim checks, device dispatch; the kernels see [outer, dim, inner].
#include "pycnn/ops/log_softmax.h"

#include "common.h"

namespace pycnn {

static Tensor log_softmax_forward(const Tensor& x, int64_t dim) {
  require_float(x, "log_softmax", "input");
  const SoftmaxShape s = SoftmaxShape::make(x.shape(), dim, "log_softmax");
  Tensor y = Tensor::empty(x.shape(), DType::Float32, x.device());
  if (x.numel() == 0) return y;
  if (x.is_cuda()) PYCNN_ON_CUDA("log_softmax", cuda::log_softmax_forward(y.f32(), x.f32(), s));
  else cpu::log_softmax_forward(y.f32(), x.f32(), s);
  return y;
}

// y: the forward's output.
static Tensor log_softmax_backward(const Tensor& dy, const Tensor& y, int64_t dim) {
  require_float(dy, "log_softmax backward", "grad_output");
  require_float(y, "log_softmax backward", "output");
  require_shape(dy, y.shape(), "log_softmax backward", "grad_output");
  require_same_device(dy, y, "log_softmax backward", "grad_output", "output");
  const SoftmaxShape s = SoftmaxShape::make(y.shape(), dim, "log_softmax backward");
  Tensor dx = Tensor::empty(y.shape(), DType::Float32, y.device());
  if (y.numel() == 0) return dx;
  if (y.is_cuda())
    PYCNN_ON_CUDA("log_softmax", cuda::log_softmax_backward(dx.f32(), dy.f32(), y.f32(), s));
  else cpu::log_softmax_backward(dx.f32(), dy.f32(), y.f32(), s);
  return dx;
}

void bind_log_softmax(nb::module_& m) {
  m.def("log_softmax_forward", &log_softmax_forward, nb::arg("input"), nb::arg("dim"));
  m.def("log_softmax_backward", &log_softmax_backward, nb::arg("grad_output"), nb::arg("output"),
        nb::arg("dim"));
}

}  // namespace pycnn
