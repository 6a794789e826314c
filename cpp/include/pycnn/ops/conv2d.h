// conv2d: 2-D convolution (cross-correlation, as in PyTorch), NCHW, with per-axis stride, padding
// and dilation, groups, and an optional bias.
//
//   input  x  [N, C_in, H, W]
//   weight w  [C_out, C_in / groups, KH, KW]
//   bias   b  [C_out] (may be null)
//   output y  [N, C_out, OH, OW],  OH = floor((H + 2*pad_h - dil_h*(KH-1) - 1) / stride_h) + 1
//
// The output size and validate() below are the one statement of conv2d's shape rule: the CPU and
// CUDA kernels, the bindings and (through _C.conv_output_size / _C.conv2d_output_shape) Python and
// the ONNX importer all read it.
//
// Accumulation contract (as in llm.c): parameter gradients accumulate (dw += , db +=), so the caller
// zeroes them once per step; the input gradient dx is overwritten (=).
#pragma once

#include <cstdint>

#include "pycnn/check.h"
#include "pycnn/ops/pool2d.h"

namespace pycnn {

// One axis of the output size, padding split as ONNX pads (PyTorch's are pad_begin == pad_end):
// a convolution's window slides as a floor-mode pool's, so the formula is pool2d_out_size's.
// Non-positive when the dilated kernel is larger than the padded input.
inline int64_t conv2d_out_size(int64_t in, int64_t kernel, int64_t pad_begin, int64_t pad_end,
                               int64_t stride, int64_t dilation) {
  return pool2d_out_size(in, kernel, pad_begin, pad_end, stride, dilation, /*ceil_mode=*/false);
}

struct Conv2dShape {
  int64_t N, C_in, H, W;
  int64_t C_out, KH, KW;
  int64_t stride_h = 1, stride_w = 1;
  int64_t pad_h = 0, pad_w = 0;
  int64_t dil_h = 1, dil_w = 1;
  int64_t groups = 1;

  // The seeds' formula (W - F + 2P)/S + 1, with the dilated filter extent as F.
  int64_t out_h() const { return conv2d_out_size(H, KH, pad_h, pad_h, stride_h, dil_h); }
  int64_t out_w() const { return conv2d_out_size(W, KW, pad_w, pad_w, stride_w, dil_w); }
  int64_t cin_per_group() const { return C_in / groups; }
  int64_t cout_per_group() const { return C_out / groups; }
  // Rows of the im2col matrix of one group: one per (input channel, kernel row, kernel column).
  int64_t col_rows() const { return cin_per_group() * KH * KW; }
  // Raises ValueError naming what is wrong (non-positive sizes, groups, a kernel larger than the
  // padded input, ...).
  void validate() const {
    if (N < 0 || C_in <= 0 || H <= 0 || W <= 0)
      value_error("conv2d: input must have positive channels, height and width, got (N=", N,
                  ", C=", C_in, ", H=", H, ", W=", W, ")");
    if (C_out <= 0 || KH <= 0 || KW <= 0)
      value_error("conv2d: weight must have positive out_channels and kernel size, got (", C_out,
                  ", ", KH, ", ", KW, ")");
    if (stride_h <= 0 || stride_w <= 0)
      value_error("conv2d: stride must be positive, got (", stride_h, ", ", stride_w, ")");
    if (pad_h < 0 || pad_w < 0)
      value_error("conv2d: padding must be non-negative, got (", pad_h, ", ", pad_w, ")");
    if (dil_h <= 0 || dil_w <= 0)
      value_error("conv2d: dilation must be positive, got (", dil_h, ", ", dil_w, ")");
    check_window_bounds("conv2d", {{"input height", H},
                                   {"input width", W},
                                   {"kernel height", KH},
                                   {"kernel width", KW},
                                   {"stride", stride_h},
                                   {"stride", stride_w},
                                   {"padding", pad_h},
                                   {"padding", pad_w},
                                   {"dilation", dil_h},
                                   {"dilation", dil_w}});
    if (groups <= 0 || C_in % groups != 0 || C_out % groups != 0)
      value_error("conv2d: groups=", groups, " must divide in_channels=", C_in,
                  " and out_channels=", C_out);
    if (out_h() <= 0 || out_w() <= 0)  // floor division: exactly when the kernel does not fit
      value_error("conv2d: kernel (", dil_h * (KH - 1) + 1, ", ", dil_w * (KW - 1) + 1,
                  ") with dilation is larger than the padded input (", H + 2 * pad_h, ", ",
                  W + 2 * pad_w, ")");
  }
};

namespace cpu {
// y[N, C_out, OH, OW] = conv(x, w) + b
void conv2d_forward(float* y, const float* x, const float* w, const float* b, const Conv2dShape& s);
// dx[N, C_in, H, W] = ; dw[C_out, C_in/g, KH, KW] += ; db[C_out] += (each may be null to skip).
// dx_add (optional, like x): a gradient of x from elsewhere (the shortcut of a residual block) that
// dx then includes, summed in dx's own pass (the convolution's epilogue where dx is computed as one)
// instead of in a separate add over the whole tensor.
void conv2d_backward(float* dx, float* dw, float* db, const float* dy, const float* x,
                     const float* w, const Conv2dShape& s, const float* dx_add = nullptr);
// Whether conv2d_backward sums dw by Winograd (3x3 stride-1 layers, see conv2d.cpp), and the side of
// dy's blocks there: 2 for F(3x3, 2x2), 4 for F(3x3, 4x4), 0 where it does not.
bool conv2d_winograd_weight_grad(const Conv2dShape& s);
int64_t conv2d_winograd_weight_grad_tile(const Conv2dShape& s);
// Whether conv2d_backward sums dw with pixels along the vectors from column copies of the input
// (few input channels, short rows: LeNet-5's layers; see conv2d.cpp's weight gradient).
bool conv2d_weight_grad_column_copies(const Conv2dShape& s);
}  // namespace cpu

namespace cuda {
void conv2d_forward(float* y, const float* x, const float* w, const float* b, const Conv2dShape& s);
void conv2d_backward(float* dx, float* dw, float* db, const float* dy, const float* x,
                     const float* w, const Conv2dShape& s);
}  // namespace cuda

}  // namespace pycnn
