// softmax binding: dtype and dim checks, device dispatch; the kernels see [outer, dim, inner].
#include "pycnn/ops/softmax.h"

#include "common.h"

namespace pycnn {

static Tensor softmax_forward(const Tensor& x, int64_t dim) {
  require_float(x, "softmax", "input");
  const SoftmaxShape s = SoftmaxShape::make(x.shape(), dim, "softmax");
  Tensor y = Tensor::empty(x.shape(), DType::Float32, x.device());
  if (x.numel() == 0) return y;
  if (x.is_cuda()) PYCNN_ON_CUDA("softmax", cuda::softmax_forward(y.f32(), x.f32(), s));
  else cpu::softmax_forward(y.f32(), x.f32(), s);
  return y;
}

// y: the forward's output.
static Tensor softmax_backward(const Tensor& dy, const Tensor& y, int64_t dim) {
  require_float(dy, "softmax backward", "grad_output");
  require_float(y, "softmax backward", "output");
  require_shape(dy, y.shape(), "softmax backward", "grad_output");
  require_same_device(dy, y, "softmax backward", "grad_output", "output");
  const SoftmaxShape s = SoftmaxShape::make(y.shape(), dim, "softmax backward");
  Tensor dx = Tensor::empty(y.shape(), DType::Float32, y.device());
  if (y.numel() == 0) return dx;
  if (y.is_cuda()) PYCNN_ON_CUDA("softmax", cuda::softmax_backward(dx.f32(), dy.f32(), y.f32(), s));
  else cpu::softmax_backward(dx.f32(), dy.f32(), y.f32(), s);
  return dx;
}

void bind_softmax(nb::module_& m) {
  m.def("softmax_forward", &softmax_forward, nb::arg("input"), nb::arg("dim"));
  m.def("softmax_backward", &softmax_backward, nb::arg("grad_output"), nb::arg("output"),
        nb::arg("dim"));
}

}  // namespace pycnn
