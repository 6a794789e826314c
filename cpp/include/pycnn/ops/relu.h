// relu: y = max(x, 0), elementwise over a tensor of any shape (flat arrays of n floats).
//
//   forward  y[n] = x > 0 ? x : 0
//   backward dx[n] = y > 0 ? dy : 0   (from the saved output: y > 0 exactly where x > 0)
//
// Accumulation contract: dx is overwritten (=); relu has no parameters.
#pragma once

#include <cstdint>

namespace pycnn {

namespace cpu {
void relu_forward(float* y, const float* x, int64_t n);
void relu_backward(float* dx, const float* dy, const float* y, int64_t n);
}  // namespace cpu

namespace cuda {
void relu_forward(float* y, const float* x, int64_t n);
void relu_backward(float* dx, const float* dy, const float* y, int64_t n);
}  // namespace cuda

}  // namespace pycnn
