// sigmoid binding: _C.sigmoid_forward(input), _C.sigmoid_backward(grad_output, output); the
// checks and the dispatch are unary_activation.h's.
#include "pycnn/ops/sigmoid.h"

#include "unary_activation.h"

namespace pycnn {

void bind_sigmoid(nb::module_& m) {
  const UnaryActivation<> sigmoid("sigmoid", "output", cpu::sigmoid_forward,
                                  PYCNN_CUDA_LAUNCHER(cuda::sigmoid_forward), cpu::sigmoid_backward,
                                  PYCNN_CUDA_LAUNCHER(cuda::sigmoid_backward));
  bind_unary_activation(m, sigmoid);
}

}  // namespace pycnn
