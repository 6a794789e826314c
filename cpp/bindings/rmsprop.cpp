// rmsprop binding: checks that param, grad and the state buffers agree (dtype, shape, device) and
// that grad_avg / momentum_buffer are there exactly when centered / momentum > 0 need them, then one
// fused update on param's device.
#include "pycnn/ops/rmsprop.h"

#include "common.h"

namespace pycnn {

static void rmsprop_update(const Tensor& param, const Tensor& grad, const Tensor& square_avg,
                           const std::optional<Tensor>& grad_avg,
                           const std::optional<Tensor>& momentum_buffer, double lr, double alpha,
                           double eps, double weight_decay, double momentum, bool centered,
                           bool maximize) {
  require_float(param, "rmsprop", "param");
  require_like_param(grad, param, "rmsprop", "grad");
  require_like_param(square_avg, param, "rmsprop", "square_avg");
  if (centered != grad_avg.has_value())
    value_error("rmsprop: expected grad_avg exactly when centered is set, got centered=",
                centered ? "True" : "False", grad_avg ? " with" : " without", " it");
  if (grad_avg) require_like_param(*grad_avg, param, "rmsprop", "grad_avg");
  if ((momentum > 0.0) != momentum_buffer.has_value())
    value_error("rmsprop: expected a momentum_buffer exactly when momentum > 0, got momentum=",
                momentum, momentum_buffer ? " with" : " without", " a buffer");
  if (momentum_buffer) require_like_param(*momentum_buffer, param, "rmsprop", "momentum_buffer");
  RmspropConfig c;
  c.numel = param.numel();
  c.lr = static_cast<float>(lr);
  c.alpha = static_cast<float>(alpha);
  c.one_minus_alpha = static_cast<float>(1.0 - alpha);
  c.eps = static_cast<float>(eps);
  c.weight_decay = static_cast<float>(weight_decay);
  c.momentum = static_cast<float>(momentum);
  c.maximize = maximize;
  float* ga = grad_avg ? grad_avg->f32() : nullptr;
  float* buf = momentum_buffer ? momentum_buffer->f32() : nullptr;
  if (param.is_cuda())
    PYCNN_ON_CUDA("rmsprop",
                  cuda::rmsprop_update(param.f32(), square_avg.f32(), ga, buf, grad.f32(), c));
  else cpu::rmsprop_update(param.f32(), square_avg.f32(), ga, buf, grad.f32(), c);
  param.bump_version();  // autograd then refuses a graph that saved the old values
  square_avg.bump_version();
  if (grad_avg) grad_avg->bump_version();
  if (momentum_buffer) momentum_buffer->bump_version();
}

void bind_rmsprop(nb::module_& m) {
  m.def("rmsprop_update", &rmsprop_update, nb::arg("param"), nb::arg("grad"), nb::arg("square_avg"),
        nb::arg("grad_avg").none(), nb::arg("momentum_buffer").none(), nb::arg("lr"),
        nb::arg("alpha"), nb::arg("eps"), nb::arg("weight_decay"), nb::arg("momentum"),
        nb::arg("centered"), nb::arg("maximize"),
        "One torch.optim.RMSprop step of param and its state in place (grad_avg given exactly "
        "when centered, momentum_buffer exactly when momentum > 0).");
}

}  // namespace pycnn
