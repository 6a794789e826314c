// hardswish and hardsigmoid on the CPU: flat loops with selects (no branch the vectoriser cannot
// if-convert), cloned per instruction set, split over the cores by parallel_range for large tensors.
#include "pycnn/ops/hardswish.h"

#include "parallel.h"
#include "pycnn/vector_math.h"

namespace pycnn::cpu {

namespace {

PYCNN_VECTOR_CLONES void hardswish_range(float* y, const float* x, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i)
    y[i] = x[i] * detail::clamp_keep_nan(x[i] + 3.0f, 0.0f, 6.0f) / 6.0f;
}

PYCNN_VECTOR_CLONES void hardsigmoid_range(float* y, const float* x, float alpha, float beta,
                                           int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) y[i] = detail::clamp_keep_nan(x[i] * alpha + beta, 0.0f, 1.0f);
}

}  // namespace

void hardswish_forward(float* y, const float* x, int64_t n) {
  parallel_range(
      n, [=](int64_t begin, int64_t end) { hardswish_range(y + begin, x + begin, end - begin); });
}

void hardsigmoid_forward(float* y, const float* x, float alpha, float beta, int64_t n) {
  parallel_range(n, [=](int64_t begin, int64_t end) {
    hardsigmoid_range(y + begin, x + begin, alpha, beta, end - begin);
  });
}

}  // namespace pycnn::cpu
