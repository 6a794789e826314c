// leaky_relu: y = x > 0 ? x : negative_slope * x, elementwise over a tensor of any shape.
//
//   forward  y[n]  = x > 0 ? x : slope * x
//   backward dx[n] = x > 0 ? dy : slope * dy   (from the saved input, as PyTorch: the sign of y
//                                               says nothing about x when the slope is negative)
//
// Accumulation contract: dx is overwritten (=); negative_slope is a constant, not a parameter.
#pragma once

#include <cstdint>

namespace pycnn {

namespace cpu {
void leaky_relu_forward(float* y, const float* x, float negative_slope, int64_t n);
void leaky_relu_backward(float* dx, const float* dy, const float* x, float negative_slope,
                         int64_t n);
}  // namespace cpu

namespace cuda {
void leaky_relu_forward(float* y, const float* x, float negative_slope, int64_t n);
void leaky_relu_backward(float* dx, const float* dy, const float* x, float negative_slope,
                         int64_t n);
}  // namespace cuda

}  // namespace pycnn
