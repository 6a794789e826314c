// silu binding: _C.silu_forward(input), _C.silu_backward(grad_output, input); the checks and
// the dispatch are unary_activation.h's.
#include "pycnn/ops/silu.h"

#include "unary_activation.h"

namespace pycnn {

void bind_silu(nb::module_& m) {
  const UnaryActivation<> silu("silu", "input", cpu::silu_forward,
                               PYCNN_CUDA_LAUNCHER(cuda::silu_forward), cpu::silu_backward,
                               PYCNN_CUDA_LAUNCHER(cuda::silu_backward));
  bind_unary_activation(m, silu);
}

}  // namespace pycnn
