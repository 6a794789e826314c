// relu binding: _C.relu_forward(input), _C.relu_backward(grad_output, output); the checks and
// the dispatch are unary_activation.h's. _C.relu_(input) writes relu(input) into input's own memory
// (CPU only: pycnn.nn.functional.relu(inplace=True) calls it when nothing else reads that memory).
#include "pycnn/ops/relu.h"

#include "unary_activation.h"

namespace pycnn {

void bind_relu(nb::module_& m) {
  const UnaryActivation<> relu("relu", "output", cpu::relu_forward,
                               PYCNN_CUDA_LAUNCHER(cuda::relu_forward), cpu::relu_backward,
                               PYCNN_CUDA_LAUNCHER(cuda::relu_backward));
  bind_unary_activation(m, relu);
  m.def(
      "relu_",
      [](Tensor& x) {
        require_float(x, "relu_", "input");
        if (x.is_cuda()) value_error("relu_: expected a CPU tensor, got a CUDA one");
        if (x.numel() > 0) PYCNN_ON_CPU(cpu::relu_forward(x.f32(), x.f32(), x.numel()));
        x.bump_version();  // autograd then refuses a graph that saved the old values
      },
      nb::arg("input"));
}

}  // namespace pycnn
