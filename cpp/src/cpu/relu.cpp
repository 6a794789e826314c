// relu on the CPU: flat loops with a branch-free select (detail::select: a float ?: compiles to a
// branch that mispredicts on real data and blocks SIMD), split over the cores by parallel_range
// when n is large enough to pay for waking them.
#include "pycnn/ops/relu.h"

#include "parallel.h"
#include "pycnn/vector_math.h"

namespace pycnn::cpu {

void relu_forward(float* y, const float* x, int64_t n) {
  parallel_range(n, [=](int64_t begin, int64_t end) {
#pragma omp simd
    // NaN stays NaN
    for (int64_t i = begin; i < end; ++i) y[i] = detail::select(x[i] < 0.0f, 0.0f, x[i]);
  });
}

void relu_backward(float* dx, const float* dy, const float* y, int64_t n) {
  parallel_range(n, [=](int64_t begin, int64_t end) {
#pragma omp simd
    for (int64_t i = begin; i < end; ++i) dx[i] = detail::select(y[i] <= 0.0f, 0.0f, dy[i]);
  });
}

}  // namespace pycnn::cpu
