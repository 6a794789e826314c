// avg_pool2d on the CPU: a direct loop over each window's real input elements; the divisor
// comes from avg_pool_span/avg_pool_divisor (avg_pool2d.h), the same code the CUDA kernels run.
//
// x [N, C, H, W] -> y [N, C, OH, OW]. Forward threads take (plane, output row) pairs, which keeps
// both cores busy at batch 1; backward threads take whole planes, because overlapping windows of
// one plane add into the same input elements.
#include "pycnn/ops/avg_pool2d.h"

#include <cstring>

namespace pycnn::cpu {

// Below this many window elements a parallel region costs more than it saves.
static constexpr int64_t kParallelWork = 1 << 15;

void avg_pool2d_forward(float* y, const float* x, const Pool2dShape& s, const AvgPool2dOptions& o) {
  const int64_t OH = s.out_h(), OW = s.out_w(), planes = s.planes();
  const bool parallel = planes * OH * OW * s.KH * s.KW > kParallelWork;
#pragma omp parallel for collapse(2) schedule(static) if (parallel)
  for (int64_t p = 0; p < planes; ++p)
    for (int64_t oh = 0; oh < OH; ++oh) {
      const float* xp = x + p * s.H * s.W;
      float* yrow = y + (p * OH + oh) * OW;
      const AvgPoolSpan sh = avg_pool_span(oh, s.stride_h, s.pad_h, s.KH, s.H);
      for (int64_t ow = 0; ow < OW; ++ow) {
        const AvgPoolSpan sw = avg_pool_span(ow, s.stride_w, s.pad_w, s.KW, s.W);
        if (sh.lo >= sh.hi || sw.lo >= sw.hi) {  // a window over padding only averages nothing
          yrow[ow] = 0.0f;
          continue;
        }
        float sum = 0.0f;
        for (int64_t h = sh.lo; h < sh.hi; ++h) {
          const float* row = xp + h * s.W;
        // simd reduction: lets the compiler vectorise the row sum despite strict float order
#pragma omp simd reduction(+ : sum)
          for (int64_t w = sw.lo; w < sw.hi; ++w) sum += row[w];
        }
        yrow[ow] = sum / static_cast<float>(avg_pool_divisor(sh, sw, o));
      }
    }
}

void avg_pool2d_backward(float* dx, const float* dy, const Pool2dShape& s,
                         const AvgPool2dOptions& o) {
  const int64_t OH = s.out_h(), OW = s.out_w(), planes = s.planes();
  const int64_t plane_in = s.H * s.W;
  const bool parallel = planes * OH * OW * s.KH * s.KW > kParallelWork;
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t p = 0; p < planes; ++p) {
    float* dxp = dx + p * plane_in;
    std::memset(dxp, 0, plane_in * sizeof(float));
    for (int64_t oh = 0; oh < OH; ++oh) {
      const float* dyrow = dy + (p * OH + oh) * OW;
      const AvgPoolSpan sh = avg_pool_span(oh, s.stride_h, s.pad_h, s.KH, s.H);
      for (int64_t ow = 0; ow < OW; ++ow) {
        const AvgPoolSpan sw = avg_pool_span(ow, s.stride_w, s.pad_w, s.KW, s.W);
        if (sh.lo >= sh.hi || sw.lo >= sw.hi) continue;
        const float g = dyrow[ow] / static_cast<float>(avg_pool_divisor(sh, sw, o));
        for (int64_t h = sh.lo; h < sh.hi; ++h) {
          float* row = dxp + h * s.W;
#pragma omp simd
          for (int64_t w = sw.lo; w < sw.hi; ++w) row[w] += g;
        }
      }
    }
  }
}

}  // namespace pycnn::cpu
