// sigmoid on the CPU. The forward is bound by expf (a libm call per element without -ffast-math,
// which we do not use), so OpenMP starts earlier than for the pure selects of relu; the backward is
// a vectorisable multiply.
#include "pycnn/ops/sigmoid.h"

#include <cmath>

namespace pycnn::cpu {

void sigmoid_forward(float* y, const float* x, int64_t n) {
#pragma omp parallel for if (n > (1 << 14))
  for (int64_t i = 0; i < n; ++i) y[i] = 1.0f / (1.0f + std::exp(-x[i]));
}

void sigmoid_backward(float* dx, const float* dy, const float* y, int64_t n) {
#pragma omp parallel for simd if (n > (1 << 16))
  for (int64_t i = 0; i < n; ++i) dx[i] = dy[i] * y[i] * (1.0f - y[i]);
}

}  // namespace pycnn::cpu
