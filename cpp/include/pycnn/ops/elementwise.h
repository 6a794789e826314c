// elementwise: add, sub, mul, div of two tensors with numpy/PyTorch broadcasting, and sum_to, the
// reduction that brings a broadcast result's gradient back to an operand's shape.
//
//   out[broadcast(a, b)] = a (op) b
//   sum_to: out[out_shape] = sum of in[in_shape] over the dimensions broadcast from out_shape
//
// Residual connections (same shapes), biases ((N, C, H, W) with (1, C, 1, 1)) and scalars (shape ())
// are all this one op; the autograd layer builds the backward from mul/div and sum_to.
#pragma once

#include <cstdint>
#include <vector>

#include "pycnn/tensor.h"

namespace pycnn {

enum class BinaryOp : int { Add = 0, Sub = 1, Mul = 2, Div = 3 };

struct BroadcastShape {
  Shape out;
  std::vector<int64_t> a_strides, b_strides;  // per output dimension; 0 where broadcast
  // Raises ValueError naming both shapes when they do not broadcast.
  static BroadcastShape make(const Shape& a, const Shape& b, const char* op);
};

namespace cpu {
void binary_forward(float* out, const float* a, const float* b, BinaryOp op,
                    const BroadcastShape& s);
void sum_to(float* out, const float* in, const Shape& in_shape, const Shape& out_shape);
}  // namespace cpu

namespace cuda {
void binary_forward(float* out, const float* a, const float* b, BinaryOp op,
                    const BroadcastShape& s);
void sum_to(float* out, const float* in, const Shape& in_shape, const Shape& out_shape);
}  // namespace cuda

}  // namespace pycnn
