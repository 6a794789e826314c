// avg_pool2d: 2-d average pooling, NCHW, as torch.nn.functional.avg_pool2d (geometry in pool2d.h;
// dilation is always 1).
//
//   input  x [N, C, H, W]
//   output y [N, C, OH, OW] = (sum of the real input elements under the window) / divisor
//
// The divisor follows PyTorch exactly. With hstart = oh*stride_h - pad_h,
//   pool_size = (min(hstart + KH, H + pad_h) - hstart)
//             * (min(wstart + KW, W + pad_w) - wstart)
// counts the window inside the PADDED input, measured before clamping to the real one; so a
// ceil_mode window running past the right padding counts only up to it. Then
//   divisor = divisor_override            when given (> 0),
//           = pool_size                   when count_include_pad,
//           = real input elements covered otherwise.
// Accumulation contract: the input gradient is overwritten, dx = (no parameters).
#pragma once

#include <cstdint>

#include "pycnn/ops/pool2d.h"

namespace pycnn {

// The averaging options beside the geometry; divisor_override 0 means none.
struct AvgPool2dOptions {
  bool count_include_pad = true;
  int64_t divisor_override = 0;
};

// One window along one axis: the real input range [lo, hi) it averages, and `padded`, its extent
// inside the padded input measured before clamping (PyTorch's pool_size factor).
struct AvgPoolSpan {
  int64_t lo, hi, padded;
};
PYCNN_HOST_DEVICE inline AvgPoolSpan avg_pool_span(int64_t out_index, int64_t stride, int64_t pad,
                                                   int64_t kernel, int64_t size) {
  const int64_t start = out_index * stride - pad;
  const int64_t end = start + kernel < size + pad ? start + kernel : size + pad;
  return {start > 0 ? start : 0, end < size ? end : size, end - start};
}
PYCNN_HOST_DEVICE inline int64_t avg_pool_divisor(const AvgPoolSpan& h, const AvgPoolSpan& w,
                                                  const AvgPool2dOptions& o) {
  if (o.divisor_override != 0) return o.divisor_override;
  if (o.count_include_pad) return h.padded * w.padded;
  return (h.hi - h.lo) * (w.hi - w.lo);
}

namespace cpu {
// y [N, C, OH, OW] = window means of x [N, C, H, W]
void avg_pool2d_forward(float* y, const float* x, const Pool2dShape& s, const AvgPool2dOptions& o);
// dx [N, C, H, W] = sum over the windows covering each element of dy / divisor
void avg_pool2d_backward(float* dx, const float* dy, const Pool2dShape& s,
                         const AvgPool2dOptions& o);
}  // namespace cpu

namespace cuda {
void avg_pool2d_forward(float* y, const float* x, const Pool2dShape& s, const AvgPool2dOptions& o);
void avg_pool2d_backward(float* dx, const float* dy, const Pool2dShape& s,
                         const AvgPool2dOptions& o);
}  // namespace cuda

}  // namespace pycnn
