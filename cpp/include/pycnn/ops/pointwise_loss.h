// The pointwise losses: a loss per element of input x and target t of the same shape, reduced as
// torch's (None, Mean, Sum). Python: pycnn.nn.functional.l1_loss, smooth_l1_loss, huber_loss,
// binary_cross_entropy and binary_cross_entropy_with_logits (pycnn/nn/functional/loss.py); kernels
// cpp/src/cpu/pointwise_loss.cpp and cpp/src/cuda/pointwise_loss.cu; binding
// cpp/bindings/pointwise_loss.cpp; tests tests/test_pointwise_loss.py.
//
//   input x, target t [n] (flat), p [n] or null (BCE with logits' pos_weight, broadcast by the caller)
//   output loss [n] (reduction None) or [1] (Mean: sum / n, Sum: sum)
//   backward dx = dl/dx * scale, dt = dl/dt * scale, with scale = dloss[i] (None), dloss[0] (Sum) or
//   dloss[0] / n (Mean)
//
// With d = x - t and the loss's parameter a (SmoothL1's beta, Huber's delta):
//   L1          |d|                                            dl/dx = sign(d)
//   SmoothL1    |d| < a ? d^2 / (2a) : |d| - a / 2 (a = 0: L1)  dl/dx = |d| < a ? d / a : sign(d)
//   Huber       |d| <= a ? d^2 / 2 : a (|d| - a / 2)            dl/dx = clamp(d, -a, a)
//   and dl/dt = -dl/dx for these three;
//   BCE         -(t log x + (1 - t) log(1 - x)), each log at least -100 (x in [0, 1], checked by the
//               caller)                                         dl/dx = (x - t) / max(x (1 - x), 1e-12)
//                                                               dl/dt = log(1 - x) - log x
//   BCE with logits (p = 1 where null): (1 - t) x + (1 + (p - 1) t) s, s = log(1 + e^-x) computed as
//               log1p(e^-|x|) + max(-x, 0)                      dl/dx = sigmoid(x) (1 + (p - 1) t) - p t
//                                                               dl/dt = (p - 1) s - x
// as torch computes them (its clamps and epsilon included).
//
// Accumulation contract: dx and dt are overwritten (=); either may be null to skip it.
#pragma once

#include <cmath>
#include <cstdint>

#include "pycnn/host_device.h"
#include "pycnn/ops/cross_entropy.h"  // Reduction

namespace pycnn {

enum class PointwiseLoss : int {
  L1 = 0,
  SmoothL1 = 1,
  Huber = 2,
  BinaryCrossEntropy = 3,
  BinaryCrossEntropyWithLogits = 4,
};

struct PointwiseLossShape {
  int64_t n;
  PointwiseLoss kind = PointwiseLoss::L1;
  float param = 1.0f;  // SmoothL1's beta, Huber's delta
  Reduction reduction = Reduction::Mean;
};

// The loss of one element (p: pos_weight, 1 where there is none).
PYCNN_HOST_DEVICE inline float pointwise_loss_value(PointwiseLoss kind, float a, float x, float t,
                                                    float p) {
  const float d = x - t, ad = fabsf(d);
  switch (kind) {
    case PointwiseLoss::L1: return ad;
    case PointwiseLoss::SmoothL1: return a > 0.0f && ad < a ? 0.5f * d * d / a : ad - 0.5f * a;
    case PointwiseLoss::Huber: return ad <= a ? 0.5f * d * d : a * (ad - 0.5f * a);
    case PointwiseLoss::BinaryCrossEntropy: {
      const float lx = fmaxf(logf(x), -100.0f), l1x = fmaxf(log1pf(-x), -100.0f);
      return -(t * lx + (1.0f - t) * l1x);
    }
    default: {
      const float s = log1pf(expf(-fabsf(x))) + fmaxf(-x, 0.0f);
      return (1.0f - t) * x + (1.0f + (p - 1.0f) * t) * s;
    }
  }
}

// dl/dx and dl/dt of one element.
PYCNN_HOST_DEVICE inline void pointwise_loss_grads(PointwiseLoss kind, float a, float x, float t,
                                                   float p, float* gx, float* gt) {
  const float d = x - t, sign = d > 0.0f ? 1.0f : d < 0.0f ? -1.0f : 0.0f;
  switch (kind) {
    case PointwiseLoss::L1: *gx = sign, *gt = -sign; return;
    case PointwiseLoss::SmoothL1: {
      const float g = a > 0.0f && fabsf(d) < a ? d / a : sign;
      *gx = g, *gt = -g;
      return;
    }
    case PointwiseLoss::Huber: {
      const float g = d < -a ? -a : d > a ? a : d;
      *gx = g, *gt = -g;
      return;
    }
    case PointwiseLoss::BinaryCrossEntropy:
      *gx = (x - t) / fmaxf(x * (1.0f - x), 1e-12f);
      *gt = fmaxf(log1pf(-x), -100.0f) - fmaxf(logf(x), -100.0f);
      return;
    default: {
      const float s = log1pf(expf(-fabsf(x))) + fmaxf(-x, 0.0f);
      const float sig = 1.0f / (1.0f + expf(-x));
      *gx = sig * (1.0f + (p - 1.0f) * t) - p * t;
      *gt = (p - 1.0f) * s - x;
    }
  }
}

namespace cpu {
void pointwise_loss_forward(float* loss, const float* x, const float* t, const float* p,
                            const PointwiseLossShape& s);
void pointwise_loss_backward(float* dx, float* dt, const float* dloss, const float* x,
                             const float* t, const float* p, const PointwiseLossShape& s);
}  // namespace cpu

namespace cuda {
void pointwise_loss_forward(float* loss, const float* x, const float* t, const float* p,
                            const PointwiseLossShape& s);
void pointwise_loss_backward(float* dx, float* dt, const float* dloss, const float* x,
                             const float* t, const float* p, const PointwiseLossShape& s);
}  // namespace cuda

}  // namespace pycnn
