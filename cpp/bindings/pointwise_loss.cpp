// Pointwise loss binding (l1, smooth_l1, huber, binary_cross_entropy, with logits): dtype and
// exact-shape checks (no broadcasting: pos_weight comes broadcast to the input's shape), the loss's
// kind and parameter, device dispatch.
#include "pycnn/ops/pointwise_loss.h"

#include <cmath>

#include "common.h"

namespace pycnn {

static PointwiseLossShape pointwise_loss_shape(const Tensor& x, const Tensor& t,
                                               const std::optional<Tensor>& p, int64_t kind,
                                               double param, int64_t reduction, const char* op) {
  require_loss_operands(x, t, reduction, op);
  if (p) {
    require_float(*p, op, "pos_weight");
    require_same_device(x, *p, op, "input", "pos_weight");
    require_shape(*p, x.shape(), op, "pos_weight");
  }
  if (kind < 0 || kind > 4)
    value_error(op, ": unknown loss kind ", kind,
                " (0 l1, 1 smooth_l1, 2 huber, 3 binary_cross_entropy, 4 with logits)");
  if (p && kind != int64_t(PointwiseLoss::BinaryCrossEntropyWithLogits))
    value_error(op, ": pos_weight is binary_cross_entropy_with_logits' only");
  if (!(param >= 0.0) || !std::isfinite(param))
    value_error(op, ": expected a finite parameter (beta, delta) >= 0, got ", param);
  return {x.numel(), PointwiseLoss(kind), static_cast<float>(param), Reduction(reduction)};
}

static Tensor pointwise_loss_forward(const Tensor& x, const Tensor& t,
                                     const std::optional<Tensor>& p, int64_t kind, double param,
                                     int64_t reduction) {
  const PointwiseLossShape s =
      pointwise_loss_shape(x, t, p, kind, param, reduction, "pointwise_loss");
  Tensor loss = Tensor::empty(s.reduction == Reduction::None ? x.shape() : Shape{}, DType::Float32,
                              x.device());
  if (s.reduction == Reduction::None && s.n == 0) return loss;
  const float* pp = p ? p->f32() : nullptr;
  if (x.is_cuda())
    PYCNN_ON_CUDA("pointwise_loss",
                  cuda::pointwise_loss_forward(loss.f32(), x.f32(), t.f32(), pp, s));
  else cpu::pointwise_loss_forward(loss.f32(), x.f32(), t.f32(), pp, s);
  return loss;
}

// Returns (dx, dt); each is None unless asked for.
static std::tuple<std::optional<Tensor>, std::optional<Tensor>> pointwise_loss_backward(
    const Tensor& dloss, const Tensor& x, const Tensor& t, const std::optional<Tensor>& p,
    int64_t kind, double param, int64_t reduction, bool need_dx, bool need_dt) {
  const char* op = "pointwise_loss backward";
  const PointwiseLossShape s = pointwise_loss_shape(x, t, p, kind, param, reduction, op);
  auto [dx, dt] = loss_gradients(dloss, x, s.reduction == Reduction::None, need_dx, need_dt, op);
  if (s.n == 0 || !(need_dx || need_dt)) return {dx, dt};
  float* pdx = dx ? dx->f32() : nullptr;
  float* pdt = dt ? dt->f32() : nullptr;
  const float* pp = p ? p->f32() : nullptr;
  if (x.is_cuda())
    PYCNN_ON_CUDA("pointwise_loss",
                  cuda::pointwise_loss_backward(pdx, pdt, dloss.f32(), x.f32(), t.f32(), pp, s));
  else cpu::pointwise_loss_backward(pdx, pdt, dloss.f32(), x.f32(), t.f32(), pp, s);
  return {dx, dt};
}

void bind_pointwise_loss(nb::module_& m) {
  m.def("pointwise_loss_forward", &pointwise_loss_forward, nb::arg("input"), nb::arg("target"),
        nb::arg("pos_weight").none(), nb::arg("kind"), nb::arg("param"), nb::arg("reduction"),
        "kind: 0 l1, 1 smooth_l1 (param beta), 2 huber (param delta), 3 binary_cross_entropy, 4 "
        "binary_cross_entropy_with_logits (pos_weight: the input's shape, or None); reduction: 0 "
        "none, 1 mean, 2 sum.");
  m.def("pointwise_loss_backward", &pointwise_loss_backward, nb::arg("grad_output"),
        nb::arg("input"), nb::arg("target"), nb::arg("pos_weight").none(), nb::arg("kind"),
        nb::arg("param"), nb::arg("reduction"), nb::arg("need_input_grad"),
        nb::arg("need_target_grad"));
}

}  // namespace pycnn
