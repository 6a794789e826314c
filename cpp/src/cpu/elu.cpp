// elu on the CPU: flat loops over expm1_vectorizable / exp_vectorizable (vector_math.h) with a
// branch-free select, cloned per instruction set; both sides of the select are computed (the exp is
// finite or -1 for every x), which is what lets the loop vectorise.
#include "pycnn/ops/elu.h"

#include "parallel.h"
#include "pycnn/vector_math.h"

namespace pycnn::cpu {

namespace {

// ~20 flops an element: worth a second core well below relu's memory-bound threshold.
constexpr int64_t kParallel = int64_t(1) << 15;

PYCNN_VECTOR_CLONES void elu_forward_range(float* y, const float* x, float alpha, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i)
    y[i] = detail::select(x[i] <= 0.0f, alpha * expm1_vectorizable(x[i]), x[i]);
}

PYCNN_VECTOR_CLONES void elu_backward_range(float* dx, const float* dy, const float* x, float alpha,
                                            int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i)
    dx[i] = detail::select(x[i] <= 0.0f, dy[i] * alpha * exp_vectorizable(x[i]), dy[i]);
}

}  // namespace

void elu_forward(float* y, const float* x, float alpha, int64_t n) {
  parallel_range(
      n,
      [=](int64_t begin, int64_t end) {
        elu_forward_range(y + begin, x + begin, alpha, end - begin);
      },
      kParallel);
}

void elu_backward(float* dx, const float* dy, const float* x, float alpha, int64_t n) {
  parallel_range(
      n,
      [=](int64_t begin, int64_t end) {
        elu_backward_range(dx + begin, dy + begin, x + begin, alpha, end - begin);
      },
      kParallel);
}

}  // namespace pycnn::cpu
