// dropout: inverted dropout with a counter-based mask, as torch.nn.functional.dropout in training.
//
//   input x [numel], output y [numel], mask [numel] (saved for backward)
//   element i is kept iff philox_uniform(seed, i) >= p (pycnn/philox.h), so the CPU and CUDA kernels
//   draw the same mask for the same seed; mask[i] = kept ? 1 / (1 - p) : 0 (0 everywhere when p == 1)
//   y = x * mask;  backward: dx = dy * mask (overwritten, =)
#pragma once

#include <cstdint>

namespace pycnn {

struct DropoutShape {
  int64_t numel;
  float p;
  uint64_t seed;
  float scale() const { return p < 1.0f ? 1.0f / (1.0f - p) : 0.0f; }
};

namespace cpu {
void dropout_forward(float* y, float* mask, const float* x, const DropoutShape& s);
void dropout_backward(float* dx, const float* dy, const float* mask, const DropoutShape& s);
}  // namespace cpu

namespace cuda {
void dropout_forward(float* y, float* mask, const float* x, const DropoutShape& s);
void dropout_backward(float* dx, const float* dy, const float* mask, const DropoutShape& s);
}  // namespace cuda

}  // namespace pycnn
