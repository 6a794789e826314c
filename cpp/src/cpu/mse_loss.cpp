// mse_loss on the CPU: flat vectorisable loops; the Mean/Sum reduction accumulates in double so a
// million-element loss keeps float precision. OpenMP for large n.
#include "pycnn/ops/mse_loss.h"

#include "pycnn/deterministic.h"

namespace pycnn::cpu {

void mse_loss_forward(float* loss, const float* x, const float* t, const MseLossShape& s) {
  const int64_t n = s.n;
  const bool big = n > (1 << 16);
  if (s.reduction == Reduction::None) {
#pragma omp parallel for simd if (big)
    for (int64_t i = 0; i < n; ++i) loss[i] = (x[i] - t[i]) * (x[i] - t[i]);
    return;
  }
  double acc = 0.0;
#pragma omp parallel for simd reduction(+ : acc) if (big && !deterministic())
  for (int64_t i = 0; i < n; ++i) {
    const double d = static_cast<double>(x[i]) - t[i];
    acc += d * d;
  }
  // Mean of no elements is 0/0 = NaN, as in PyTorch.
  loss[0] = static_cast<float>(s.reduction == Reduction::Mean ? acc / static_cast<double>(n) : acc);
}

void mse_loss_backward(float* dx, float* dt, const float* dloss, const float* x, const float* t,
                       const MseLossShape& s) {
  const int64_t n = s.n;
  const bool big = n > (1 << 16);
  if (s.reduction == Reduction::None) {
#pragma omp parallel for simd if (big)
    for (int64_t i = 0; i < n; ++i) {
      const float g = 2.0f * (x[i] - t[i]) * dloss[i];
      if (dx) dx[i] = g;
      if (dt) dt[i] = -g;
    }
    return;
  }
  const float divisor = s.reduction == Reduction::Mean ? static_cast<float>(n) : 1.0f;
  const float scale = 2.0f * (dloss[0] / divisor);
#pragma omp parallel for simd if (big)
  for (int64_t i = 0; i < n; ++i) {
    const float g = scale * (x[i] - t[i]);
    if (dx) dx[i] = g;
    if (dt) dt[i] = -g;
  }
}

}  // namespace pycnn::cpu
