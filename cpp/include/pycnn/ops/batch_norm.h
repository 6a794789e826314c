// batch_norm: per-channel normalisation, as torch.nn.functional.batch_norm.
//
//   input  x [N, C, inner]  ((N, C) has inner = 1; (N, C, H, W) has inner = H*W)
//   weight w [C], bias b [C] (each may be null: w = 1, b = 0)
//   running_mean, running_var [C] (may be null in training)
//   saved  mean [C], rstd [C]: the statistics the output was normalised with, kept for backward
//   output y [N, C, inner] = (x - mean[c]) * rstd[c] * w[c] + b[c]
//
// Training: mean and the biased variance var of each channel over its M = N*inner values (computed in
// double, two passes, so large means do not cancel); rstd = 1/sqrt(var + eps); the running
// statistics, when given, are updated in place with the UNBIASED variance, exactly as torch:
//   running_mean = (1 - momentum) * running_mean + momentum * mean
//   running_var  = (1 - momentum) * running_var  + momentum * var * M / (M - 1)
// Eval: mean = running_mean, rstd = 1/sqrt(running_var + eps); nothing is updated.
//
// Backward with xhat = (x - mean) * rstd:
//   db[c] += sum dy,  dw[c] += sum dy * xhat
//   training: dx = w * rstd / M * (M * dy - sum dy - xhat * sum(dy * xhat))  (through the statistics)
//   eval:     dx = w * rstd * dy                                           (the statistics are constants)
// Accumulation contract: dw += , db += ; dx = . Any of dx, dw, db may be null to skip it.
//
// relu (backward, CPU only): the gradient of relu(y) instead of y, for a ReLU applied in place to
// the forward's output (pycnn.nn.functional.relu with inplace=True fuses so). dy then counts only
// where y > 0, y recomputed from x, mean, rstd, w and b exactly as the forward computed it; the
// backward needs b for that.
#pragma once

#include <cstdint>

namespace pycnn {

struct BatchNormShape {
  int64_t N, C, inner;
  bool training = false;
  bool relu = false;  // backward: the gradient of relu(y) (see above)
  float momentum = 0.1f, eps = 1e-5f;
  int64_t count() const { return N * inner; }  // values per channel
};

namespace cpu {
// running_mean/running_var: updated in training (when non-null), read in eval.
void batch_norm_forward(float* y, float* mean, float* rstd, float* running_mean, float* running_var,
                        const float* x, const float* w, const float* b, const BatchNormShape& s);
void batch_norm_backward(float* dx, float* dw, float* db, const float* dy, const float* x,
                         const float* mean, const float* rstd, const float* w, const float* b,
                         const BatchNormShape& s);
}  // namespace cpu

namespace cuda {
void batch_norm_forward(float* y, float* mean, float* rstd, float* running_mean, float* running_var,
                        const float* x, const float* w, const float* b, const BatchNormShape& s);
void batch_norm_backward(float* dx, float* dw, float* db, const float* dy, const float* x,
                         const float* mean, const float* rstd, const float* w, const float* b,
                         const BatchNormShape& s);
}  // namespace cuda

}  // namespace pycnn
