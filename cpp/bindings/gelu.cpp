// gelu binding: _C.gelu_forward(input, approximate), _C.gelu_backward(grad_output, input,
// approximate); the checks and the dispatch are unary_activation.h's, the mode string is parsed
// here.
#include "pycnn/ops/gelu.h"

#include <nanobind/stl/string.h>

#include "unary_activation.h"

namespace pycnn {

// torch's two modes; anything else is refused by name.
static std::tuple<bool> parse_approximate(const std::string& approximate, const char* op) {
  if (approximate == "none") return {false};
  if (approximate == "tanh") return {true};
  value_error(op, ": expected approximate to be 'none' or 'tanh', got '", approximate, "'");
}

void bind_gelu(nb::module_& m) {
  static constexpr UnaryActivation<bool> gelu(
      "gelu", "input", cpu::gelu_forward, PYCNN_CUDA_LAUNCHER(cuda::gelu_forward),
      cpu::gelu_backward, PYCNN_CUDA_LAUNCHER(cuda::gelu_backward));
  m.def(
      "gelu_forward",
      [](const Tensor& x, const std::string& approximate) {
        return unary_activation_forward(
            gelu, x, [&](const char* op) { return parse_approximate(approximate, op); });
      },
      nb::arg("input"), nb::arg("approximate"));
  m.def(
      "gelu_backward",
      [](const Tensor& dy, const Tensor& x, const std::string& approximate) {
        return unary_activation_backward(
            gelu, dy, x, [&](const char* op) { return parse_approximate(approximate, op); });
      },
      nb::arg("grad_output"), nb::arg("input"), nb::arg("approximate"));
}

}  // namespace pycnn
