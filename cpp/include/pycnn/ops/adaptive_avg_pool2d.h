// adaptive_avg_pool2d: average pooling to a requested output size, NCHW, as
// torch.nn.functional.adaptive_avg_pool2d.
//
//   input  x [N, C, H, W]
//   output y [N, C, OH, OW];  output row i averages input rows [floor(i*H/OH), ceil((i+1)*H/OH)),
//                             likewise for columns, so bins may overlap when H % OH != 0
// OH = OW = 1 is global average pooling: a plain mean over each plane.
// Accumulation contract: the input gradient is overwritten, dx = (no parameters).
#pragma once

#include <cstdint>

#include "pycnn/check.h"
#include "pycnn/host_device.h"

namespace pycnn {

struct AdaptivePool2dShape {
  int64_t N, C, H, W;
  int64_t OH, OW;

  int64_t planes() const { return N * C; }
  bool is_global() const { return OH == 1 && OW == 1; }
  // Raises ValueError naming the op for non-positive input sizes or a negative output size.
  void validate() const {
    if (N < 0 || C <= 0 || H <= 0 || W <= 0)
      value_error("adaptive_avg_pool2d: input must have positive channels, height and width, ",
                  "got (N=", N, ", C=", C, ", H=", H, ", W=", W, ")");
    if (OH < 0 || OW < 0)
      value_error("adaptive_avg_pool2d: output_size must be non-negative, got (", OH, ", ", OW,
                  ")");
    check_window_bounds(
        "adaptive_avg_pool2d",
        {{"input height", H}, {"input width", W}, {"output height", OH}, {"output width", OW}});
  }
};

// The bin [start, end) of output index i along an axis of `in` inputs pooled to `out` outputs.
PYCNN_HOST_DEVICE inline int64_t adaptive_bin_start(int64_t i, int64_t in, int64_t out) {
  return (i * in) / out;
}
PYCNN_HOST_DEVICE inline int64_t adaptive_bin_end(int64_t i, int64_t in, int64_t out) {
  return ((i + 1) * in + out - 1) / out;
}

namespace cpu {
// y [N, C, OH, OW] = bin means of x [N, C, H, W]
void adaptive_avg_pool2d_forward(float* y, const float* x, const AdaptivePool2dShape& s);
// dx [N, C, H, W] = sum over the bins covering each element of dy / bin size
void adaptive_avg_pool2d_backward(float* dx, const float* dy, const AdaptivePool2dShape& s);
}  // namespace cpu

namespace cuda {
void adaptive_avg_pool2d_forward(float* y, const float* x, const AdaptivePool2dShape& s);
void adaptive_avg_pool2d_backward(float* dx, const float* dy, const AdaptivePool2dShape& s);
}  // namespace cuda

}  // namespace pycnn
