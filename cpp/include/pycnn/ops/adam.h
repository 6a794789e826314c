// adam: one fused step of Adam (or AdamW, decoupled weight decay) for one parameter, as
// torch.optim.Adam / AdamW (single-tensor path), in place:
//
//   g    = grad (negated when maximize)
//   Adam:  g = g + weight_decay * p          AdamW:  p = p * (1 - lr * weight_decay)
//   m    = lerp(m, g, 1 - beta1)                  (exp_avg)
//   v    = beta2 * v + (1 - beta2) * g * g        (exp_avg_sq)
//   vmax = max(vmax, v); use vmax for v below    (only when amsgrad)
//   denom = sqrt(v) / sqrt(1 - beta2^step) + eps
//   p    = p - (lr / (1 - beta1^step)) * m / denom
//
//   param p, grad, exp_avg m, exp_avg_sq v, max_exp_avg_sq vmax: [numel] flat, all the same shape
//   (vmax null unless amsgrad). `step` counts this parameter's updates, this one included (>= 1).
//
// Accumulation contract: p, m, v, vmax are overwritten in place (=); grad is read only.
#pragma once

#include <cmath>
#include <cstdint>

#include "pycnn/host_device.h"

namespace pycnn {

// Filled by the binding; the bias corrections and other derived scalars are computed there in double
// from the step count and rounded once to float, as torch does with its Python-float scalars.
struct AdamConfig {
  int64_t numel;
  float beta1_weight;  // 1 - beta1: the lerp weight of the first moment
  float beta2, one_minus_beta2;
  float eps;
  float weight_decay;           // coupled (Adam) weight decay; 0 for AdamW
  float decay_factor;           // AdamW: 1 - lr * weight_decay; 1 for Adam
  float step_size;              // lr / (1 - beta1^step)
  float bias_correction2_sqrt;  // sqrt(1 - beta2^step)
  bool maximize;
};

// torch's lerp: the two formulas keep the result exact at weight 0 and weight 1.
PYCNN_HOST_DEVICE inline float lerp_torch(float self, float end, float weight) {
  return weight < 0.5f ? self + weight * (end - self) : end - (end - self) * (1.0f - weight);
}

// The update of element i, shared by the CPU loop and the CUDA kernel. AMSGRAD is a template flag
// because it decides whether max_exp_avg_sq is touched; the other choices are value selects.
template <bool AMSGRAD>
PYCNN_HOST_DEVICE inline void adam_update_element(float* param, float* exp_avg, float* exp_avg_sq,
                                                  float* max_exp_avg_sq, const float* grad,
                                                  int64_t i, AdamConfig c) {
  const float gi = grad[i];
  float p = param[i];
  float g = c.maximize ? -gi : gi;
  if (c.weight_decay != 0.0f) g = g + c.weight_decay * p;
  p = p * c.decay_factor;
  const float m = lerp_torch(exp_avg[i], g, c.beta1_weight);
  float v = c.beta2 * exp_avg_sq[i] + c.one_minus_beta2 * g * g;
  exp_avg[i] = m;
  exp_avg_sq[i] = v;
  if (AMSGRAD) {
    // torch.maximum: a NaN on either side wins (fmaxf would drop it, and does not vectorise).
    const float old = max_exp_avg_sq[i];
    v = (old > v || old != old) ? old : v;
    max_exp_avg_sq[i] = v;
  }
  const float denom = sqrtf(v) / c.bias_correction2_sqrt + c.eps;
  param[i] = p - c.step_size * (m / denom);
}

namespace cpu {
// param, exp_avg, exp_avg_sq, max_exp_avg_sq (null unless amsgrad) [numel] updated in place
void adam_update(float* param, float* exp_avg, float* exp_avg_sq, float* max_exp_avg_sq,
                 const float* grad, const AdamConfig& c);
}  // namespace cpu

namespace cuda {
void adam_update(float* param, float* exp_avg, float* exp_avg_sq, float* max_exp_avg_sq,
                 const float* grad, const AdamConfig& c);
}  // namespace cuda

}  // namespace pycnn
