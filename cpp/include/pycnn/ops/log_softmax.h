// log_softmax along one dimension of a tensor of any shape, numerically stable:
// y = (x - max) - log(sum(exp(x - max))), so it stays finite where log(softmax(x)) would give -inf.
//
//   x, y [outer, dim, inner]   (SoftmaxShape from softmax.h)
//   backward dx = dy - exp(y) * sum_dim(dy)          (from the saved output)
//
// Accumulation contract: dx is overwritten (=).
#pragma once

#include "pycnn/ops/softmax.h"

namespace pycnn {

namespace cpu {
void log_softmax_forward(float* y, const float* x, const SoftmaxShape& s);
void log_softmax_backward(float* dx, const float* dy, const float* y, const SoftmaxShape& s);
}  // namespace cpu

namespace cuda {
void log_softmax_forward(float* y, const float* x, const SoftmaxShape& s);
void log_softmax_backward(float* dx, const float* dy, const float* y, const SoftmaxShape& s);
}  // namespace cuda

}  // namespace pycnn
