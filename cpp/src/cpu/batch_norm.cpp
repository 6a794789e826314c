// batch_norm on the CPU (see pycnn/ops/batch_norm.h for the formulas and the contract).
//
// Layout x[N, C, inner]: channel c's values are N runs of `inner` contiguous floats. Statistics are
// per channel (threads over channels, double accumulators, `omp simd` so the sums still vectorise);
// the elementwise passes run over the N*C rows, which keeps both cores busy even when C is small.
#include "pycnn/ops/batch_norm.h"

#include <cmath>
#include <vector>

namespace pycnn::cpu {

namespace {
constexpr int64_t kParallelWork = 1 << 15;  // below this, thread start-up costs more than it saves
}

void batch_norm_forward(float* y, float* mean, float* rstd, float* running_mean, float* running_var,
                        const float* x, const float* w, const float* b, const BatchNormShape& s) {
  const int64_t N = s.N, C = s.C, inner = s.inner, M = s.count();
  const bool parallel = N * C * inner >= kParallelWork;
  if (s.training) {
#pragma omp parallel for if (parallel)
    for (int64_t c = 0; c < C; ++c) {
      // Two passes in double: sum((x - mean)^2) does not lose the variance to a large mean the way
      // sum(x^2) - M * mean^2 does.
      double sum = 0.0;
      for (int64_t n = 0; n < N; ++n) {
        const float* row = x + (n * C + c) * inner;
#pragma omp simd reduction(+ : sum)
        for (int64_t i = 0; i < inner; ++i) sum += row[i];
      }
      const double mu = sum / static_cast<double>(M);
      double squares = 0.0;
      for (int64_t n = 0; n < N; ++n) {
        const float* row = x + (n * C + c) * inner;
#pragma omp simd reduction(+ : squares)
        for (int64_t i = 0; i < inner; ++i) {
          const double d = row[i] - mu;
          squares += d * d;
        }
      }
      const double var = squares / static_cast<double>(M);
      mean[c] = static_cast<float>(mu);
      rstd[c] = static_cast<float>(1.0 / std::sqrt(var + s.eps));
      const double m = s.momentum;
      if (running_mean) running_mean[c] = static_cast<float>((1.0 - m) * running_mean[c] + m * mu);
      if (running_var) {
        const double unbiased = var * static_cast<double>(M) / static_cast<double>(M - 1);
        running_var[c] = static_cast<float>((1.0 - m) * running_var[c] + m * unbiased);
      }
    }
  } else {
    for (int64_t c = 0; c < C; ++c) {
      mean[c] = running_mean[c];
      rstd[c] = static_cast<float>(1.0 / std::sqrt(static_cast<double>(running_var[c]) + s.eps));
    }
  }
#pragma omp parallel for if (parallel)
  for (int64_t row = 0; row < N * C; ++row) {
    const int64_t c = row % C;
    // y = x * a + shift, one fused multiply-add per element
    const float a = rstd[c] * (w ? w[c] : 1.0f);
    const float shift = (b ? b[c] : 0.0f) - mean[c] * a;
    const float* xr = x + row * inner;
    float* yr = y + row * inner;
    for (int64_t i = 0; i < inner; ++i) yr[i] = xr[i] * a + shift;
  }
}

void batch_norm_backward(float* dx, float* dw, float* db, const float* dy, const float* x,
                         const float* mean, const float* rstd, const float* w,
                         const BatchNormShape& s) {
  const int64_t N = s.N, C = s.C, inner = s.inner, M = s.count();
  const bool parallel = N * C * inner >= kParallelWork;
  // Per channel: sum dy and sum dy * xhat = rstd * sum dy * (x - mean).
  std::vector<double> sum_dy(C), sum_dy_xhat(C);
#pragma omp parallel for if (parallel)
  for (int64_t c = 0; c < C; ++c) {
    const float mu = mean[c];
    double g = 0.0, gx = 0.0;
    for (int64_t n = 0; n < N; ++n) {
      const float* dyr = dy + (n * C + c) * inner;
      const float* xr = x + (n * C + c) * inner;
#pragma omp simd reduction(+ : g, gx)
      for (int64_t i = 0; i < inner; ++i) {
        g += dyr[i];
        gx += static_cast<double>(dyr[i]) * (xr[i] - mu);
      }
    }
    sum_dy[c] = g;
    sum_dy_xhat[c] = gx * rstd[c];
  }
  for (int64_t c = 0; c < C; ++c) {
    if (db) db[c] += static_cast<float>(sum_dy[c]);
    if (dw) dw[c] += static_cast<float>(sum_dy_xhat[c]);
  }
  if (dx) {
#pragma omp parallel for if (parallel)
    for (int64_t row = 0; row < N * C; ++row) {
      const int64_t c = row % C;
      const float scale = rstd[c] * (w ? w[c] : 1.0f);
      const float* dyr = dy + row * inner;
      float* dxr = dx + row * inner;
      if (s.training) {
        // dx = scale * (dy - mean(dy) - xhat * mean(dy * xhat)), xhat = (x - mean) * rstd
        const float* xr = x + row * inner;
        const float mean_dy = static_cast<float>(sum_dy[c] / static_cast<double>(M));
        const float k = static_cast<float>(sum_dy_xhat[c] / static_cast<double>(M)) * rstd[c];
        const float mu = mean[c];
        for (int64_t i = 0; i < inner; ++i) dxr[i] = scale * (dyr[i] - mean_dy - (xr[i] - mu) * k);
      } else {
        for (int64_t i = 0; i < inner; ++i) dxr[i] = scale * dyr[i];
      }
    }
  }
}

}  // namespace pycnn::cpu
