// silu: y = x * sigmoid(x), elementwise over a tensor of any shape (torch.nn.SiLU, "swish").
//
//   forward  y[n]  = x / (1 + e^-x)                 (e^-x = inf for x < -88.7 gives -0, no NaN)
//   backward dx[n] = dy * s * (1 + x * (1 - s))     with s = 1 / (1 + e^-x), from the saved input
//                                                   (torch's silu_backward)
//
// Accumulation contract: dx is overwritten (=).
#pragma once

#include <cstdint>

namespace pycnn {

namespace cpu {
void silu_forward(float* y, const float* x, int64_t n);
void silu_backward(float* dx, const float* dy, const float* x, int64_t n);
}  // namespace cpu

namespace cuda {
void silu_forward(float* y, const float* x, int64_t n);
void silu_backward(float* dx, const float* dy, const float* x, int64_t n);
}  // namespace cuda

}  // namespace pycnn
