// log_softmax on CUDA (log_softmax.h): the kernels are softmax's (softmax.cu) with LOG = true,
// since the two differ in two lines of each pass.
#include "pycnn/ops/log_softmax.h"

namespace pycnn::cuda {

void log_softmax_forward(float* y, const float* x, const SoftmaxShape& s) {
  softmax_family_forward<true>(y, x, s);
}

void log_softmax_backward(float* dx, const float* dy, const float* y, const SoftmaxShape& s) {
  softmax_family_backward<true>(dx, dy, y, s);
}

}  // namespace pycnn::cuda
