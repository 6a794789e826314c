// clip: y = min(max(x, lo), hi), elementwise over a tensor of any shape (torch.clip / torch.clamp,
// ONNX Clip). A missing bound is passed as -inf / +inf.
//
//   forward  y[n]  = min(max(x, lo), hi)        (lo > hi gives hi everywhere, as torch.clamp)
//   backward dx[n] = lo <= x <= hi ? dy : 0     (from the saved input, as torch.clamp's backward)
//
// Accumulation contract: dx is overwritten (=); the bounds are constants.
#pragma once

#include <cstdint>

namespace pycnn {

namespace cpu {
void clip_forward(float* y, const float* x, float lo, float hi, int64_t n);
void clip_backward(float* dx, const float* dy, const float* x, float lo, float hi, int64_t n);
}  // namespace cpu

namespace cuda {
void clip_forward(float* y, const float* x, float lo, float hi, int64_t n);
void clip_backward(float* dx, const float* dy, const float* x, float lo, float hi, int64_t n);
}  // namespace cuda

}  // namespace pycnn
