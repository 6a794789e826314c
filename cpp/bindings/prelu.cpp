// prelu binding: weight checks as torch.nn.functional.prelu (a scalar or 1-d weight of one element
// or of input.size(1) elements), device dispatch.
#include "pycnn/ops/prelu.h"

#include "common.h"

namespace pycnn {

static PreluShape prelu_shape(const Tensor& x, const Tensor& w, const char* op) {
  require_float(x, op, "input");
  require_float(w, op, "weight");
  require_same_device(x, w, op, "input", "weight");
  if (w.ndim() > 1)
    value_error(op, ": expected weight to be a scalar or 1-d, got shape ", shape_str(w.shape()));
  if (w.numel() == 1) return {1, 1, x.numel()};  // one slope for every element
  const int64_t channels = x.ndim() >= 2 ? x.size(1) : 1;
  if (x.ndim() == 0 || w.numel() != channels)
    value_error(op, ": expected weight of 1 element or of input.size(1) = ", channels,
                " elements, got weight of shape ", shape_str(w.shape()), " for input of shape ",
                shape_str(x.shape()));
  // inner = prod(shape[2:]), computed directly: numel / (N * C) divides by zero for an empty batch.
  int64_t inner = 1;
  for (int k = 2; k < x.ndim(); ++k) inner *= x.size(k);
  return {x.size(0), channels, inner};
}

static Tensor prelu_forward(const Tensor& x, const Tensor& w) {
  const PreluShape s = prelu_shape(x, w, "prelu");
  Tensor y = Tensor::empty(x.shape(), DType::Float32, x.device());
  if (x.numel() == 0) return y;
  if (x.is_cuda()) PYCNN_ON_CUDA("prelu", cuda::prelu_forward(y.f32(), x.f32(), w.f32(), s));
  else cpu::prelu_forward(y.f32(), x.f32(), w.f32(), s);
  return y;
}

// Returns (dx, dw); each is None unless asked for. dw has the weight's shape.
static std::tuple<std::optional<Tensor>, std::optional<Tensor>> prelu_backward(
    const Tensor& dy, const Tensor& x, const Tensor& w, bool need_dx, bool need_dw) {
  const PreluShape s = prelu_shape(x, w, "prelu backward");
  require_float(dy, "prelu backward", "grad_output");
  require_shape(dy, x.shape(), "prelu backward", "grad_output");
  require_same_device(dy, x, "prelu backward", "grad_output", "input");
  std::optional<Tensor> dx, dw;
  if (need_dx) dx = Tensor::empty(x.shape(), DType::Float32, x.device());
  if (need_dw) dw = Tensor::zeros(w.shape(), DType::Float32, x.device());
  if (x.numel() == 0) return {dx, dw};
  float* pdx = dx ? dx->f32() : nullptr;
  float* pdw = dw ? dw->f32() : nullptr;
  if (x.is_cuda())
    PYCNN_ON_CUDA("prelu", cuda::prelu_backward(pdx, pdw, dy.f32(), x.f32(), w.f32(), s));
  else cpu::prelu_backward(pdx, pdw, dy.f32(), x.f32(), w.f32(), s);
  return {dx, dw};
}

void bind_prelu(nb::module_& m) {
  m.def("prelu_forward", &prelu_forward, nb::arg("input"), nb::arg("weight"));
  m.def("prelu_backward", &prelu_backward, nb::arg("grad_output"), nb::arg("input"),
        nb::arg("weight"), nb::arg("need_input_grad"), nb::arg("need_weight_grad"));
}

}  // namespace pycnn
