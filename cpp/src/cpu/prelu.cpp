// prelu on the CPU. Each (outer, channel) row of `inner` floats has one slope, so the inner loop is
// a vectorisable select; OpenMP splits the rows. The slope gradient is a per-channel reduction:
// rows of the same channel are summed in double by one thread (no races, stable sums), the
// channels split across threads; a single shared slope (channels == 1) is one flat reduction.
#include "pycnn/ops/prelu.h"

#include "pycnn/deterministic.h"

namespace pycnn::cpu {

void prelu_forward(float* y, const float* x, const float* w, const PreluShape& s) {
  const int64_t rows = s.outer * s.channels, inner = s.inner;
#pragma omp parallel for if (rows * inner > (1 << 16))
  for (int64_t r = 0; r < rows; ++r) {
    const float a = w[r % s.channels];
    const float* xr = x + r * inner;
    float* yr = y + r * inner;
#pragma omp simd
    for (int64_t i = 0; i < inner; ++i) yr[i] = xr[i] > 0.0f ? xr[i] : a * xr[i];
  }
}

void prelu_backward(float* dx, float* dw, const float* dy, const float* x, const float* w,
                    const PreluShape& s) {
  const int64_t rows = s.outer * s.channels, inner = s.inner;
  const bool big = rows * inner > (1 << 16);
  if (dx) {
#pragma omp parallel for if (big)
    for (int64_t r = 0; r < rows; ++r) {
      const float a = w[r % s.channels];
      const float* xr = x + r * inner;
      const float* dyr = dy + r * inner;
      float* dxr = dx + r * inner;
#pragma omp simd
      for (int64_t i = 0; i < inner; ++i) dxr[i] = xr[i] > 0.0f ? dyr[i] : a * dyr[i];
    }
  }
  if (!dw) return;
  if (s.channels == 1) {
    const int64_t n = rows * inner;
    double sum = 0.0;
#pragma omp parallel for simd reduction(+ : sum) if (big && !deterministic())
    for (int64_t i = 0; i < n; ++i) sum += x[i] > 0.0f ? 0.0f : dy[i] * x[i];
    dw[0] += static_cast<float>(sum);
    return;
  }
#pragma omp parallel for if (big)
  for (int64_t c = 0; c < s.channels; ++c) {
    double sum = 0.0;
    for (int64_t o = 0; o < s.outer; ++o) {
      const int64_t base = (o * s.channels + c) * inner;
#pragma omp simd reduction(+ : sum)
      for (int64_t i = 0; i < inner; ++i)
        sum += x[base + i] > 0.0f ? 0.0f : dy[base + i] * x[base + i];
    }
    dw[c] += static_cast<float>(sum);
  }
}

}  // namespace pycnn::cpu
