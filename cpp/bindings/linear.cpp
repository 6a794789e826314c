// linear binding: argument and shape checks, device dispatch. Inputs of shape (*, in) are flattened
// to (N, in) like torch.nn.functional.linear.
#include "pycnn/ops/linear.h"

#include "common.h"

namespace pycnn {

static LinearShape linear_shape(const Tensor& x, const Tensor& w, const std::optional<Tensor>& b) {
  require_float(x, "linear", "input");
  require_float(w, "linear", "weight");
  require_ndim(w, 2, "linear", "weight", "(out_features, in_features)");
  require_same_device(x, w, "linear", "input", "weight");
  if (x.ndim() < 1 || x.size(-1) != w.size(1))
    value_error("linear: expected input with last dimension in_features=", w.size(1), " (weight ",
                shape_str(w.shape()), "), got input of shape ", shape_str(x.shape()));
  if (b) {
    require_float(*b, "linear", "bias");
    require_shape(*b, {w.size(0)}, "linear", "bias");
    require_same_device(x, *b, "linear", "input", "bias");
  }
  // N = prod(shape[:-1]), computed directly: numel / in_features divides by zero when in is 0.
  int64_t n = 1;
  for (int k = 0; k + 1 < x.ndim(); ++k) n *= x.size(k);
  return {n, w.size(1), w.size(0)};
}

static Tensor linear_forward(const Tensor& x, const Tensor& w, const std::optional<Tensor>& b) {
  LinearShape s = linear_shape(x, w, b);
  Shape out_shape = x.shape();
  out_shape.back() = s.out_features;
  Tensor y = Tensor::empty(out_shape, DType::Float32, x.device());
  const float* bias = b ? b->f32() : nullptr;
  if (x.is_cuda())
    PYCNN_ON_CUDA("linear", cuda::linear_forward(y.f32(), x.f32(), w.f32(), bias, s));
  else PYCNN_ON_CPU(cpu::linear_forward(y.f32(), x.f32(), w.f32(), bias, s));
  return y;
}

static std::tuple<std::optional<Tensor>, std::optional<Tensor>, std::optional<Tensor>>
linear_backward(const Tensor& dy, const Tensor& x, const Tensor& w, bool need_dx, bool need_dw,
                bool need_db) {
  LinearShape s = linear_shape(x, w, std::nullopt);
  require_float(dy, "linear backward", "grad_output");
  Shape out_shape = x.shape();
  out_shape.back() = s.out_features;
  require_shape(dy, out_shape, "linear backward", "grad_output");
  require_same_device(x, dy, "linear backward", "input", "grad_output");
  std::optional<Tensor> dx, dw, db;
  if (need_dx) dx = Tensor::empty(x.shape(), DType::Float32, x.device());
  // The CPU kernel stores dw (see cpu::linear_backward); the CUDA one accumulates onto zeros.
  if (need_dw)
    dw = x.is_cuda() ? Tensor::zeros(w.shape(), DType::Float32, x.device())
                     : Tensor::empty(w.shape(), DType::Float32, x.device());
  if (need_db) db = Tensor::zeros({s.out_features}, DType::Float32, x.device());
  float* pdx = dx ? dx->f32() : nullptr;
  float* pdw = dw ? dw->f32() : nullptr;
  float* pdb = db ? db->f32() : nullptr;
  if (x.is_cuda())
    PYCNN_ON_CUDA("linear", cuda::linear_backward(pdx, pdw, pdb, dy.f32(), x.f32(), w.f32(), s));
  else PYCNN_ON_CPU(cpu::linear_backward(pdx, pdw, pdb, dy.f32(), x.f32(), w.f32(), s));
  return {dx, dw, db};
}

void bind_linear(nb::module_& m) {
  m.def("linear_forward", &linear_forward, nb::arg("input"), nb::arg("weight"),
        nb::arg("bias").none());
  m.def("linear_backward", &linear_backward, nb::arg("grad_output"), nb::arg("input"),
        nb::arg("weight"), nb::arg("need_input_grad"), nb::arg("need_weight_grad"),
        nb::arg("need_bias_grad"));
}

}  // namespace pycnn
