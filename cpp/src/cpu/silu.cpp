// silu on the CPU: flat loops over exp_vectorizable (vector_math.h), cloned per instruction set,
// split over the cores by parallel_range once the exp makes the work worth it.
#include "pycnn/ops/silu.h"

#include "parallel.h"
#include "pycnn/vector_math.h"

namespace pycnn::cpu {

namespace {

constexpr int64_t kParallel = int64_t(1) << 15;

PYCNN_VECTOR_CLONES void silu_forward_range(float* y, const float* x, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] / (1.0f + exp_vectorizable(-x[i]));
}

PYCNN_VECTOR_CLONES void silu_backward_range(float* dx, const float* dy, const float* x,
                                             int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    const float s = 1.0f / (1.0f + exp_vectorizable(-x[i]));
    dx[i] = dy[i] * s * (1.0f + x[i] * (1.0f - s));
  }
}

}  // namespace

void silu_forward(float* y, const float* x, int64_t n) {
  parallel_range(
      n, [=](int64_t begin, int64_t end) { silu_forward_range(y + begin, x + begin, end - begin); },
      kParallel);
}

void silu_backward(float* dx, const float* dy, const float* x, int64_t n) {
  parallel_range(
      n,
      [=](int64_t begin, int64_t end) {
        silu_backward_range(dx + begin, dy + begin, x + begin, end - begin);
      },
      kParallel);
}

}  // namespace pycnn::cpu
