// leaky_relu on the CPU: flat loops with a branch-free select, split over the cores by
// parallel_range when n is large (see relu.cpp).
#include "pycnn/ops/leaky_relu.h"

#include "parallel.h"
#include "pycnn/vector_math.h"

namespace pycnn::cpu {

void leaky_relu_forward(float* y, const float* x, float negative_slope, int64_t n) {
  parallel_range(n, [=](int64_t begin, int64_t end) {
#pragma omp simd
    for (int64_t i = begin; i < end; ++i)
      y[i] = detail::select(x[i] > 0.0f, x[i], negative_slope * x[i]);
  });
}

void leaky_relu_backward(float* dx, const float* dy, const float* x, float negative_slope,
                         int64_t n) {
  parallel_range(n, [=](int64_t begin, int64_t end) {
#pragma omp simd
    for (int64_t i = begin; i < end; ++i)
      dx[i] = detail::select(x[i] > 0.0f, dy[i], negative_slope * dy[i]);
  });
}

}  // namespace pycnn::cpu
