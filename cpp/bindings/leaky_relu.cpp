// leaky_relu binding: _C.leaky_relu_forward(input, negative_slope),
// _C.leaky_relu_backward(grad_output, input, negative_slope); the checks and the dispatch are
// unary_activation.h's.
#include "pycnn/ops/leaky_relu.h"

#include "unary_activation.h"

namespace pycnn {

void bind_leaky_relu(nb::module_& m) {
  const UnaryActivation<float> leaky_relu(
      "leaky_relu", "input", cpu::leaky_relu_forward, PYCNN_CUDA_LAUNCHER(cuda::leaky_relu_forward),
      cpu::leaky_relu_backward, PYCNN_CUDA_LAUNCHER(cuda::leaky_relu_backward));
  bind_unary_activation(m, leaky_relu, "negative_slope");
}

}  // namespace pycnn
