// rmsprop: one fused step of RMSprop for one parameter, as torch.optim.RMSprop (single-tensor path),
// in place:
//
//   g   = grad (negated when maximize) + weight_decay * p
//   sq  = alpha * sq + (1 - alpha) * g * g                     (square_avg)
//   centered:  ga = lerp(ga, g, 1 - alpha); avg = sqrt(sq - ga * ga) + eps    (grad_avg)
//   else:      avg = sqrt(sq) + eps
//   momentum > 0:  buf = momentum * buf + g / avg; p = p - lr * buf       (momentum_buffer)
//   else:          p = p - lr * (g / avg)
//
//   param p, grad, square_avg, grad_avg, momentum_buffer: [numel] flat, all the same shape
//   (grad_avg null unless centered, momentum_buffer null unless momentum > 0).
//
// Accumulation contract: p and the state buffers are overwritten in place (=); grad is read only.
#pragma once

#include <cmath>
#include <cstdint>

#include "pycnn/host_device.h"
#include "pycnn/ops/adam.h"  // lerp_torch

namespace pycnn {

struct RmspropConfig {
  int64_t numel;
  float lr, alpha, one_minus_alpha, eps, weight_decay, momentum;
  bool maximize;
};

// The update of element i, shared by the CPU loop and the CUDA kernel. CENTERED and MOMENTUM
// (momentum > 0) are template flags because they decide which buffers are touched.
template <bool CENTERED, bool MOMENTUM>
PYCNN_HOST_DEVICE inline void rmsprop_update_element(float* param, float* square_avg,
                                                     float* grad_avg, float* momentum_buffer,
                                                     const float* grad, int64_t i,
                                                     RmspropConfig c) {
  const float p = param[i], gi = grad[i];
  float g = c.maximize ? -gi : gi;
  if (c.weight_decay != 0.0f) g = g + c.weight_decay * p;
  const float sq = c.alpha * square_avg[i] + c.one_minus_alpha * g * g;
  square_avg[i] = sq;
  float avg;
  if (CENTERED) {
    const float ga = lerp_torch(grad_avg[i], g, c.one_minus_alpha);
    grad_avg[i] = ga;
    avg = sqrtf(sq - ga * ga) + c.eps;
  } else {
    avg = sqrtf(sq) + c.eps;
  }
  if (MOMENTUM) {
    const float buf = c.momentum * momentum_buffer[i] + g / avg;
    momentum_buffer[i] = buf;
    param[i] = p - c.lr * buf;
  } else {
    param[i] = p - c.lr * (g / avg);
  }
}

namespace cpu {
// param, square_avg, grad_avg (null unless centered), momentum_buffer (null unless momentum > 0)
// [numel] updated in place from grad[numel]
void rmsprop_update(float* param, float* square_avg, float* grad_avg, float* momentum_buffer,
                    const float* grad, const RmspropConfig& c);
}  // namespace cpu

namespace cuda {
void rmsprop_update(float* param, float* square_avg, float* grad_avg, float* momentum_buffer,
                    const float* grad, const RmspropConfig& c);
}  // namespace cuda

}  // namespace pycnn
