// cross_entropy on the CPU: log-softmax and the target's negative log-likelihood in one pass over
// the logits (cross_entropy.h), x viewed as [N, C, inner].
//
// The targets are checked first, serially, so a bad label raises before anything is written (and
// never from inside an OpenMP region). Loops follow softmax.cpp: contiguous rows of C logits when
// inner == 1, else blocks of up to kBlock neighbouring positions whose C values are `inner` apart,
// reduced together along memory. Per-position losses are summed in double for Mean and Sum.
// exp is exp_vectorizable (vector_math.h), so the exp passes are packed simd loops; the row path
// sums the non-target terms over [0, t) and (t, C) rather than testing c == t in the loop.
#include "pycnn/ops/cross_entropy.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "pycnn/check.h"
#include "pycnn/deterministic.h"
#include "pycnn/vector_math.h"

namespace pycnn::cpu {

namespace {

constexpr int64_t kBlock = 256;
constexpr int64_t kParallelWork = 1 << 15;

int64_t count_valid_targets(const int64_t* target, const CrossEntropyShape& s) {
  int64_t valid = 0;
  for (int64_t p = 0; p < s.positions(); ++p) {
    const int64_t t = target[p];
    if (t == s.ignore_index) continue;
    if (t < 0 || t >= s.C)
      value_error("cross_entropy: target label ", t, " at position ", p,
                  " is out of range: expected class indices in [0, ", s.C, ") (C = ", s.C,
                  ") or ignore_index = ", s.ignore_index);
    ++valid;
  }
  return valid;
}

// The loss of one position from its shifted statistics: sum = sum_c exp(x_c - m), rest = the same
// sum without the target, shifted_target = x_t - m, shifted_total = sum_c (x_c - m). When the
// target is the maximum, its nll log(1 + rest) is tiny and log(sum) would round it away: log1p.
inline float position_loss(float sum, float rest, float shifted_target, float shifted_total,
                           float eps, int64_t C) {
  const float lse = std::log(sum);
  const float nll = shifted_target == 0.0f ? std::log1p(rest) : lse - shifted_target;
  return (1.0f - eps) * nll + eps * (lse - shifted_total / static_cast<float>(C));
}

// The loss of one contiguous row of C logits: its max, the exp sums on either side of the target
// and the plain sum, each one vectorised pass, cloned per instruction set (PYCNN_VECTOR_CLONES).
PYCNN_VECTOR_CLONES float row_loss(const float* xr, int64_t C, int64_t t, float eps) {
  const float m = row_max(xr, C);
  float rest = 0.0f, total = 0.0f;
#pragma omp simd reduction(+ : rest)
  for (int64_t c = 0; c < t; ++c) rest += exp_vectorizable(xr[c] - m);
#pragma omp simd reduction(+ : rest)
  for (int64_t c = t + 1; c < C; ++c) rest += exp_vectorizable(xr[c] - m);
#pragma omp simd reduction(+ : total)
  for (int64_t c = 0; c < C; ++c) total += xr[c] - m;
  return position_loss(rest + exp_vectorizable(xr[t] - m), rest, xr[t] - m, total, eps, C);
}

// The gradient of one contiguous row: g * (softmax - one-hot, smoothed). Cloned per instruction set.
PYCNN_VECTOR_CLONES void row_gradient(float* dxr, const float* xr, int64_t C, int64_t t, float g,
                                      float eps, float smooth) {
  const float m = row_max(xr, C);
#pragma omp simd
  for (int64_t c = 0; c < C; ++c) dxr[c] = exp_vectorizable(xr[c] - m);
  const bool hit = t >= 0 && t < C;
  // The sum of exp(x_c - m) over c != t (over all c when t is out of range).
  const int64_t t0 = hit ? t : C, t1 = hit ? t + 1 : C;
  float rest = 0.0f;
#pragma omp simd reduction(+ : rest)
  for (int64_t c = 0; c < t0; ++c) rest += dxr[c];
#pragma omp simd reduction(+ : rest)
  for (int64_t c = t1; c < C; ++c) rest += dxr[c];
  const float sum = rest + (hit ? dxr[t] : 0.0f), inv = 1.0f / sum;
#pragma omp simd
  for (int64_t c = 0; c < C; ++c) dxr[c] = g * (dxr[c] * inv - smooth);
  // softmax_t - 1 = -rest / sum, without the cancellation of p_t - 1 when p_t rounds near 1.
  if (hit) dxr[t] = g * (-rest * inv + eps - smooth);
}

}  // namespace

int64_t cross_entropy_forward(float* loss, const float* x, const int64_t* target,
                              const CrossEntropyShape& s) {
  const int64_t valid = count_valid_targets(target, s);
  const int64_t P = s.positions(), C = s.C, inner = s.inner;
  const float eps = s.label_smoothing;
  const bool big = P * C > kParallelWork;
  std::vector<float> scratch;
  float* per = loss;
  if (s.reduction != Reduction::None) {
    scratch.resize(P);
    per = scratch.data();
  }
  if (inner == 1) {
#pragma omp parallel for if (big)
    for (int64_t n = 0; n < s.N; ++n) {
      const int64_t t = target[n];
      if (t == s.ignore_index) {
        per[n] = 0.0f;
        continue;
      }
      per[n] = row_loss(x + n * C, C, t, eps);
    }
  } else {
    const int64_t blocks = (inner + kBlock - 1) / kBlock;
#pragma omp parallel for if (big)
    for (int64_t task = 0; task < s.N * blocks; ++task) {
      const int64_t n = task / blocks, i0 = (task % blocks) * kBlock;
      const int64_t w = std::min(kBlock, inner - i0);
      const float* xb = x + n * C * inner + i0;
      const int64_t* tb = target + n * inner + i0;
      float m[kBlock], sum[kBlock], rest[kBlock], total[kBlock];
      // The targets as int32 (-1 where ignored): a 32-bit compare against c sits in the same vector
      // lanes as the floats, which an int64 one does not, and the exp loop below vectorises.
      // Labels are already checked to lie in [0, C), and C < 2^31 for any tensor that fits.
      int32_t t32[kBlock];
      for (int64_t j = 0; j < w; ++j)
        t32[j] = tb[j] == s.ignore_index ? -1 : static_cast<int32_t>(tb[j]);
      std::fill(m, m + w, -std::numeric_limits<float>::infinity());
      std::fill(sum, sum + w, 0.0f);
      std::fill(rest, rest + w, 0.0f);
      std::fill(total, total + w, 0.0f);
      for (int64_t c = 0; c < C; ++c) {
#pragma omp simd
        for (int64_t j = 0; j < w; ++j) m[j] = std::max(m[j], xb[c * inner + j]);
      }
      for (int64_t c = 0; c < C; ++c) {
        const int32_t c32 = static_cast<int32_t>(c);
#pragma omp simd
        for (int64_t j = 0; j < w; ++j) {
          const float v = xb[c * inner + j] - m[j], e = exp_vectorizable(v);
          sum[j] += e;
          rest[j] += c32 == t32[j] ? 0.0f : e;
          total[j] += v;
        }
      }
      for (int64_t j = 0; j < w; ++j) {
        const int64_t t = tb[j];
        per[n * inner + i0 + j] =
            t == s.ignore_index
                ? 0.0f
                : position_loss(sum[j], rest[j], xb[t * inner + j] - m[j], total[j], eps, C);
      }
    }
  }
  if (s.reduction != Reduction::None) {
    double acc = 0.0;
#pragma omp parallel for simd reduction(+ : acc) if (P > kParallelWork && !deterministic())
    for (int64_t p = 0; p < P; ++p) acc += per[p];
    // Mean over no valid target is 0/0 = NaN, as in PyTorch.
    const double divisor = s.reduction == Reduction::Mean ? static_cast<double>(valid) : 1.0;
    loss[0] = static_cast<float>(acc / divisor);
  }
  return valid;
}

void cross_entropy_backward(float* dx, const float* dloss, const float* x, const int64_t* target,
                            int64_t valid, const CrossEntropyShape& s) {
  const int64_t C = s.C, inner = s.inner;
  const float eps = s.label_smoothing, smooth = eps / static_cast<float>(C);
  const bool big = s.positions() * C > kParallelWork;
  auto scale_of = [&](int64_t p) {
    switch (s.reduction) {
      case Reduction::None: return dloss[p];
      case Reduction::Sum: return dloss[0];
      default: return dloss[0] / static_cast<float>(valid);
    }
  };
  // A target outside [0, C) that is not ignored never matches a class below, so no memory outside
  // the row is touched even if the caller skipped the forward's check.
  if (inner == 1) {
#pragma omp parallel for if (big)
    for (int64_t n = 0; n < s.N; ++n) {
      const int64_t t = target[n];
      const float* xr = x + n * C;
      float* dxr = dx + n * C;
      if (t == s.ignore_index) {
        std::fill(dxr, dxr + C, 0.0f);
        continue;
      }
      row_gradient(dxr, xr, C, t, scale_of(n), eps, smooth);
    }
    return;
  }
  const int64_t blocks = (inner + kBlock - 1) / kBlock;
#pragma omp parallel for if (big)
  for (int64_t task = 0; task < s.N * blocks; ++task) {
    const int64_t n = task / blocks, i0 = (task % blocks) * kBlock;
    const int64_t w = std::min(kBlock, inner - i0);
    const float* xb = x + n * C * inner + i0;
    float* dxb = dx + n * C * inner + i0;
    float m[kBlock], sum[kBlock], g[kBlock];
    std::fill(m, m + w, -std::numeric_limits<float>::infinity());
    std::fill(sum, sum + w, 0.0f);
    for (int64_t j = 0; j < w; ++j) {
      const int64_t p = n * inner + i0 + j;
      g[j] = target[p] == s.ignore_index ? 0.0f : scale_of(p);
    }
    for (int64_t c = 0; c < C; ++c) {
#pragma omp simd
      for (int64_t j = 0; j < w; ++j) m[j] = std::max(m[j], xb[c * inner + j]);
    }
    for (int64_t c = 0; c < C; ++c) {
#pragma omp simd
      for (int64_t j = 0; j < w; ++j) {
        dxb[c * inner + j] = exp_vectorizable(xb[c * inner + j] - m[j]);
        sum[j] += dxb[c * inner + j];
      }
    }
    float rest[kBlock];  // sum over c != t, summed apart (see the row path)
    for (int64_t j = 0; j < w; ++j) {
      const int64_t t = target[n * inner + i0 + j];
      rest[j] = 0.0f;
      if (t < 0 || t >= C) continue;
      for (int64_t c = 0; c < C; ++c) rest[j] += c == t ? 0.0f : dxb[c * inner + j];
      sum[j] = rest[j] + dxb[t * inner + j];
    }
    for (int64_t j = 0; j < w; ++j) sum[j] = 1.0f / sum[j];
    for (int64_t c = 0; c < C; ++c) {
#pragma omp simd
      for (int64_t j = 0; j < w; ++j)
        dxb[c * inner + j] = g[j] * (dxb[c * inner + j] * sum[j] - smooth);
    }
    for (int64_t j = 0; j < w; ++j) {
      const int64_t t = target[n * inner + i0 + j];
      if (t != s.ignore_index && t >= 0 && t < C)
        dxb[t * inner + j] = g[j] * (-rest[j] * sum[j] + eps - smooth);
    }
  }
}

}  // namespace pycnn::cpu
