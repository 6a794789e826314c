// dropout binding: checks, device dispatch, and philox4x32 exposed for the known-answer test.
#include "pycnn/ops/dropout.h"

#include <nanobind/stl/array.h>

#include <array>

#include "common.h"
#include "pycnn/philox.h"

namespace pycnn {

static void check_p(double p) {
  if (!(p >= 0.0 && p <= 1.0)) value_error("dropout: expected p in [0, 1], got ", p);
}

// Returns (output, mask); the mask holds 1/(1-p) where kept and 0 where dropped.
static std::tuple<Tensor, Tensor> dropout_forward(const Tensor& x, double p, uint64_t seed) {
  require_float(x, "dropout", "input");
  check_p(p);
  DropoutShape s{x.numel(), static_cast<float>(p), seed};
  Tensor y = Tensor::empty(x.shape(), DType::Float32, x.device());
  Tensor mask = Tensor::empty(x.shape(), DType::Float32, x.device());
  if (s.numel == 0) return {y, mask};
  if (x.is_cuda()) PYCNN_ON_CUDA("dropout", cuda::dropout_forward(y.f32(), mask.f32(), x.f32(), s));
  else cpu::dropout_forward(y.f32(), mask.f32(), x.f32(), s);
  return {y, mask};
}

static Tensor dropout_backward(const Tensor& dy, const Tensor& mask) {
  require_float(dy, "dropout backward", "grad_output");
  require_float(mask, "dropout backward", "mask");
  require_shape(dy, mask.shape(), "dropout backward", "grad_output");
  require_same_device(dy, mask, "dropout backward", "grad_output", "mask");
  DropoutShape s{dy.numel(), 0.0f, 0};
  Tensor dx = Tensor::empty(dy.shape(), DType::Float32, dy.device());
  if (s.numel == 0) return dx;
  if (dy.is_cuda())
    PYCNN_ON_CUDA("dropout", cuda::dropout_backward(dx.f32(), dy.f32(), mask.f32(), s));
  else cpu::dropout_backward(dx.f32(), dy.f32(), mask.f32(), s);
  return dx;
}

static std::array<uint32_t, 4> philox4x32_binding(const std::array<uint32_t, 4>& counter,
                                                  const std::array<uint32_t, 2>& key) {
  const Philox4x32 r =
      philox4x32(Philox4x32{{counter[0], counter[1], counter[2], counter[3]}}, key[0], key[1]);
  return {r.v[0], r.v[1], r.v[2], r.v[3]};
}

void bind_dropout(nb::module_& m) {
  m.def("dropout_forward", &dropout_forward, nb::arg("input"), nb::arg("p"), nb::arg("seed"),
        "Returns (output, mask).");
  m.def("dropout_backward", &dropout_backward, nb::arg("grad_output"), nb::arg("mask"));
  m.def(
      "philox4x32", &philox4x32_binding, nb::arg("counter"), nb::arg("key"),
      "Philox4x32-10 of a 4-word counter and a 2-word key (the generator behind dropout's mask).");
}

}  // namespace pycnn
