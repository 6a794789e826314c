// batch_norm on the CPU (see pycnn/ops/batch_norm.h for the formulas and the contract).
//
// Layout x[N, C, inner]: channel c's values are N runs of `inner` contiguous floats. The work is
// split by channel: a thread takes whole channels and makes every pass over a channel before it
// moves on. The statistics read the channel once (from memory); the normalisation (forward), or
// the input gradient (backward), read it again while it is still in the core's L2 cache. Split by
// passes instead (all statistics, then all rows), each pass streamed the whole tensor from memory:
// at ResNet-20 b128 the forward read x three times and the backward read dy and x twice, at about
// 15 GB/s on two cores. With fewer channels than threads can share evenly, the rows of the
// elementwise pass are split instead (a few-channel input keeps both cores busy).
//
// relu (backward only): the gradient of relu(batch_norm(x)), for a ReLU applied in place to the
// forward's output. The mask y > 0 is recomputed from x with the forward's own expression
// (affine_coefficients, then affine()), so neither relu_backward's pass over dy nor a read of the
// saved output is needed.
#include "pycnn/ops/batch_norm.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "pycnn/vector_math.h"

namespace pycnn::cpu {

namespace {
constexpr int64_t kParallelWork = 1 << 15;  // below this, thread start-up costs more than it saves

// The per-row loops, cloned per instruction set (PYCNN_VECTOR_CLONES): compiled for baseline x86-64
// they ran the double sums two lanes wide (2.7 ns an element on ResNet-20's activations).

// s += sum (x - k), s2 += sum (x - k)^2 over one row, in double. With k one of the channel's own
// values, (x - k) is of the order of the spread and the variance s2/M - (s/M)^2 does not cancel
// the way sum(x^2) - M * mean^2 does when the mean is large; one pass instead of two.
PYCNN_VECTOR_CLONES void row_shifted_sums(const float* row, int64_t n, double k, double& s_out,
                                          double& s2_out) {
  double s = 0.0, s2 = 0.0;
#pragma omp simd reduction(+ : s, s2)
  for (int64_t i = 0; i < n; ++i) {
    const double d = row[i] - k;
    s += d;
    s2 += d * d;
  }
  s_out += s;
  s2_out += s2;
}

// The normalised value x * a + shift: one expression for the forward and for the relu mask of the
// backward, so that both round it the same way.
inline float affine(float x, float a, float shift) { return x * a + shift; }

PYCNN_VECTOR_CLONES void row_affine(float* __restrict y, const float* __restrict x, int64_t n,
                                    float a, float shift) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) y[i] = affine(x[i], a, shift);
}

// The backward's rows take dy masked by relu's rule (zero where the forward's output x * a + shift
// was <= 0; NaN passes). Without relu the caller passes kNoMask: a = 0 and shift = +inf make every
// value +inf (or NaN for an infinite or NaN x), never <= 0, so dy passes unchanged and one loop per
// pass serves both.
struct Affine {
  float a, shift;
};
constexpr Affine kNoMask = {0.0f, std::numeric_limits<float>::infinity()};
inline float masked(float dy, float x, Affine m) {
  return detail::select(affine(x, m.a, m.shift) <= 0.0f, 0.0f, dy);
}

// g += sum d, gx += sum d * (x - mu) over one row, d = dy masked.
PYCNN_VECTOR_CLONES void row_gradient_sums(const float* dy, const float* x, int64_t n, float mu,
                                           Affine m, double& g_out, double& gx_out) {
  double g = 0.0, gx = 0.0;
#pragma omp simd reduction(+ : g, gx)
  for (int64_t i = 0; i < n; ++i) {
    const float d = masked(dy[i], x[i], m);
    g += d;
    gx += static_cast<double>(d) * (x[i] - mu);
  }
  g_out += g;
  gx_out += gx;
}

// dx = scale * (d - mean_dy - (x - mu) * k), d = dy masked.
PYCNN_VECTOR_CLONES void row_input_gradient(float* __restrict dx, const float* __restrict dy,
                                            const float* __restrict x, int64_t n, float scale,
                                            float mean_dy, float mu, float k, Affine m) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i)
    dx[i] = scale * (masked(dy[i], x[i], m) - mean_dy - (x[i] - mu) * k);
}

