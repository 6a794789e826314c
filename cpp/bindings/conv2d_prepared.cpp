// conv2d_prepared binding: _C.PreparedConv2d, the inference convolution with weights packed once,
// exposed so Python can test and time it (the inference plan calls the C++ class directly).
#include "pycnn/ops/conv2d_prepared.h"

#include <limits>
#include <memory>

#include "shape_rules.h"

namespace pycnn {

static void require_cpu(const Tensor& t, const char* arg) {
  if (t.is_cuda())
    value_error("PreparedConv2d: expected ", arg, " on the cpu, got ", device_name(t.device()));
}

static cpu::PreparedConv2d* make_prepared(const Tensor& w, const std::optional<Tensor>& b,
                                          const Shape& input_shape, Pair stride, Pair padding,
                                          Pair dilation, int64_t groups) {
  require_float(w, "PreparedConv2d", "weight");
  require_cpu(w, "weight");
  const Conv2dShape s = conv2d_shape(input_shape, w.shape(), stride, padding, dilation, groups);
  if (b) {
    require_float(*b, "PreparedConv2d", "bias");
    require_cpu(*b, "bias");
    require_shape(*b, {s.C_out}, "PreparedConv2d", "bias");
  }
  return new cpu::PreparedConv2d(w.f32(), b ? b->f32() : nullptr, s);
}

// y = clamp(conv(x) + bias + residual, clamp_min, clamp_max); the GIL is released while it runs, so
// Python threads may share one object.
static Tensor prepared_forward(const cpu::PreparedConv2d& conv, const Tensor& x,
                               const std::optional<Tensor>& residual, float clamp_min,
                               float clamp_max) {
  const Conv2dShape& s = conv.shape();
  require_float(x, "PreparedConv2d.forward", "input");
  require_cpu(x, "input");
  require_shape(x, {s.N, s.C_in, s.H, s.W}, "PreparedConv2d.forward", "input");
  const Shape out_shape = conv2d_output_shape(s);
  cpu::Conv2dEpilogue e;
  if (residual) {
    require_float(*residual, "PreparedConv2d.forward", "residual");
    require_cpu(*residual, "residual");
    require_shape(*residual, out_shape, "PreparedConv2d.forward", "residual");
    e.residual = residual->f32();
  }
  e.clamp_min = clamp_min;
  e.clamp_max = clamp_max;
  Tensor y = Tensor::empty(out_shape, DType::Float32, Device::CPU);
  {
    nb::gil_scoped_release release;
    PYCNN_ON_CPU(conv.forward(y.f32(), x.f32(), e));
  }
  return y;
}

void bind_conv2d_prepared(nb::module_& m) {
  constexpr float inf = std::numeric_limits<float>::infinity();
  nb::class_<cpu::PreparedConv2d>(m, "PreparedConv2d")
      .def(
          "__init__",
          [](cpu::PreparedConv2d* self, const Tensor& w, const std::optional<Tensor>& b,
             const Shape& input_shape, Pair stride, Pair padding, Pair dilation, int64_t groups) {
            std::unique_ptr<cpu::PreparedConv2d> made(
                make_prepared(w, b, input_shape, stride, padding, dilation, groups));
            new (self) cpu::PreparedConv2d(std::move(*made));
          },
          nb::arg("weight"), nb::arg("bias").none(), nb::arg("input_shape"), nb::arg("stride"),
          nb::arg("padding"), nb::arg("dilation"), nb::arg("groups"),
          "Packs weight [C_out, C_in/groups, KH, KW] (and copies bias [C_out]) for inputs of "
          "input_shape (N, C_in, H, W).")
      .def("forward", &prepared_forward, nb::arg("input"), nb::arg("residual").none() = nb::none(),
           nb::arg("clamp_min") = -inf, nb::arg("clamp_max") = inf,
           "y [N, C_out, OH, OW] = clamp(conv(input) + bias + residual, clamp_min, clamp_max)")
      .def_prop_ro("output_shape",
                   [](const cpu::PreparedConv2d& c) { return conv2d_output_shape(c.shape()); });
}

}  // namespace pycnn
