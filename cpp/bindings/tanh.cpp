// tanh binding: _C.tanh_forward(input), _C.tanh_backward(grad_output, output); the checks and
// the dispatch are unary_activation.h's.
#include "pycnn/ops/tanh.h"

#include "unary_activation.h"

namespace pycnn {

void bind_tanh(nb::module_& m) {
  const UnaryActivation<> tanh("tanh", "output", cpu::tanh_forward,
                               PYCNN_CUDA_LAUNCHER(cuda::tanh_forward), cpu::tanh_backward,
                               PYCNN_CUDA_LAUNCHER(cuda::tanh_backward));
  bind_unary_activation(m, tanh);
}

}  // namespace pycnn
