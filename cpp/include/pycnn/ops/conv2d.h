// conv2d: 2-D convolution (cross-correlation, as in PyTorch), NCHW, with per-axis stride, padding
// and dilation, groups, and an optional bias.
//
//   input  x  [N, C_in, H, W]
//   weight w  [C_out, C_in / groups, KH, KW]
//   bias   b  [C_out] (may be null)
//   output y  [N, C_out, OH, OW],  OH = (H + 2*pad_h - dil_h*(KH-1) - 1) / stride_h + 1
//
// Accumulation contract (as in llm.c): parameter gradients accumulate (dw += , db +=), so the caller
// zeroes them once per step; the input gradient dx is overwritten (=).
#pragma once

#include <cstdint>

namespace pycnn {

struct Conv2dShape {
  int64_t N, C_in, H, W;
  int64_t C_out, KH, KW;
  int64_t stride_h = 1, stride_w = 1;
  int64_t pad_h = 0, pad_w = 0;
  int64_t dil_h = 1, dil_w = 1;
  int64_t groups = 1;

  // The seeds' formula (W - F + 2P)/S + 1, with the dilated filter extent as F.
  int64_t out_h() const { return (H + 2 * pad_h - dil_h * (KH - 1) - 1) / stride_h + 1; }
  int64_t out_w() const { return (W + 2 * pad_w - dil_w * (KW - 1) - 1) / stride_w + 1; }
  int64_t cin_per_group() const { return C_in / groups; }
  int64_t cout_per_group() const { return C_out / groups; }
  // Rows of the im2col matrix of one group: one per (input channel, kernel row, kernel column).
  int64_t col_rows() const { return cin_per_group() * KH * KW; }
  // Raises ValueError naming what is wrong (non-positive sizes, groups, a kernel larger than the
  // padded input, ...).
  void validate() const;
};

namespace cpu {
// y[N, C_out, OH, OW] = conv(x, w) + b
void conv2d_forward(float* y, const float* x, const float* w, const float* b, const Conv2dShape& s);
// dx[N, C_in, H, W] = ; dw[C_out, C_in/g, KH, KW] += ; db[C_out] += (each may be null to skip)
void conv2d_backward(float* dx, float* dw, float* db, const float* dy, const float* x,
                     const float* w, const Conv2dShape& s);
}  // namespace cpu

namespace cuda {
void conv2d_forward(float* y, const float* x, const float* w, const float* b, const Conv2dShape& s);
void conv2d_backward(float* dx, float* dw, float* db, const float* dy, const float* x,
                     const float* w, const Conv2dShape& s);
}  // namespace cuda

}  // namespace pycnn
