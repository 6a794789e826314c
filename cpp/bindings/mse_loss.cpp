// mse_loss binding: dtype and exact-shape checks (no broadcasting), device dispatch.
#include "pycnn/ops/mse_loss.h"

#include "common.h"

namespace pycnn {

static MseLossShape mse_loss_shape(const Tensor& x, const Tensor& t, int64_t reduction,
                                   const char* op) {
  require_float(x, op, "input");
  require_float(t, op, "target");
  require_same_device(x, t, op, "input", "target");
  if (x.shape() != t.shape())
    value_error(op, ": expected input and target of the same shape, got input ",
                shape_str(x.shape()), " and target ", shape_str(t.shape()),
                " (pycnn does not broadcast a loss's operands)");
  if (reduction < 0 || reduction > 2)
    value_error(op, ": unknown reduction code ", reduction, " (0 none, 1 mean, 2 sum)");
  return {x.numel(), Reduction(reduction)};
}

static Tensor mse_loss_forward(const Tensor& x, const Tensor& t, int64_t reduction) {
  const MseLossShape s = mse_loss_shape(x, t, reduction, "mse_loss");
  Tensor loss = Tensor::empty(s.reduction == Reduction::None ? x.shape() : Shape{}, DType::Float32,
                              x.device());
  if (s.reduction == Reduction::None && s.n == 0) return loss;
  if (x.is_cuda())
    PYCNN_ON_CUDA("mse_loss", cuda::mse_loss_forward(loss.f32(), x.f32(), t.f32(), s));
  else cpu::mse_loss_forward(loss.f32(), x.f32(), t.f32(), s);
  return loss;
}

// Returns (dx, dt); each is None unless asked for.
static std::tuple<std::optional<Tensor>, std::optional<Tensor>> mse_loss_backward(
    const Tensor& dloss, const Tensor& x, const Tensor& t, int64_t reduction, bool need_dx,
    bool need_dt) {
  const MseLossShape s = mse_loss_shape(x, t, reduction, "mse_loss backward");
  require_float(dloss, "mse_loss backward", "grad_output");
  require_shape(dloss, s.reduction == Reduction::None ? x.shape() : Shape{}, "mse_loss backward",
                "grad_output");
  require_same_device(dloss, x, "mse_loss backward", "grad_output", "input");
  std::optional<Tensor> dx, dt;
  if (need_dx) dx = Tensor::empty(x.shape(), DType::Float32, x.device());
  if (need_dt) dt = Tensor::empty(x.shape(), DType::Float32, x.device());
  if (s.n == 0 || !(need_dx || need_dt)) return {dx, dt};
  float* pdx = dx ? dx->f32() : nullptr;
  float* pdt = dt ? dt->f32() : nullptr;
  if (x.is_cuda())
    PYCNN_ON_CUDA("mse_loss", cuda::mse_loss_backward(pdx, pdt, dloss.f32(), x.f32(), t.f32(), s));
  else cpu::mse_loss_backward(pdx, pdt, dloss.f32(), x.f32(), t.f32(), s);
  return {dx, dt};
}

void bind_mse_loss(nb::module_& m) {
  m.def("mse_loss_forward", &mse_loss_forward, nb::arg("input"), nb::arg("target"),
        nb::arg("reduction"), "reduction: 0 none, 1 mean, 2 sum.");
  m.def("mse_loss_backward", &mse_loss_backward, nb::arg("grad_output"), nb::arg("input"),
        nb::arg("target"), nb::arg("reduction"), nb::arg("need_input_grad"),
        nb::arg("need_target_grad"));
}

}  // namespace pycnn
