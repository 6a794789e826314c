// adaptive_avg_pool2d on the CPU: a direct loop over each bin (adaptive_bin_start/end in the
// header, shared with the CUDA kernels); the global 1x1 case is a plain mean over each plane.
//
// x [N, C, H, W] -> y [N, C, OH, OW]. Forward threads take (plane, output row) pairs, which keeps
// both cores busy at batch 1; backward threads take whole planes, because overlapping bins of one
// plane add into the same input elements.
#include "pycnn/ops/adaptive_avg_pool2d.h"

#include <cstring>

namespace pycnn::cpu {

// Below this many input elements a parallel region costs more than it saves.
static constexpr int64_t kParallelWork = 1 << 15;

void adaptive_avg_pool2d_forward(float* y, const float* x, const AdaptivePool2dShape& s) {
  const int64_t planes = s.planes(), plane_in = s.H * s.W;
  if (s.is_global()) {
#pragma omp parallel for schedule(static) if (planes * plane_in > kParallelWork)
    for (int64_t p = 0; p < planes; ++p) {
      const float* xp = x + p * plane_in;
      float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
      for (int64_t i = 0; i < plane_in; ++i) sum += xp[i];
      y[p] = sum / static_cast<float>(plane_in);
    }
    return;
  }
  const int64_t OH = s.OH, OW = s.OW;
  // An empty output has no bins to fill; looping over 2^31 empty rows took minutes (the fuzzer).
  if (OH == 0 || OW == 0) return;
  // Each input element is read about (OH/H + 1) * (OW/W + 1) times; the input size bounds the work.
  const bool parallel = planes * (plane_in + OH * OW) > kParallelWork;
#pragma omp parallel for collapse(2) schedule(static) if (parallel)
  for (int64_t p = 0; p < planes; ++p)
    for (int64_t oh = 0; oh < OH; ++oh) {
      const float* xp = x + p * plane_in;
      float* yrow = y + (p * OH + oh) * OW;
      const int64_t h0 = adaptive_bin_start(oh, s.H, OH), h1 = adaptive_bin_end(oh, s.H, OH);
      for (int64_t ow = 0; ow < OW; ++ow) {
        const int64_t w0 = adaptive_bin_start(ow, s.W, OW), w1 = adaptive_bin_end(ow, s.W, OW);
        float sum = 0.0f;
        for (int64_t h = h0; h < h1; ++h) {
          const float* row = xp + h * s.W;
#pragma omp simd reduction(+ : sum)
          for (int64_t w = w0; w < w1; ++w) sum += row[w];
        }
        yrow[ow] = sum / static_cast<float>((h1 - h0) * (w1 - w0));
      }
    }
}

void adaptive_avg_pool2d_backward(float* dx, const float* dy, const AdaptivePool2dShape& s) {
  const int64_t planes = s.planes(), plane_in = s.H * s.W;
  const int64_t OH = s.OH, OW = s.OW;
  const bool parallel = planes * (plane_in + OH * OW) > kParallelWork;
  if (s.is_global()) {
#pragma omp parallel for schedule(static) if (parallel)
    for (int64_t p = 0; p < planes; ++p) {
      float* dxp = dx + p * plane_in;
      const float g = dy[p] / static_cast<float>(plane_in);
      for (int64_t i = 0; i < plane_in; ++i) dxp[i] = g;
    }
    return;
  }
  if (OH == 0 || OW == 0) {  // no output, no gradient: dx = 0 without walking the empty rows
    std::memset(dx, 0, planes * plane_in * sizeof(float));
    return;
  }
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t p = 0; p < planes; ++p) {
    float* dxp = dx + p * plane_in;
    std::memset(dxp, 0, plane_in * sizeof(float));
    for (int64_t oh = 0; oh < OH; ++oh) {
      const float* dyrow = dy + (p * OH + oh) * OW;
      const int64_t h0 = adaptive_bin_start(oh, s.H, OH), h1 = adaptive_bin_end(oh, s.H, OH);
      for (int64_t ow = 0; ow < OW; ++ow) {
        const int64_t w0 = adaptive_bin_start(ow, s.W, OW), w1 = adaptive_bin_end(ow, s.W, OW);
        const float g = dyrow[ow] / static_cast<float>((h1 - h0) * (w1 - w0));
        for (int64_t h = h0; h < h1; ++h) {
          float* row = dxp + h * s.W;
#pragma omp simd
          for (int64_t w = w0; w < w1; ++w) row[w] += g;
        }
      }
    }
  }
}

}  // namespace pycnn::cpu
