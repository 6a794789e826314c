// Pool2dShape: the window geometry shared by max_pool2d and avg_pool2d (NCHW, per-axis kernel,
// stride, padding, dilation and ceil_mode), read alike by the CPU kernels, the CUDA kernels, the
// bindings and, through _C.pool_output_size / _C.pool2d_output_shape, Python and the ONNX importer.
//
// Output size along one axis, exactly as PyTorch computes it (pooling_output_shape), with the
// padding split into the part before and the part after the input (ONNX pads may differ; PyTorch's
// are equal):
//   out = floor_or_ceil((in + pad_begin + pad_end - dil*(k-1) - 1) / stride) + 1
// and with ceil_mode, if (out-1)*stride >= in + pad_begin then out -= 1: the last window must start
// inside the input or its leading padding, never wholly in the trailing padding (PyTorch's
// pooling_output_shape_pad_lr; with PyTorch's pad <= kernel/2 only a window that ceil added is
// ever dropped).
#pragma once

#include <cstdint>
#include <string>

#include "pycnn/check.h"
#include "pycnn/host_device.h"

namespace pycnn {

// One axis of the output-size formula above. Callers check stride > 0 and the bounds first. A non-positive result
// means the window does not fit the padded input.
inline int64_t pool2d_out_size(int64_t in, int64_t kernel, int64_t pad_begin, int64_t pad_end,
                               int64_t stride, int64_t dilation, bool ceil_mode) {
  const int64_t span =
      in + pad_begin + pad_end - dilation * (kernel - 1) - 1 + (ceil_mode ? stride - 1 : 0);
  // Floor division also for a negative span (a kernel larger than the padded input): C++ truncates
  // toward zero, which would turn -1/2 into a valid-looking output of size 1.
  int64_t out = (span >= 0 ? span / stride : -((-span + stride - 1) / stride)) + 1;
  if (ceil_mode && (out - 1) * stride >= in + pad_begin) --out;
  return out;
}

// The windows [lo, hi) along one axis whose span covers input index i: window o spans
// [o*stride - pad, o*stride - pad + dilation*(kernel-1)], so o*stride lies in
// [i + pad - dilation*(kernel-1), i + pad]. With dilation > 1 a window may span i without a tap on
// it. The CUDA backward kernels gather over these windows, one thread per input element.
struct PoolWindows {
  int64_t lo, hi;
};
PYCNN_HOST_DEVICE inline PoolWindows pool_windows_over(int64_t i, int64_t stride, int64_t pad,
                                                       int64_t dilation, int64_t kernel,
                                                       int64_t out) {
  const int64_t extent = dilation * (kernel - 1) + 1;
  const int64_t lo = i + pad < extent ? 0 : (i + pad - extent) / stride + 1;
  const int64_t hi = (i + pad) / stride + 1;
  return {lo, hi < out ? hi : out};
}

struct Pool2dShape {
  int64_t N, C, H, W;
  int64_t KH, KW;
  int64_t stride_h = 1, stride_w = 1;
  int64_t pad_h = 0, pad_w = 0;
  int64_t dil_h = 1, dil_w = 1;
  bool ceil_mode = false;

  int64_t out_h() const { return pool2d_out_size(H, KH, pad_h, pad_h, stride_h, dil_h, ceil_mode); }
  int64_t out_w() const { return pool2d_out_size(W, KW, pad_w, pad_w, stride_w, dil_w, ceil_mode); }
  int64_t planes() const { return N * C; }

  // Raises ValueError, naming `op`, for non-positive input sizes, kernel, stride or dilation, a
  // negative padding, padding over half the kernel (PyTorch's rule: every window must hold an input
  // element) or a window that does not fit the padded input.
  void validate(const char* op) const {
    if (N < 0 || C <= 0 || H <= 0 || W <= 0)
      value_error(op, ": input must have positive channels, height and width, got (N=", N,
                  ", C=", C, ", H=", H, ", W=", W, ")");
    if (KH <= 0 || KW <= 0)
      value_error(op, ": kernel_size must be positive, got (", KH, ", ", KW, ")");
    if (stride_h <= 0 || stride_w <= 0)
      value_error(op, ": stride must be positive, got (", stride_h, ", ", stride_w, ")");
    if (dil_h <= 0 || dil_w <= 0)
      value_error(op, ": dilation must be positive, got (", dil_h, ", ", dil_w, ")");
    if (pad_h < 0 || pad_w < 0)
      value_error(op, ": padding must be non-negative, got (", pad_h, ", ", pad_w, ")");
    check_window_bounds(op, {{"input height", H},
                             {"input width", W},
                             {"kernel height", KH},
                             {"kernel width", KW},
                             {"stride", stride_h},
                             {"stride", stride_w},
                             {"dilation", dil_h},
                             {"dilation", dil_w}});
    if (pad_h > KH / 2 || pad_w > KW / 2)
      value_error(op, ": padding should be at most half of kernel_size, got padding=(", pad_h, ", ",
                  pad_w, ") and kernel_size=(", KH, ", ", KW, ")");
    if (out_h() <= 0 || out_w() <= 0) {
      const std::string dilated =
          dil_h == 1 && dil_w == 1 ? "" : concat(" with dilation (", dil_h, ", ", dil_w, ")");
      value_error(op, ": kernel_size (", KH, ", ", KW, ")", dilated, " does not fit the input (", H,
                  ", ", W, ") padded by (", pad_h, ", ", pad_w, "): output size would be (",
                  out_h(), ", ", out_w(), ")");
    }
  }
};

}  // namespace pycnn
