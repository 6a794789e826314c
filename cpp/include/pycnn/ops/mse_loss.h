// mse_loss: mean squared error between two tensors of the same shape, as
// torch.nn.functional.mse_loss (no broadcasting: the binding requires identical shapes).
//
//   input x, target t [n]  (flat)
//   output loss [n] (reduction None: (x - t)^2) or [1] (Mean: sum / n, Sum: sum)
//   backward dx = 2 * (x - t) * scale,  dt = -dx
//   with scale = dloss[i] (None), dloss[0] (Sum) or dloss[0] / n (Mean)
//
// Accumulation contract: dx and dt are overwritten (=); either may be null to skip it.
#pragma once

#include <cstdint>

#include "pycnn/ops/cross_entropy.h"  // Reduction

namespace pycnn {

struct MseLossShape {
  int64_t n;
  Reduction reduction = Reduction::Mean;
};

namespace cpu {
void mse_loss_forward(float* loss, const float* x, const float* t, const MseLossShape& s);
void mse_loss_backward(float* dx, float* dt, const float* dloss, const float* x, const float* t,
                       const MseLossShape& s);
}  // namespace cpu

namespace cuda {
void mse_loss_forward(float* loss, const float* x, const float* t, const MseLossShape& s);
void mse_loss_backward(float* dx, float* dt, const float* dloss, const float* x, const float* t,
                       const MseLossShape& s);
}  // namespace cuda

}  // namespace pycnn
