// softplus binding: _C.softplus_forward(input, beta, threshold),
// _C.softplus_backward(grad_output, input, beta, threshold); the checks and the dispatch are
// unary_activation.h's.
#include "pycnn/ops/softplus.h"

#include "unary_activation.h"

namespace pycnn {

void bind_softplus(nb::module_& m) {
  const UnaryActivation<float, float> softplus(
      "softplus", "input", cpu::softplus_forward, PYCNN_CUDA_LAUNCHER(cuda::softplus_forward),
      cpu::softplus_backward, PYCNN_CUDA_LAUNCHER(cuda::softplus_backward));
  bind_unary_activation(m, softplus, "beta", "threshold");
}

}  // namespace pycnn
