// mse_loss binding: dtype and exact-shape checks (no broadcasting), device dispatch.
#include "pycnn/ops/mse_loss.h"

#include "common.h"

namespace pycnn {

static MseLossShape mse_loss_shape(const Tensor& x, const Tensor& t, int64_t reduction,
                                   const char* op) {
  require_loss_operands(x, t, reduction, op);
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
  auto [dx, dt] = loss_gradients(dloss, x, s.reduction == Reduction::None, need_dx, need_dt,
                                 "mse_loss backward");
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
