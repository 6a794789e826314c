// tanh on the CPU. The forward is bound by tanhf (a libm call per element), so OpenMP starts
// earlier than for the pure arithmetic of the backward, which vectorises.
#include "pycnn/ops/tanh.h"

#include <cmath>

#include "parallel.h"

namespace pycnn::cpu {

void tanh_forward(float* y, const float* x, int64_t n) {
#pragma omp parallel for if (n > (1 << 14))
  for (int64_t i = 0; i < n; ++i) y[i] = std::tanh(x[i]);
}

void tanh_backward(float* dx, const float* dy, const float* y, int64_t n) {
  parallel_range(  // its serial path vectorised too (see parallel.h)
      n, [=](int64_t begin, int64_t end) {
#pragma omp simd
        for (int64_t i = begin; i < end; ++i) dx[i] = dy[i] * (1.0f - y[i] * y[i]);
      });
}

}  // namespace pycnn::cpu
