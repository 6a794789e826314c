// sgd: one fused step of stochastic gradient descent for one parameter, as torch.optim.SGD
// (single-tensor path), in place:
//
//   g   = grad (negated when maximize) + weight_decay * p
//   buf = g on the first step, else momentum * buf + (1 - dampening) * g     (only when momentum != 0)
//   g   = g + momentum * buf when nesterov, else buf                        (only when momentum != 0)
//   p  -= lr * g
//
//   param p, grad, momentum_buffer buf: [numel] flat, all the same shape (buf null when momentum == 0)
//
// Accumulation contract: p and buf are overwritten in place (=); grad is read only. Weight decay,
// momentum and the update all happen in this one pass, so a step costs one read of each array.
#pragma once

#include <cstdint>

#include "pycnn/host_device.h"

namespace pycnn {

// The binding fills this from torch's hyper-parameters; derived scalars are computed there in double
// and rounded once, as torch does with its Python-float scalars.
struct SgdConfig {
  int64_t numel;
  float lr, momentum, one_minus_dampening, weight_decay;
  bool nesterov, maximize;
  // the momentum buffer is not set yet: it starts as g (torch clones the gradient)
  bool first_step;
};

// The update of element i, shared by the CPU loop and the CUDA kernel so both compute the same
// thing by construction. MOMENTUM (momentum != 0) is a template flag because it decides whether the
// buffer is touched at all; the other flags are value selects, so the CPU loop stays branch-free and
// vectorises.
template <bool MOMENTUM>
PYCNN_HOST_DEVICE inline void sgd_update_element(float* param, float* momentum_buffer,
                                                 const float* grad, int64_t i, SgdConfig c) {
  const float p = param[i], gi = grad[i];
  float g = c.maximize ? -gi : gi;
  if (c.weight_decay != 0.0f) g = g + c.weight_decay * p;
  if (MOMENTUM) {
    const float old = momentum_buffer[i];
    const float buf = c.first_step ? g : c.momentum * old + c.one_minus_dampening * g;
    momentum_buffer[i] = buf;
    g = c.nesterov ? g + c.momentum * buf : buf;
  }
  param[i] = p - c.lr * g;
}

namespace cpu {
// param[numel] , momentum_buffer[numel] (null when momentum == 0) updated in place from grad[numel]
void sgd_update(float* param, float* momentum_buffer, const float* grad, const SgdConfig& c);
}  // namespace cpu

namespace cuda {
void sgd_update(float* param, float* momentum_buffer, const float* grad, const SgdConfig& c);
}  // namespace cuda

}  // namespace pycnn
