// silu on the CPU: flat loops over exp_vectorizable (vector_math.h), cloned per instruction set,
// or over its AVX-512 version (avx512::exp) where the gemm runs AVX-512; split over the cores by
// parallel_range once the exp makes the work worth it. The activation of EfficientNet's every
// expansion and depthwise layer (a convolution's gate, Conv2dGate::Silu): a fifth of its inference.
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

#ifdef PYCNN_AVX512_MATH
#pragma GCC push_options
#pragma GCC target("avx512f")
void silu_backward_avx512(float* dx, const float* dy, const float* x, int64_t n) {
  const __m512 one = _mm512_set1_ps(1.0f);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = avx512::lanes_below(n, i);
    const __m512 v = _mm512_maskz_loadu_ps(m, x + i), g = _mm512_maskz_loadu_ps(m, dy + i);
    const __m512 s =
        _mm512_div_ps(one, _mm512_add_ps(one, avx512::exp(_mm512_sub_ps(_mm512_setzero_ps(), v))));
    const __m512 d = _mm512_fmadd_ps(v, _mm512_sub_ps(one, s), one);  // 1 + x (1 - s)
    _mm512_mask_storeu_ps(dx + i, m, _mm512_mul_ps(_mm512_mul_ps(g, s), d));
  }
}
#pragma GCC pop_options
#endif

}  // namespace

void silu_forward(float* y, const float* x, int64_t n) {
  parallel_range(
      n,
      [=](int64_t begin, int64_t end) {
#ifdef PYCNN_AVX512_MATH
        if (avx512::on()) return avx512::logistic<true>(y + begin, x + begin, end - begin);
#endif
        silu_forward_range(y + begin, x + begin, end - begin);
      },
      kParallel);
}

void silu_backward(float* dx, const float* dy, const float* x, int64_t n) {
  parallel_range(
      n,
      [=](int64_t begin, int64_t end) {
#ifdef PYCNN_AVX512_MATH
        if (avx512::on())
          return silu_backward_avx512(dx + begin, dy + begin, x + begin, end - begin);
#endif
        silu_backward_range(dx + begin, dy + begin, x + begin, end - begin);
      },
      kParallel);
}

}  // namespace pycnn::cpu
