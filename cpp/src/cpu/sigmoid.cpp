// sigmoid on the CPU. The forward is 1 / (1 + e^-x) with the vectorisable exp (vector_math.h; libm's
// expf is a call per element without -ffast-math, which we do not use): e^-x overflows to +inf for
// x < -88.7 and the quotient to 0, and underflows to 0 for large x giving 1, so no branch is needed.
// It still costs ~20 flops an element, so OpenMP starts earlier than for the pure selects of relu;
// the forward is cloned per instruction set (baseline SSE2 took 2.8 ns an element, with AVX-512
// about 0.3), or runs on avx512::exp where the gemm runs AVX-512 (silu.cpp does the same); the
// backward is a vectorisable multiply.
#include "pycnn/ops/sigmoid.h"

#include "parallel.h"
#include "pycnn/vector_math.h"

namespace pycnn::cpu {

namespace {

PYCNN_VECTOR_CLONES void sigmoid_forward_range(float* y, const float* x, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) y[i] = 1.0f / (1.0f + exp_vectorizable(-x[i]));
}

}  // namespace

void sigmoid_forward(float* y, const float* x, int64_t n) {
  parallel_range(
      n,
      [=](int64_t begin, int64_t end) {
#ifdef PYCNN_AVX512_MATH
        if (avx512::on()) return avx512::logistic<false>(y + begin, x + begin, end - begin);
#endif
        sigmoid_forward_range(y + begin, x + begin, end - begin);
      },
      int64_t(1) << 14);
}

void sigmoid_backward(float* dx, const float* dy, const float* y, int64_t n) {
  parallel_range(n, [=](int64_t begin, int64_t end) {
#pragma omp simd
    for (int64_t i = begin; i < end; ++i) dx[i] = dy[i] * y[i] * (1.0f - y[i]);
  });
}

}  // namespace pycnn::cpu