// Eval mode's dx = scale * d (the statistics are constants), d = dy masked.
PYCNN_VECTOR_CLONES void row_scaled(float* __restrict dx, const float* __restrict dy,
                                    const float* __restrict x, int64_t n, float scale, Affine m) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) dx[i] = scale * masked(dy[i], x[i], m);
}

// Channel c's y = x * a + shift: a = rstd * w, shift = b - mean * a. The forward and the relu
// mask of the backward take them from here, so both see the same floats.
inline Affine affine_coefficients(int64_t c, const float* mean, const float* rstd, const float* w,
                                  const float* b) {
  const float a = rstd[c] * (w ? w[c] : 1.0f);
  return {a, (b ? b[c] : 0.0f) - mean[c] * a};
}

// A thread working by channel reads rows C * inner floats apart, and at ResNet sizes a row is a page
// or less (32x32 floats is 4 KB): the hardware prefetcher, which stays within a page, starts over
// at every row. Asking for the next row (its first 4 KB) while this one is summed took batch norm's
// forward from 3.1 to 2.2 ms at ResNet-20 b128 (16x32x32, one thread, input not in cache).
inline void prefetch_row(const float* row, int64_t n) {
  for (int64_t i = 0; i < std::min<int64_t>(n, 1024); i += 16) __builtin_prefetch(row + i);
}

// Split by channel (see the top of the file) when the channels share evenly between the threads.
bool by_channel(int64_t C) {
  const int64_t threads = omp_get_max_threads();
  return C % threads == 0 || C >= 4 * threads;
}

// Training statistics of channel c: mean, rstd and the running statistics.
void channel_statistics(int64_t c, float* mean, float* rstd, float* running_mean,
                        float* running_var, const float* x, const BatchNormShape& s) {
  const int64_t N = s.N, C = s.C, inner = s.inner, M = s.count();
  const double k = x[c * inner];
  double sum = 0.0, squares = 0.0;
  for (int64_t n = 0; n < N; ++n) {
    if (n + 1 < N) prefetch_row(x + ((n + 1) * C + c) * inner, inner);
    row_shifted_sums(x + (n * C + c) * inner, inner, k, sum, squares);
  }
  const double shifted_mean = sum / static_cast<double>(M);
  const double var = std::max(0.0, squares / static_cast<double>(M) - shifted_mean * shifted_mean);
  const double mu = k + shifted_mean;
  mean[c] = static_cast<float>(mu);
  rstd[c] = static_cast<float>(1.0 / std::sqrt(var + s.eps));
  const double m = s.momentum;
  if (running_mean) running_mean[c] = static_cast<float>((1.0 - m) * running_mean[c] + m * mu);
  if (running_var) {
    const double unbiased = var * static_cast<double>(M) / static_cast<double>(M - 1);
    running_var[c] = static_cast<float>((1.0 - m) * running_var[c] + m * unbiased);
  }
}

void normalize_row(int64_t row, float* y, const float* x, const float* mean, const float* rstd,
                   const float* w, const float* b, const BatchNormShape& s) {
  const Affine f = affine_coefficients(row % s.C, mean, rstd, w, b);
  const int64_t at = row * s.inner;
  row_affine(y + at, x + at, s.inner, f.a, f.shift);
}

// Per channel: sum dy and sum dy * (x - mean) (dy masked with relu); dw and db from them.
void channel_gradient_sums(int64_t c, double& sum_dy, double& sum_dy_xc, float* dw, float* db,
                           const float* dy, const float* x, const float* mean, const float* rstd,
                           const float* w, const float* b, const BatchNormShape& s) {
  const int64_t N = s.N, C = s.C, inner = s.inner;
  const Affine f = affine_coefficients(c, mean, rstd, w, b), m = s.relu ? f : kNoMask;
  double g = 0.0, gx = 0.0;
  for (int64_t n = 0; n < N; ++n) {
    const int64_t at = (n * C + c) * inner;
    if (n + 1 < N) {
      prefetch_row(dy + at + C * inner, inner);
      prefetch_row(x + at + C * inner, inner);
    }
    row_gradient_sums(dy + at, x + at, inner, mean[c], m, g, gx);
  }
  sum_dy = g;
  sum_dy_xc = gx;
  if (db) db[c] += static_cast<float>(g);
  if (dw) dw[c] += static_cast<float>(gx * rstd[c]);
}

