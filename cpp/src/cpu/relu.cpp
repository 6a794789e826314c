// relu on the CPU: flat loops the compiler vectorises (a select, no branch); OpenMP splits them
// only when n is large enough to pay for waking the threads.
#include "pycnn/ops/relu.h"

namespace pycnn::cpu {

void relu_forward(float* y, const float* x, int64_t n) {
#pragma omp parallel for simd if (n > (1 << 16))
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] < 0.0f ? 0.0f : x[i];  // NaN stays NaN, as in PyTorch
}

void relu_backward(float* dx, const float* dy, const float* y, int64_t n) {
#pragma omp parallel for simd if (n > (1 << 16))
  for (int64_t i = 0; i < n; ++i) {
    const float g = dy[i];  // read unconditionally: a load only under the condition blocks SIMD
    dx[i] = y[i] > 0.0f ? g : 0.0f;
  }
}

}  // namespace pycnn::cpu
