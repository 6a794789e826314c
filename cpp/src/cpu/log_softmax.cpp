// log_softmax on the CPU, x and y viewed as [outer, dim, inner] (softmax.h). Same two loop orders
// as softmax.cpp (contiguous rows when inner == 1, blocks of neighbouring positions otherwise);
// y = (x - max) - log(sum exp(x - max)) never takes the log of an underflowed probability.
#include "pycnn/ops/log_softmax.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace pycnn::cpu {

namespace {
constexpr int64_t kBlock = 256;
constexpr int64_t kParallelWork = 1 << 15;
}  // namespace

void log_softmax_forward(float* y, const float* x, const SoftmaxShape& s) {
  const int64_t D = s.dim, inner = s.inner;
  const bool big = s.outer * D * inner > kParallelWork;
  if (inner == 1) {
#pragma omp parallel for if (big)
    for (int64_t o = 0; o < s.outer; ++o) {
      const float* xr = x + o * D;
      float* yr = y + o * D;
      float m = -std::numeric_limits<float>::infinity();
#pragma omp simd reduction(max : m)
      for (int64_t d = 0; d < D; ++d) m = std::max(m, xr[d]);
      float sum = 0.0f;
      for (int64_t d = 0; d < D; ++d) sum += std::exp(xr[d] - m);
      const float lse = std::log(sum);
      // (x - m) - lse, not x - (m + lse): m + lse would round to the ulp of m (large for m ~ 100).
#pragma omp simd
      for (int64_t d = 0; d < D; ++d) yr[d] = (xr[d] - m) - lse;
    }
    return;
  }
  const int64_t blocks = (inner + kBlock - 1) / kBlock;
#pragma omp parallel for if (big)
  for (int64_t task = 0; task < s.outer * blocks; ++task) {
    const int64_t o = task / blocks, i0 = (task % blocks) * kBlock;
    const int64_t w = std::min(kBlock, inner - i0);
    const float* xb = x + o * D * inner + i0;
    float* yb = y + o * D * inner + i0;
    float m[kBlock], sum[kBlock];
    std::fill(m, m + w, -std::numeric_limits<float>::infinity());
    std::fill(sum, sum + w, 0.0f);
    for (int64_t d = 0; d < D; ++d) {
#pragma omp simd
      for (int64_t j = 0; j < w; ++j) m[j] = std::max(m[j], xb[d * inner + j]);
    }
    for (int64_t d = 0; d < D; ++d)
      for (int64_t j = 0; j < w; ++j) sum[j] += std::exp(xb[d * inner + j] - m[j]);
    for (int64_t j = 0; j < w; ++j) sum[j] = std::log(sum[j]);  // sum now holds lse
    for (int64_t d = 0; d < D; ++d) {
#pragma omp simd
      for (int64_t j = 0; j < w; ++j) yb[d * inner + j] = (xb[d * inner + j] - m[j]) - sum[j];
    }
  }
}

void log_softmax_backward(float* dx, const float* dy, const float* y, const SoftmaxShape& s) {
  const int64_t D = s.dim, inner = s.inner;
  const bool big = s.outer * D * inner > kParallelWork;
  if (inner == 1) {
#pragma omp parallel for if (big)
    for (int64_t o = 0; o < s.outer; ++o) {
      const float* yr = y + o * D;
      const float* dyr = dy + o * D;
      float* dxr = dx + o * D;
      float total = 0.0f;
#pragma omp simd reduction(+ : total)
      for (int64_t d = 0; d < D; ++d) total += dyr[d];
      for (int64_t d = 0; d < D; ++d) dxr[d] = dyr[d] - std::exp(yr[d]) * total;
    }
    return;
  }
  const int64_t blocks = (inner + kBlock - 1) / kBlock;
#pragma omp parallel for if (big)
  for (int64_t task = 0; task < s.outer * blocks; ++task) {
    const int64_t o = task / blocks, i0 = (task % blocks) * kBlock;
    const int64_t w = std::min(kBlock, inner - i0);
    const int64_t base = o * D * inner + i0;
    float total[kBlock];
    std::fill(total, total + w, 0.0f);
    for (int64_t d = 0; d < D; ++d) {
#pragma omp simd
      for (int64_t j = 0; j < w; ++j) total[j] += dy[base + d * inner + j];
    }
    for (int64_t d = 0; d < D; ++d) {
      const int64_t k = base + d * inner;
      for (int64_t j = 0; j < w; ++j) dx[k + j] = dy[k + j] - std::exp(y[k + j]) * total[j];
    }
  }
}

}  // namespace pycnn::cpu
