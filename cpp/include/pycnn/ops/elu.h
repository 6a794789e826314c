// elu: y = x > 0 ? x : alpha * (e^x - 1), elementwise over a tensor of any shape (torch.nn.ELU with
// scale = input_scale = 1).
//
//   forward  y[n]  = x <= 0 ? alpha * expm1(x) : x
//   backward dx[n] = x <= 0 ? dy * alpha * e^x : dy   (from the saved input, as torch's
//                                                     elu_backward with is_result = false; a NaN
//                                                     input takes the dy branch, as there)
//
// Accumulation contract: dx is overwritten (=); alpha is a constant, not a parameter.
#pragma once

#include <cstdint>

namespace pycnn {

namespace cpu {
void elu_forward(float* y, const float* x, float alpha, int64_t n);
void elu_backward(float* dx, const float* dy, const float* x, float alpha, int64_t n);
}  // namespace cpu

namespace cuda {
void elu_forward(float* y, const float* x, float alpha, int64_t n);
void elu_backward(float* dx, const float* dy, const float* x, float alpha, int64_t n);
}  // namespace cuda

}  // namespace pycnn
