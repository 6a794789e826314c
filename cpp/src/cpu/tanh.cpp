// tanh on the CPU. The forward is bound by tanhf (a libm call per element), so OpenMP starts
// earlier than for the pure arithmetic of the backward, which vectorises.
#include "pycnn/ops/tanh.h"

#include <cmath>

namespace pycnn::cpu {

void tanh_forward(float* y, const float* x, int64_t n) {
#pragma omp parallel for if (n > (1 << 14))
  for (int64_t i = 0; i < n; ++i) y[i] = std::tanh(x[i]);
}

void tanh_backward(float* dx, const float* dy, const float* y, int64_t n) {
#pragma omp parallel for simd if (n > (1 << 16))
  for (int64_t i = 0; i < n; ++i) dx[i] = dy[i] * (1.0f - y[i] * y[i]);
}

}  // namespace pycnn::cpu