void input_gradient_row(int64_t row, float* dx, const float* dy, const float* x, double sum_dy,
                        double sum_dy_xc, const float* mean, const float* rstd, const float* w,
                        const float* b, const BatchNormShape& s) {
  const int64_t c = row % s.C, at = row * s.inner, M = s.count();
  const Affine f = affine_coefficients(c, mean, rstd, w, b), m = s.relu ? f : kNoMask;
  const float scale = f.a;  // d y / d xhat * d xhat / d x = w * rstd
  if (!s.training) {
    // Without relu the mask never bites whatever it reads: it reads dy again, not a stream of x.
    row_scaled(dx + at, dy + at, (s.relu ? x : dy) + at, s.inner, scale, m);
    return;
  }
  // dx = scale * (dy - mean(dy) - xhat * mean(dy * xhat)), xhat = (x - mean) * rstd
  const float mean_dy = static_cast<float>(sum_dy / static_cast<double>(M));
  const float k = static_cast<float>(sum_dy_xc * rstd[c] / static_cast<double>(M)) * rstd[c];
  row_input_gradient(dx + at, dy + at, x + at, s.inner, scale, mean_dy, mean[c], k, m);
}
}  // namespace

void batch_norm_forward(float* y, float* mean, float* rstd, float* running_mean, float* running_var,
                        const float* x, const float* w, const float* b, const BatchNormShape& s) {
  const int64_t N = s.N, C = s.C;
  const bool parallel = N * C * s.inner >= kParallelWork;
  if (!s.training) {
    for (int64_t c = 0; c < C; ++c) {
      mean[c] = running_mean[c];
      rstd[c] = static_cast<float>(1.0 / std::sqrt(static_cast<double>(running_var[c]) + s.eps));
    }
  }
  if (by_channel(C)) {
#pragma omp parallel for schedule(static) if (parallel)
    for (int64_t c = 0; c < C; ++c) {
      if (s.training) channel_statistics(c, mean, rstd, running_mean, running_var, x, s);
      for (int64_t n = 0; n < N; ++n) normalize_row(n * C + c, y, x, mean, rstd, w, b, s);
    }
    return;
  }
  if (s.training) {
#pragma omp parallel for if (parallel)
    for (int64_t c = 0; c < C; ++c)
      channel_statistics(c, mean, rstd, running_mean, running_var, x, s);
  }
#pragma omp parallel for if (parallel)
  for (int64_t row = 0; row < N * C; ++row) normalize_row(row, y, x, mean, rstd, w, b, s);
}

void batch_norm_backward(float* dx, float* dw, float* db, const float* dy, const float* x,
                         const float* mean, const float* rstd, const float* w, const float* b,
                         const BatchNormShape& s) {
  const int64_t N = s.N, C = s.C;
  const bool parallel = N * C * s.inner >= kParallelWork;
  // The sums are needed by dw and db, and by dx in training (through the statistics).
  const bool sums = dw || db || (dx && s.training);
  if (by_channel(C)) {
#pragma omp parallel for schedule(static) if (parallel)
    for (int64_t c = 0; c < C; ++c) {
      double sum_dy = 0.0, sum_dy_xc = 0.0;
      if (sums) channel_gradient_sums(c, sum_dy, sum_dy_xc, dw, db, dy, x, mean, rstd, w, b, s);
      if (dx)
        for (int64_t n = 0; n < N; ++n)
          input_gradient_row(n * C + c, dx, dy, x, sum_dy, sum_dy_xc, mean, rstd, w, b, s);
    }
    return;
  }
  std::vector<double> sum_dy(C), sum_dy_xc(C);
  if (sums) {
#pragma omp parallel for if (parallel)
    for (int64_t c = 0; c < C; ++c)
      channel_gradient_sums(c, sum_dy[c], sum_dy_xc[c], dw, db, dy, x, mean, rstd, w, b, s);
  }
  if (dx) {
#pragma omp parallel for if (parallel)
    for (int64_t row = 0; row < N * C; ++row)
      input_gradient_row(row, dx, dy, x, sum_dy[row % C], sum_dy_xc[row % C], mean, rstd, w, b, s);
  }
}

}  // namespace pycnn::cpu
