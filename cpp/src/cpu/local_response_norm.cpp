// local_response_norm on the CPU (see pycnn/ops/local_response_norm.h for the formulas).
//
// Layout x[N, C, inner]: the window runs across channel rows of `inner` contiguous floats, so every
// inner loop below is a plain vectorisable loop over a row; threads take (n, c) rows.
#include "pycnn/ops/local_response_norm.h"

#include <algorithm>
#include <cmath>

namespace pycnn::cpu {

namespace {
constexpr int64_t kParallelWork = 1 << 14;
}

void local_response_norm_forward(float* y, float* scale, const float* x,
                                 const LocalResponseNormShape& s) {
  const int64_t N = s.N, C = s.C, inner = s.inner;
  const float coef = s.alpha / static_cast<float>(s.size);
#pragma omp parallel for if (N * C * inner * std::min<int64_t>(s.size, C) >= kParallelWork)
  for (int64_t row = 0; row < N * C; ++row) {
    const int64_t n = row / C, c = row % C;
    const int64_t lo = std::max<int64_t>(0, c - s.before),
                  hi = std::min<int64_t>(C - 1, c + s.after());
    float* sr = scale + row * inner;
    for (int64_t i = 0; i < inner; ++i) sr[i] = 0.0f;
    for (int64_t j = lo; j <= hi; ++j) {
      const float* xj = x + (n * C + j) * inner;
      for (int64_t i = 0; i < inner; ++i) sr[i] += xj[i] * xj[i];
    }
    const float* xr = x + row * inner;
    float* yr = y + row * inner;
    for (int64_t i = 0; i < inner; ++i) {
      sr[i] = s.k + coef * sr[i];
      yr[i] = xr[i] * std::pow(sr[i], -s.beta);
    }
  }
}

void local_response_norm_backward(float* dx, float* work, const float* dy, const float* x,
                                  const float* scale, const LocalResponseNormShape& s) {
  const int64_t N = s.N, C = s.C, inner = s.inner;
  const bool parallel = N * C * inner * std::min<int64_t>(s.size, C) >= kParallelWork;
  // Pass 1: the direct term dy * s^-beta into dx, and work = dy * x * s^(-beta-1); one pow each.
#pragma omp parallel for if (parallel)
  for (int64_t row = 0; row < N * C; ++row) {
    const float* dyr = dy + row * inner;
    const float* xr = x + row * inner;
    const float* sr = scale + row * inner;
    float* dxr = dx + row * inner;
    float* wr = work + row * inner;
    for (int64_t i = 0; i < inner; ++i) {
      const float p = std::pow(sr[i], -s.beta);
      dxr[i] = dyr[i] * p;
      wr[i] = dyr[i] * xr[i] * p / sr[i];
    }
  }
  // Pass 2: every output channel c whose window holds j sends its share back to x[j].
  const float coef = 2.0f * s.alpha * s.beta / static_cast<float>(s.size);
#pragma omp parallel for if (parallel)
  for (int64_t row = 0; row < N * C; ++row) {
    const int64_t n = row / C, j = row % C;
    const int64_t lo = std::max<int64_t>(0, j - s.after()),
                  hi = std::min<int64_t>(C - 1, j + s.before);
    const float* xr = x + row * inner;
    float* dxr = dx + row * inner;
    for (int64_t c = lo; c <= hi; ++c) {
      const float* wc = work + (n * C + c) * inner;
      for (int64_t i = 0; i < inner; ++i) dxr[i] -= coef * xr[i] * wc[i];
    }
  }
}

}  // namespace pycnn::cpu
