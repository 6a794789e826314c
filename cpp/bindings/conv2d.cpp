// conv2d binding: argument and shape checks, device dispatch.
#include "pycnn/ops/conv2d.h"

#include "shape_rules.h"

namespace pycnn {

// The tensors' checks; the shape rule is shape_rules.h's, shared with _C.conv2d_output_shape.
static Conv2dShape conv2d_shape(const Tensor& x, const Tensor& w, const std::optional<Tensor>& b,
                                Pair stride, Pair padding, Pair dilation, int64_t groups) {
  require_float(x, "conv2d", "input");
  require_float(w, "conv2d", "weight");
  Conv2dShape s = conv2d_shape(x.shape(), w.shape(), stride, padding, dilation, groups);
  require_same_device(x, w, "conv2d", "input", "weight");
  if (b) {
    require_float(*b, "conv2d", "bias");
    require_shape(*b, {s.C_out}, "conv2d", "bias");
    require_same_device(x, *b, "conv2d", "input", "bias");
  }
  return s;
}

static Tensor conv2d_forward(const Tensor& x, const Tensor& w, const std::optional<Tensor>& b,
                             Pair stride, Pair padding, Pair dilation, int64_t groups) {
  Conv2dShape s = conv2d_shape(x, w, b, stride, padding, dilation, groups);
  Tensor y = Tensor::empty(conv2d_output_shape(s), DType::Float32, x.device());
  const float* bias = b ? b->f32() : nullptr;
  if (x.is_cuda())
    PYCNN_ON_CUDA("conv2d", cuda::conv2d_forward(y.f32(), x.f32(), w.f32(), bias, s));
  else PYCNN_ON_CPU(cpu::conv2d_forward(y.f32(), x.f32(), w.f32(), bias, s));
  return y;
}

// Returns (dx, dw, db); each is None unless asked for.
static std::tuple<std::optional<Tensor>, std::optional<Tensor>, std::optional<Tensor>>
conv2d_backward(const Tensor& dy, const Tensor& x, const Tensor& w, Pair stride, Pair padding,
                Pair dilation, int64_t groups, bool need_dx, bool need_dw, bool need_db,
                const std::optional<Tensor>& input_grad_add) {
  Conv2dShape s = conv2d_shape(x, w, std::nullopt, stride, padding, dilation, groups);
  require_float(dy, "conv2d backward", "grad_output");
  require_shape(dy, conv2d_output_shape(s), "conv2d backward", "grad_output");
  require_same_device(x, dy, "conv2d backward", "input", "grad_output");
  const float* add = nullptr;
  if (input_grad_add) {
    require_float(*input_grad_add, "conv2d backward", "input_grad_add");
    require_shape(*input_grad_add, x.shape(), "conv2d backward", "input_grad_add");
    require_same_device(x, *input_grad_add, "conv2d backward", "input", "input_grad_add");
    if (!need_dx)
      value_error(
          "conv2d backward: input_grad_add is added to the input gradient; expected "
          "need_input_grad=True with it, got False");
    if (x.is_cuda()) value_error("conv2d backward: input_grad_add is CPU only; got a CUDA tensor");
    add = input_grad_add->f32();
  }
  std::optional<Tensor> dx, dw, db;
  if (need_dx) dx = Tensor::empty(x.shape(), DType::Float32, x.device());
  if (need_dw) dw = Tensor::zeros(w.shape(), DType::Float32, x.device());
  if (need_db) db = Tensor::zeros({s.C_out}, DType::Float32, x.device());
  float* pdx = dx ? dx->f32() : nullptr;
  float* pdw = dw ? dw->f32() : nullptr;
  float* pdb = db ? db->f32() : nullptr;
  if (x.is_cuda())
    PYCNN_ON_CUDA("conv2d", cuda::conv2d_backward(pdx, pdw, pdb, dy.f32(), x.f32(), w.f32(), s));
  else PYCNN_ON_CPU(cpu::conv2d_backward(pdx, pdw, pdb, dy.f32(), x.f32(), w.f32(), s, add));
  return {dx, dw, db};
}

void bind_conv2d(nb::module_& m) {
  m.def("conv2d_forward", &conv2d_forward, nb::arg("input"), nb::arg("weight"),
        nb::arg("bias").none(), nb::arg("stride"), nb::arg("padding"), nb::arg("dilation"),
        nb::arg("groups"));
  m.def("conv2d_backward", &conv2d_backward, nb::arg("grad_output"), nb::arg("input"),
        nb::arg("weight"), nb::arg("stride"), nb::arg("padding"), nb::arg("dilation"),
        nb::arg("groups"), nb::arg("need_input_grad"), nb::arg("need_weight_grad"),
        nb::arg("need_bias_grad"), nb::arg("input_grad_add").none() = nb::none(),
        "input_grad_add (CPU): a gradient of the input from elsewhere, added into the input "
        "gradient in the same pass.");
}

}  // namespace pycnn
