// softmax along one dimension of a tensor of any shape, numerically stable (the maximum along the
// dimension is subtracted before exp, so logits of 100 or 1000 do not overflow).
//
//   x, y [outer, dim, inner]   the tensor viewed around the softmax dimension:
//                              outer = prod of the sizes before it, inner = prod of those after
//   forward  y = exp(x - max) / sum(exp(x - max))
//   backward dx = y * (dy - sum_dim(dy * y))        (from the saved output)
//
// Accumulation contract: dx is overwritten (=). log_softmax (log_softmax.h) shares SoftmaxShape.
#pragma once

#include <cstdint>
#include <vector>

namespace pycnn {

struct SoftmaxShape {
  int64_t outer, dim, inner;
  // The view of a tensor of `shape` around dimension `dim` (negative counts from the end; a 0-d
  // tensor takes dim 0 or -1, as in PyTorch). Raises ValueError naming `op` when dim is out of range.
  static SoftmaxShape make(const std::vector<int64_t>& shape, int64_t dim, const char* op);
};

// softmax (LOG = false) and log_softmax (LOG = true) differ in two lines of each pass, so each
// backend has one kernel for both, defined (and instantiated for both) in softmax.cpp / softmax.cu;
// softmax_* here and log_softmax_* (log_softmax.h) are the entry points that call them.
namespace cpu {
void softmax_forward(float* y, const float* x, const SoftmaxShape& s);
void softmax_backward(float* dx, const float* dy, const float* y, const SoftmaxShape& s);
template <bool LOG>
void softmax_family_forward(float* y, const float* x, const SoftmaxShape& s);
template <bool LOG>
void softmax_family_backward(float* dx, const float* dy, const float* y, const SoftmaxShape& s);
}  // namespace cpu

namespace cuda {
void softmax_forward(float* y, const float* x, const SoftmaxShape& s);
void softmax_backward(float* dx, const float* dy, const float* y, const SoftmaxShape& s);
template <bool LOG>
void softmax_family_forward(float* y, const float* x, const SoftmaxShape& s);
template <bool LOG>
void softmax_family_backward(float* dx, const float* dy, const float* y, const SoftmaxShape& s);
}  // namespace cuda

}  // namespace pycnn
