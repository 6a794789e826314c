// elementwise binding: broadcasting add/sub/mul/div and sum_to, with device dispatch.
#include "pycnn/ops/elementwise.h"

#include "common.h"

namespace pycnn {

static Tensor binary_forward(const Tensor& a, const Tensor& b, int op) {
  static const char* names[] = {"add", "sub", "mul", "div"};
  if (op < 0 || op > 3) value_error("elementwise: unknown op code ", op);
  const char* name = names[op];
  require_float(a, name, "input");
  require_float(b, name, "other");
  require_same_device(a, b, name, "input", "other");
  BroadcastShape s = BroadcastShape::make(a.shape(), b.shape(), name);
  Tensor out = Tensor::empty(s.out, DType::Float32, a.device());
  if (a.is_cuda())
    PYCNN_ON_CUDA(name, cuda::binary_forward(out.f32(), a.f32(), b.f32(), BinaryOp(op), s));
  else cpu::binary_forward(out.f32(), a.f32(), b.f32(), BinaryOp(op), s);
  return out;
}

static Tensor sum_to(const Tensor& in, const Shape& shape) {
  require_float(in, "sum_to", "input");
  bool ok = shape.size() <= in.shape().size();
  for (size_t k = 0; ok && k < shape.size(); ++k) {
    int64_t d = shape[shape.size() - 1 - k], e = in.shape()[in.shape().size() - 1 - k];
    ok = d == e || d == 1;
  }
  if (!ok)
    value_error("sum_to: shape ", shape_str(shape), " does not broadcast to the input's shape ",
                shape_str(in.shape()));
  Tensor out = Tensor::empty(shape, DType::Float32, in.device());
  if (in.is_cuda()) PYCNN_ON_CUDA("sum_to", cuda::sum_to(out.f32(), in.f32(), in.shape(), shape));
  else cpu::sum_to(out.f32(), in.f32(), in.shape(), shape);
  return out;
}

// acc += other, in place (same shape, same device): how a gradient accumulates into .grad without
// a new allocation per backward pass. Elementwise, so reading and writing acc in one pass is safe.
static void add_inplace(Tensor& acc, const Tensor& other) {
  require_float(acc, "add_", "self");
  require_float(other, "add_", "other");
  require_shape(other, acc.shape(), "add_", "other");
  require_same_device(acc, other, "add_", "self", "other");
  BroadcastShape s = BroadcastShape::make(acc.shape(), other.shape(), "add_");
  if (acc.is_cuda())
    PYCNN_ON_CUDA("add_",
                  cuda::binary_forward(acc.f32(), acc.f32(), other.f32(), BinaryOp::Add, s));
  else cpu::binary_forward(acc.f32(), acc.f32(), other.f32(), BinaryOp::Add, s);
  acc.bump_version();
}

void bind_elementwise(nb::module_& m) {
  m.def("add_inplace", &add_inplace, nb::arg("self"), nb::arg("other"));
  m.def("binary_forward", &binary_forward, nb::arg("input"), nb::arg("other"), nb::arg("op"),
        "op: 0 add, 1 sub, 2 mul, 3 div; numpy broadcasting.");
  m.def("sum_to", &sum_to, nb::arg("input"), nb::arg("shape"));
}

}  // namespace pycnn
