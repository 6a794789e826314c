// sgd binding: checks that param, grad and the momentum buffer agree (dtype, shape, device) and
// that the buffer is there exactly when momentum needs it, then one fused update on param's device.
#include "pycnn/ops/sgd.h"

#include "common.h"

namespace pycnn {

static void sgd_update(const Tensor& param, const Tensor& grad,
                       const std::optional<Tensor>& momentum_buffer, double lr, double momentum,
                       double dampening, double weight_decay, bool nesterov, bool maximize,
                       bool first_step) {
  require_float(param, "sgd", "param");
  require_like_param(grad, param, "sgd", "grad");
  if ((momentum != 0.0) != momentum_buffer.has_value())
    value_error("sgd: expected a momentum_buffer exactly when momentum != 0, got momentum=",
                momentum, momentum_buffer ? " with" : " without", " a buffer");
  if (momentum_buffer) require_like_param(*momentum_buffer, param, "sgd", "momentum_buffer");
  SgdConfig c;
  c.numel = param.numel();
  c.lr = static_cast<float>(lr);
  c.momentum = static_cast<float>(momentum);
  c.one_minus_dampening = static_cast<float>(1.0 - dampening);
  c.weight_decay = static_cast<float>(weight_decay);
  c.nesterov = nesterov;
  c.maximize = maximize;
  c.first_step = first_step;
  float* buf = momentum_buffer ? momentum_buffer->f32() : nullptr;
  if (param.is_cuda()) PYCNN_ON_CUDA("sgd", cuda::sgd_update(param.f32(), buf, grad.f32(), c));
  else cpu::sgd_update(param.f32(), buf, grad.f32(), c);
  param.bump_version();  // autograd then refuses a graph that saved the old values
  if (momentum_buffer) momentum_buffer->bump_version();
}

void bind_sgd(nb::module_& m) {
  m.def("sgd_update", &sgd_update, nb::arg("param"), nb::arg("grad"),
        nb::arg("momentum_buffer").none(), nb::arg("lr"), nb::arg("momentum"), nb::arg("dampening"),
        nb::arg("weight_decay"), nb::arg("nesterov"), nb::arg("maximize"), nb::arg("first_step"),
        "One torch.optim.SGD step of param in place (and of momentum_buffer, given exactly when "
        "momentum != 0; first_step makes it start as the gradient).");
}

}  // namespace pycnn
