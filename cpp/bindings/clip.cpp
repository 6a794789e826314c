// clip binding: dtype and shape checks, device dispatch. Any shape: the kernels see flat arrays.
// A missing bound arrives as -inf / +inf (float(inf) stays inf).
#include "pycnn/ops/clip.h"

#include "common.h"

namespace pycnn {

static Tensor clip_forward(const Tensor& x, double lo, double hi) {
  require_float(x, "clip", "input");
  Tensor y = Tensor::empty(x.shape(), DType::Float32, x.device());
  if (x.numel() == 0) return y;
  if (x.is_cuda())
    PYCNN_ON_CUDA("clip", cuda::clip_forward(y.f32(), x.f32(), float(lo), float(hi), x.numel()));
  else cpu::clip_forward(y.f32(), x.f32(), float(lo), float(hi), x.numel());
  return y;
}

// x: the forward's input.
static Tensor clip_backward(const Tensor& dy, const Tensor& x, double lo, double hi) {
  require_float(dy, "clip backward", "grad_output");
  require_float(x, "clip backward", "input");
  require_shape(dy, x.shape(), "clip backward", "grad_output");
  require_same_device(dy, x, "clip backward", "grad_output", "input");
  Tensor dx = Tensor::empty(x.shape(), DType::Float32, x.device());
  if (dy.numel() == 0) return dx;
  if (dy.is_cuda())
    PYCNN_ON_CUDA("clip", cuda::clip_backward(dx.f32(), dy.f32(), x.f32(), float(lo), float(hi),
                                              dy.numel()));
  else cpu::clip_backward(dx.f32(), dy.f32(), x.f32(), float(lo), float(hi), dy.numel());
  return dx;
}

void bind_clip(nb::module_& m) {
  m.def("clip_forward", &clip_forward, nb::arg("input"), nb::arg("min"), nb::arg("max"));
  m.def("clip_backward", &clip_backward, nb::arg("grad_output"), nb::arg("input"), nb::arg("min"),
        nb::arg("max"));
}

}  // namespace pycnn
