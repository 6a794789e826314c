// softmax and log_softmax on the CPU, x and y viewed as [outer, dim, inner] (softmax.h,
// log_softmax.h): one kernel for both, LOG picking the lines that differ.
//
// Two loop orders, both vectorisable on contiguous memory:
//  - inner == 1 (the last dimension, (N, C) logits): one contiguous row of `dim` floats per outer
//    index; OpenMP splits the rows.
//  - inner > 1 (e.g. dim 1 of (N, C, H, W)): the `dim` values of one position are `inner` apart, so
//    a block of up to kBlock neighbouring positions is reduced together, the innermost loop running
//    along memory; the per-position max and sum live in small stack arrays. OpenMP splits
//    (outer, block) tasks, so a batch of one still uses every core.
// Three passes (max, exp and sum, scale) keep exp's argument <= 0: no overflow for large logits;
// log_softmax's y = (x - max) - log(sum exp(x - max)) never takes the log of an underflowed
// probability. exp is exp_vectorizable (vector_math.h), so every pass is a packed simd loop.
#include "pycnn/ops/softmax.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "pycnn/check.h"
#include "pycnn/tensor.h"
#include "pycnn/vector_math.h"

namespace pycnn {

SoftmaxShape SoftmaxShape::make(const std::vector<int64_t>& shape, int64_t dim, const char* op) {
  const int64_t nd = static_cast<int64_t>(shape.size()), rank = nd > 0 ? nd : 1;
  if (dim < -rank || dim >= rank)
    value_error(op, ": dim ", dim, " is out of range for input of shape ", shape_str(shape),
                " (expected a dim in [", -rank, ", ", rank - 1, "])");
  if (dim < 0) dim += rank;
  numel_of(shape);  // refuses negative sizes and a count past 2^60 before the products below
  SoftmaxShape s{1, nd > 0 ? shape[dim] : 1, 1};
  for (int64_t k = 0; k < dim; ++k) s.outer *= shape[k];
  for (int64_t k = dim + 1; k < nd; ++k) s.inner *= shape[k];
  return s;
}

namespace cpu {

namespace {
constexpr int64_t kBlock = 256;
constexpr int64_t kParallelWork = 1 << 15;
}  // namespace

// One contiguous row of D values (dim is the last axis): max, exp and sum, then scale. Cloned per
// instruction set (PYCNN_VECTOR_CLONES) so the exp runs 16 lanes wide on AVX-512.
PYCNN_VECTOR_CLONES void softmax_row(float* yr, const float* xr, int64_t D) {
  const float m = row_max(xr, D);
  float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
  for (int64_t d = 0; d < D; ++d) {
    yr[d] = exp_vectorizable(xr[d] - m);
    sum += yr[d];
  }
  const float inv = 1.0f / sum;
#pragma omp simd
  for (int64_t d = 0; d < D; ++d) yr[d] *= inv;
}

PYCNN_VECTOR_CLONES void log_softmax_row(float* yr, const float* xr, int64_t D) {
  const float m = row_max(xr, D);
  float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
  for (int64_t d = 0; d < D; ++d) sum += exp_vectorizable(xr[d] - m);
  const float lse = std::log(sum);
  // (x - m) - lse, not x - (m + lse): m + lse would round to the ulp of m (large for m ~ 100).
#pragma omp simd
  for (int64_t d = 0; d < D; ++d) yr[d] = (xr[d] - m) - lse;
}

template <bool LOG>
void softmax_family_forward(float* y, const float* x, const SoftmaxShape& s) {
  const int64_t D = s.dim, inner = s.inner;
  const bool big = s.outer * D * inner > kParallelWork;
  if (inner == 1) {
#pragma omp parallel for if (big)
    for (int64_t o = 0; o < s.outer; ++o) {
      if constexpr (LOG) log_softmax_row(y + o * D, x + o * D, D);
      else softmax_row(y + o * D, x + o * D, D);
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
    for (int64_t d = 0; d < D; ++d) {
#pragma omp simd
      for (int64_t j = 0; j < w; ++j) {
        if constexpr (LOG) {
          sum[j] += exp_vectorizable(xb[d * inner + j] - m[j]);
        } else {
          yb[d * inner + j] = exp_vectorizable(xb[d * inner + j] - m[j]);
          sum[j] += yb[d * inner + j];
        }
      }
    }
    // sum becomes what the last pass needs: lse for log_softmax, 1 / sum for softmax.
    for (int64_t j = 0; j < w; ++j) sum[j] = LOG ? std::log(sum[j]) : 1.0f / sum[j];
    for (int64_t d = 0; d < D; ++d) {
#pragma omp simd
      for (int64_t j = 0; j < w; ++j)
        yb[d * inner + j] = LOG ? (xb[d * inner + j] - m[j]) - sum[j] : yb[d * inner + j] * sum[j];
    }
  }
}

// From the saved output: softmax dx = y * (dy - sum(dy * y)),
// log_softmax dx = dy - exp(y) * sum(dy).
template <bool LOG>
void softmax_family_backward(float* dx, const float* dy, const float* y, const SoftmaxShape& s) {
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
      for (int64_t d = 0; d < D; ++d) total += LOG ? dyr[d] : dyr[d] * yr[d];
      if constexpr (LOG) {
#pragma omp simd
        for (int64_t d = 0; d < D; ++d) dxr[d] = dyr[d] - exp_vectorizable(yr[d]) * total;
      } else {
#pragma omp simd
        for (int64_t d = 0; d < D; ++d) dxr[d] = yr[d] * (dyr[d] - total);
      }
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
      const int64_t k = base + d * inner;
#pragma omp simd
      for (int64_t j = 0; j < w; ++j) total[j] += LOG ? dy[k + j] : dy[k + j] * y[k + j];
    }
    for (int64_t d = 0; d < D; ++d) {
      const int64_t k = base + d * inner;
      if constexpr (LOG) {
#pragma omp simd
        for (int64_t j = 0; j < w; ++j)
          dx[k + j] = dy[k + j] - exp_vectorizable(y[k + j]) * total[j];
      } else {
#pragma omp simd
        for (int64_t j = 0; j < w; ++j) dx[k + j] = y[k + j] * (dy[k + j] - total[j]);
      }
    }
  }
}

template void softmax_family_forward<false>(float*, const float*, const SoftmaxShape&);
template void softmax_family_forward<true>(float*, const float*, const SoftmaxShape&);
template void softmax_family_backward<false>(float*, const float*, const float*,
                                             const SoftmaxShape&);
template void softmax_family_backward<true>(float*, const float*, const float*,
                                            const SoftmaxShape&);

void softmax_forward(float* y, const float* x, const SoftmaxShape& s) {
  softmax_family_forward<false>(y, x, s);
}

void softmax_backward(float* dx, const float* dy, const float* y, const SoftmaxShape& s) {
  softmax_family_backward<false>(dx, dy, y, s);
}

}  // namespace cpu
}  // namespace pycnn
