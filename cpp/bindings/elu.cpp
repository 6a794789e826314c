// elu binding: _C.elu_forward(input, alpha), _C.elu_backward(grad_output, input, alpha); the
// checks and the dispatch are unary_activation.h's.
#include "pycnn/ops/elu.h"

#include "unary_activation.h"

namespace pycnn {

void bind_elu(nb::module_& m) {
  const UnaryActivation<float> elu("elu", "input", cpu::elu_forward,
                                   PYCNN_CUDA_LAUNCHER(cuda::elu_forward), cpu::elu_backward,
                                   PYCNN_CUDA_LAUNCHER(cuda::elu_backward));
  bind_unary_activation(m, elu, "alpha");
}

}  // namespace pycnn
