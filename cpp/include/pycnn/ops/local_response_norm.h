// local_response_norm: normalisation across neighbouring channels (AlexNet), as
// torch.nn.functional.local_response_norm.
//
//   input x [N, C, inner] (any trailing dims flattened into inner), output y of the same shape
//   scale s[n, c, i] = k + alpha / size * sum_{j in window(c)} x[n, j, i]^2
//   y = x * s^-beta
// window(c) = [c - before, c + after] clipped to [0, C) (zero padding; the divisor stays `size`),
// after = size - 1 - before. PyTorch: before = size / 2; ONNX's LRN: before = (size - 1) / 2 (they
// differ for even sizes).
//
// Backward (exact): with work[c] = dy[c] * x[c] * s[c]^(-beta-1),
//   dx[j] = dy[j] * s[j]^-beta - 2 * alpha * beta / size * x[j] * sum_{c : j in window(c)} work[c]
// and j in window(c) iff c in [j - after, j + before]. dx is overwritten (=); there are no parameters.
#pragma once

#include <cstdint>

namespace pycnn {

struct LocalResponseNormShape {
  int64_t N, C, inner;
  int64_t size, before;
  float alpha, beta, k;
  int64_t after() const { return size - 1 - before; }
};

namespace cpu {
// scale [N, C, inner] is saved for backward.
void local_response_norm_forward(float* y, float* scale, const float* x,
                                 const LocalResponseNormShape& s);
// work [N, C, inner]: scratch.
void local_response_norm_backward(float* dx, float* work, const float* dy, const float* x,
                                  const float* scale, const LocalResponseNormShape& s);
}  // namespace cpu

namespace cuda {
void local_response_norm_forward(float* y, float* scale, const float* x,
                                 const LocalResponseNormShape& s);
void local_response_norm_backward(float* dx, float* work, const float* dy, const float* x,
                                  const float* scale, const LocalResponseNormShape& s);
}  // namespace cuda

}  // namespace pycnn
