// sigmoid: y = 1 / (1 + exp(-x)), elementwise over a tensor of any shape.
//
//   forward  y[n]  = 1 / (1 + exp(-x))   (exp(-x) overflows to inf for x < -88, giving 0, not NaN)
//   backward dx[n] = dy * y * (1 - y)    (from the saved output)
//
// Accumulation contract: dx is overwritten (=).
#pragma once

#include <cstdint>

namespace pycnn {

namespace cpu {
void sigmoid_forward(float* y, const float* x, int64_t n);
void sigmoid_backward(float* dx, const float* dy, const float* y, int64_t n);
}  // namespace cpu

namespace cuda {
void sigmoid_forward(float* y, const float* x, int64_t n);
void sigmoid_backward(float* dx, const float* dy, const float* y, int64_t n);
}  // namespace cuda

}  // namespace pycnn
