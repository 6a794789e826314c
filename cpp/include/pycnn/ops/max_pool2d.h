// max_pool2d: 2-d max pooling, NCHW, as torch.nn.functional.max_pool2d (geometry in pool2d.h).
//
//   input   x   [N, C, H, W]
//   output  y   [N, C, OH, OW]  the largest input under each window; padding counts as -inf
//   indices idx [N, C, OH, OW]  int64: where that maximum lies, as a flat index h*W + w into
//                               its own input plane (PyTorch's convention), -1 for a window
//                               holding no input
//
// Ties keep the first maximum in the window's row-major scan (kh, then kw), and a NaN wins over
// every number, both as in PyTorch; so the gradient of a tie goes to one element, the one torch
// picks.
// Accumulation contract: the input gradient is overwritten, dx = (no parameters).
#pragma once

#include <cmath>
#include <cstdint>
#include <memory>
#include <vector>

#include "pycnn/ops/pool2d.h"

namespace pycnn {

// The kernel taps [lo, hi) of one window along one axis that land on real input: the window
// starts at `start` (negative inside the left padding) and tap k reads start + k*dilation, which
// must lie in [0, size). An empty range (lo == hi) means the window holds no input at all.
struct PoolTaps {
  int64_t lo, hi;
};
PYCNN_HOST_DEVICE inline PoolTaps pool_taps(int64_t start, int64_t dilation, int64_t kernel,
                                            int64_t size) {
  int64_t lo = start < 0 ? (-start + dilation - 1) / dilation : 0;
  int64_t hi = start < size ? (size - start + dilation - 1) / dilation : 0;
  if (hi > kernel) hi = kernel;
  if (lo > hi) lo = hi;
  return {lo, hi};
}

// The max and argmax of one window, the scan the CPU and CUDA kernels share so that they pick the
// same element: xp is one input plane [H, W], (h0, w0) the window's first tap (negative inside the
// padding) and th, tw its in-bounds taps (pool_taps). Row-major over (kh, kw) with a strict >, so
// the first of equal maxima wins, and a NaN takes over (v != v), both as in PyTorch. The argmax
// starts at the first in-bounds tap, so an all -inf window still points at input; -1 for a window
// holding no input.
struct WindowMax {
  float value;
  int64_t index;  // flat h*W + w within the plane
};
PYCNN_HOST_DEVICE inline WindowMax max_pool_window(const float* xp, const Pool2dShape& s,
                                                   int64_t h0, PoolTaps th, int64_t w0,
                                                   PoolTaps tw) {
  WindowMax best = {-INFINITY, th.lo < th.hi && tw.lo < tw.hi
                                   ? (h0 + th.lo * s.dil_h) * s.W + w0 + tw.lo * s.dil_w
                                   : -1};
  for (int64_t kh = th.lo; kh < th.hi; ++kh) {
    const int64_t row = (h0 + kh * s.dil_h) * s.W + w0;
    for (int64_t kw = tw.lo; kw < tw.hi; ++kw) {
      const int64_t i = row + kw * s.dil_w;
      const float v = xp[i];
      if (v > best.value || v != v) best = {v, i};
    }
  }
  return best;
}

namespace cpu {
// y, idx [N, C, OH, OW] = max and argmax of x [N, C, H, W] over each window
void max_pool2d_forward(float* y, int64_t* idx, const float* x, const Pool2dShape& s);
// y [N, C, OH, OW] = max of x over each window, without the argmax (inference: the plan's step)
void max_pool2d_forward_values(float* y, const float* x, const Pool2dShape& s);
// dx [N, C, H, W] = dy [N, C, OH, OW] routed to the argmax of its window (summed where they meet)
void max_pool2d_backward(float* dx, const float* dy, const int64_t* idx, const Pool2dShape& s);

// Max pool s's output (values only) computed a band of output rows at a time from a band of its
// input's rows held elsewhere: the inference plan's convolution + max pool step computes the
// convolution's rows a band of pool rows reads into a thread's scratch and pools them from there
// (PreparedConv2d::forward_max_pool), so the convolution's output never goes to memory.
struct PoolRowLayout;  // max_pool2d.cpp: where the row kernel's buffers put a row
class MaxPoolBands {
 public:
  explicit MaxPoolBands(const Pool2dShape& s);  // validates s (ValueError)
  const Pool2dShape& shape() const { return s_; }
  // The input rows [first, last) that output rows [oh0, oh1) read (their windows' in-bounds rows).
  void input_rows(int64_t oh0, int64_t oh1, int64_t& first, int64_t& last) const;
  // Output rows [oh0, oh1) of `planes` planes: plane p's input rows [first, first + rows) lie at
  // band + p * band_plane (W floats a row) and must cover input_rows(oh0, oh1) (ValueError
  // otherwise); its output rows go to y + p * y_plane (OW floats a row). Runs on the calling thread
  // (its buffers are thread_local), so threads may run bands of one pool at once.
  void run(float* y, int64_t y_plane, const float* band, int64_t band_plane, int64_t first,
           int64_t rows, int64_t planes, int64_t oh0, int64_t oh1) const;

 private:
  Pool2dShape s_;
  std::vector<PoolTaps> taps_;  // per output row: its windows' in-bounds kernel rows
  std::shared_ptr<const PoolRowLayout> layout_;  // built once, not per band
};
}  // namespace cpu

namespace cuda {
void max_pool2d_forward(float* y, int64_t* idx, const float* x, const Pool2dShape& s);
void max_pool2d_backward(float* dx, const float* dy, const int64_t* idx, const Pool2dShape& s);
}  // namespace cuda

}  // namespace pycnn
