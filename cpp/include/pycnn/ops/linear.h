// linear: fully connected layer, y = x @ w^T + b, as torch.nn.functional.linear.
//
//   input  x [N, in]   (leading dimensions flattened into N by the binding)
//   weight w [out, in]
//   bias   b [out] (may be null)
//   output y [N, out]
//
// Accumulation contract: dw += , db += ; dx = .
#pragma once

#include <cstdint>

namespace pycnn {

struct LinearShape {
  int64_t N, in_features, out_features;
};

namespace cpu {
void linear_forward(float* y, const float* x, const float* w, const float* b, const LinearShape& s);
void linear_backward(float* dx, float* dw, float* db, const float* dy, const float* x,
                     const float* w, const LinearShape& s);
}  // namespace cpu

namespace cuda {
void linear_forward(float* y, const float* x, const float* w, const float* b, const LinearShape& s);
void linear_backward(float* dx, float* dw, float* db, const float* dy, const float* x,
                     const float* w, const LinearShape& s);
}  // namespace cuda

}  // namespace pycnn
