// softplus: y = log(1 + e^(beta x)) / beta, and y = x where beta x > threshold, elementwise over a
// tensor of any shape (torch.nn.Softplus).
//
//   forward  y[n]  = beta x > threshold ? x : (max(beta x, 0) + log1p(e^-|beta x|)) / beta
//                    (the same value as torch's log1p(e^(beta x)) / beta, but e^-|beta x| <= 1
//                    never overflows, so a large threshold still gives finite results)
//   backward dx[n] = beta x > threshold ? dy : dy * sigmoid(beta x)   (from the saved input)
//
// Accumulation contract: dx is overwritten (=); beta and threshold are constants.
#pragma once

#include <cstdint>

namespace pycnn {

namespace cpu {
void softplus_forward(float* y, const float* x, float beta, float threshold, int64_t n);
void softplus_backward(float* dx, const float* dy, const float* x, float beta, float threshold,
                       int64_t n);
}  // namespace cpu

namespace cuda {
void softplus_forward(float* y, const float* x, float beta, float threshold, int64_t n);
void softplus_backward(float* dx, const float* dy, const float* x, float beta, float threshold,
                       int64_t n);
}  // namespace cuda

}  // namespace pycnn
