// softplus on the CPU: flat loops over exp_vectorizable and log1p_unit_vectorizable
// (vector_math.h; log1p's argument e^-|beta x| is in [0, 1]), cloned per instruction set; both
// sides of the threshold select are computed, which is what lets the loop vectorise.
#include "pycnn/ops/softplus.h"

#include <cmath>

#include "parallel.h"
#include "pycnn/vector_math.h"

namespace pycnn::cpu {

namespace {

constexpr int64_t kParallel = int64_t(1) << 15;

PYCNN_VECTOR_CLONES void softplus_forward_range(float* y, const float* x, float beta,
                                                float threshold, int64_t n) {
  const float inv_beta = 1.0f / beta;
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    const float bx = beta * x[i];
    // A NaN bx makes the max 0 and the log1p NaN, so NaN comes out, as in torch.
    const float soft = (detail::select(bx > 0.0f, bx, 0.0f) +
                        log1p_unit_vectorizable(exp_vectorizable(-std::fabs(bx)))) *
                       inv_beta;
    y[i] = detail::select(bx > threshold, x[i], soft);
  }
}

PYCNN_VECTOR_CLONES void softplus_backward_range(float* dx, const float* dy, const float* x,
                                                 float beta, float threshold, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    const float bx = beta * x[i];
    dx[i] = detail::select(bx > threshold, dy[i], dy[i] / (1.0f + exp_vectorizable(-bx)));
  }
}

}  // namespace

void softplus_forward(float* y, const float* x, float beta, float threshold, int64_t n) {
  parallel_range(
      n,
      [=](int64_t begin, int64_t end) {
        softplus_forward_range(y + begin, x + begin, beta, threshold, end - begin);
      },
      kParallel);
}

void softplus_backward(float* dx, const float* dy, const float* x, float beta, float threshold,
                       int64_t n) {
  parallel_range(
      n,
      [=](int64_t begin, int64_t end) {
        softplus_backward_range(dx + begin, dy + begin, x + begin, beta, threshold, end - begin);
      },
      kParallel);
}

}  // namespace pycnn::cpu
