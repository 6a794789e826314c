// clip binding: _C.clip_forward(input, min, max), _C.clip_backward(grad_output, input, min,
// max); the checks and the dispatch are unary_activation.h's. A missing bound arrives as -inf /
// +inf (float(inf) stays inf).
#include "pycnn/ops/clip.h"

#include "unary_activation.h"

namespace pycnn {

void bind_clip(nb::module_& m) {
  const UnaryActivation<float, float> clip(
      "clip", "input", cpu::clip_forward, PYCNN_CUDA_LAUNCHER(cuda::clip_forward),
      cpu::clip_backward, PYCNN_CUDA_LAUNCHER(cuda::clip_backward));
  bind_unary_activation(m, clip, "min", "max");
}

}  // namespace pycnn
