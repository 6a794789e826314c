// relu binding: _C.relu_forward(input), _C.relu_backward(grad_output, output); the checks and
// the dispatch are unary_activation.h's.
#include "pycnn/ops/relu.h"

#include "unary_activation.h"

namespace pycnn {

void bind_relu(nb::module_& m) {
  const UnaryActivation<> relu("relu", "output", cpu::relu_forward,
                               PYCNN_CUDA_LAUNCHER(cuda::relu_forward), cpu::relu_backward,
                               PYCNN_CUDA_LAUNCHER(cuda::relu_backward));
  bind_unary_activation(m, relu);
}

}  // namespace pycnn
