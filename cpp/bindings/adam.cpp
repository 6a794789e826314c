// adam binding: checks that param, grad and the moment buffers agree (dtype, shape, device), that
// max_exp_avg_sq is there exactly with amsgrad and that step >= 1, computes torch's bias
// corrections in double, then one fused update on param's device.
#include "pycnn/ops/adam.h"

#include <cmath>

#include "common.h"

namespace pycnn {

static void adam_update(const Tensor& param, const Tensor& grad, const Tensor& exp_avg,
                        const Tensor& exp_avg_sq, const std::optional<Tensor>& max_exp_avg_sq,
                        int64_t step, double lr, double beta1, double beta2, double eps,
                        double weight_decay, bool amsgrad, bool maximize,
                        bool decoupled_weight_decay) {
  require_float(param, "adam", "param");
  require_like_param(grad, param, "adam", "grad");
  require_like_param(exp_avg, param, "adam", "exp_avg");
  require_like_param(exp_avg_sq, param, "adam", "exp_avg_sq");
  if (amsgrad != max_exp_avg_sq.has_value())
    value_error("adam: expected max_exp_avg_sq exactly when amsgrad is set, got amsgrad=",
                amsgrad ? "True" : "False", max_exp_avg_sq ? " with" : " without", " it");
  if (max_exp_avg_sq) require_like_param(*max_exp_avg_sq, param, "adam", "max_exp_avg_sq");
  if (step < 1)
    value_error("adam: expected step >= 1 (the count of updates including this one), got ", step);
  // As torch: Python-float scalars, each rounded to float32 once where the tensor op uses it.
  const double bias_correction1 = 1.0 - std::pow(beta1, static_cast<double>(step));
  const double bias_correction2 = 1.0 - std::pow(beta2, static_cast<double>(step));
  AdamConfig c;
  c.numel = param.numel();
  c.beta1_weight = static_cast<float>(1.0 - beta1);
  c.beta2 = static_cast<float>(beta2);
  c.one_minus_beta2 = static_cast<float>(1.0 - beta2);
  c.eps = static_cast<float>(eps);
  c.weight_decay = decoupled_weight_decay ? 0.0f : static_cast<float>(weight_decay);
  c.decay_factor = decoupled_weight_decay ? static_cast<float>(1.0 - lr * weight_decay) : 1.0f;
  c.step_size = static_cast<float>(lr / bias_correction1);
  c.bias_correction2_sqrt = static_cast<float>(std::sqrt(bias_correction2));
  c.maximize = maximize;
  float* vmax = max_exp_avg_sq ? max_exp_avg_sq->f32() : nullptr;
  if (param.is_cuda())
    PYCNN_ON_CUDA("adam", cuda::adam_update(param.f32(), exp_avg.f32(), exp_avg_sq.f32(), vmax,
                                            grad.f32(), c));
  else cpu::adam_update(param.f32(), exp_avg.f32(), exp_avg_sq.f32(), vmax, grad.f32(), c);
  param.bump_version();  // autograd then refuses a graph that saved the old values
  exp_avg.bump_version();
  exp_avg_sq.bump_version();
  if (max_exp_avg_sq) max_exp_avg_sq->bump_version();
}

void bind_adam(nb::module_& m) {
  m.def("adam_update", &adam_update, nb::arg("param"), nb::arg("grad"), nb::arg("exp_avg"),
        nb::arg("exp_avg_sq"), nb::arg("max_exp_avg_sq").none(), nb::arg("step"), nb::arg("lr"),
        nb::arg("beta1"), nb::arg("beta2"), nb::arg("eps"), nb::arg("weight_decay"),
        nb::arg("amsgrad"), nb::arg("maximize"), nb::arg("decoupled_weight_decay"),
        "One torch.optim.Adam step (AdamW with decoupled_weight_decay) of param and its moments "
        "in place; step counts this parameter's updates including this one.");
}

}  // namespace pycnn
