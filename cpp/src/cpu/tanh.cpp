// tanh on the CPU: flat loops over tanh_vectorizable (vector_math.h), cloned per instruction set
// (std::tanh was a libm call per element: 20 ns an element against about 0.3), split over the cores
// by parallel_range once the exp makes the work worth it; the backward is a vectorisable multiply.
#include "pycnn/ops/tanh.h"

#include "parallel.h"
#include "pycnn/vector_math.h"

namespace pycnn::cpu {

namespace {

PYCNN_VECTOR_CLONES void tanh_forward_range(float* y, const float* x, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) y[i] = tanh_vectorizable(x[i]);
}

}  // namespace

void tanh_forward(float* y, const float* x, int64_t n) {
  parallel_range(
      n, [=](int64_t begin, int64_t end) { tanh_forward_range(y + begin, x + begin, end - begin); },
      int64_t(1) << 15);
}

void tanh_backward(float* dx, const float* dy, const float* y, int64_t n) {
  parallel_range(  // its serial path vectorised too (see parallel.h)
      n, [=](int64_t begin, int64_t end) {
#pragma omp simd
        for (int64_t i = begin; i < end; ++i) dx[i] = dy[i] * (1.0f - y[i] * y[i]);
      });
}

}  // namespace pycnn::cpu
