// tanh: y = tanh(x), elementwise over a tensor of any shape.
//
//   forward  y[n]  = tanh(x)
//   backward dx[n] = dy * (1 - y * y)   (from the saved output)
//
// Accumulation contract: dx is overwritten (=).
#pragma once

#include <cstdint>

namespace pycnn {

namespace cpu {
void tanh_forward(float* y, const float* x, int64_t n);
void tanh_backward(float* dx, const float* dy, const float* y, int64_t n);
}  // namespace cpu

namespace cuda {
void tanh_forward(float* y, const float* x, int64_t n);
void tanh_backward(float* dx, const float* dy, const float* y, int64_t n);
}  // namespace cuda

}  // namespace pycnn
