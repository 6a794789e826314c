// cross_entropy binding: dtype, shape and hyper-parameter checks, device dispatch. The label range
// check runs in the kernels (cpu: before computing; cuda: on the device, reported back).
#include "pycnn/ops/cross_entropy.h"

#include "common.h"

namespace pycnn {

static CrossEntropyShape cross_entropy_shape(const Tensor& x, const Tensor& t, int64_t ignore_index,
                                             double label_smoothing, int64_t reduction,
                                             const char* op) {
  require_float(x, op, "input");
  require_dtype(t, DType::Int64, op, "target");
  require_same_device(x, t, op, "input", "target");
  if (x.ndim() == 0)
    value_error(op, ": expected input of shape (C,), (N, C) or (N, C, d1, ...), got shape ()");
  if (reduction < 0 || reduction > 2)
    value_error(op, ": unknown reduction code ", reduction, " (0 none, 1 mean, 2 sum)");
  if (!(label_smoothing >= 0.0 && label_smoothing <= 1.0))
    value_error(op, ": expected label_smoothing in [0, 1], got ", label_smoothing);
  CrossEntropyShape s;
  Shape target_shape;
  if (x.ndim() == 1) {  // one unbatched sample: logits (C,), target ()
    s.N = 1, s.C = x.size(0), s.inner = 1;
  } else {
    s.N = x.size(0), s.C = x.size(1), s.inner = 1;
    target_shape.push_back(s.N);
    for (int k = 2; k < x.ndim(); ++k) {
      s.inner *= x.size(k);
      target_shape.push_back(x.size(k));
    }
  }
  if (s.C == 0)
    value_error(op, ": expected at least one class, got input of shape ", shape_str(x.shape()));
  if (t.shape() != target_shape)
    value_error(op, ": expected target of shape ", shape_str(target_shape), " for input of shape ",
                shape_str(x.shape()), ", got target of shape ", shape_str(t.shape()));
  s.ignore_index = ignore_index;
  s.label_smoothing = static_cast<float>(label_smoothing);
  s.reduction = Reduction(reduction);
  return s;
}

// Returns (loss, valid): loss has the target's shape (reduction none) or is 0-d; valid is the number
// of non-ignored targets, which the backward needs for 'mean'.
static std::tuple<Tensor, int64_t> cross_entropy_forward(const Tensor& x, const Tensor& t,
                                                         int64_t ignore_index,
                                                         double label_smoothing,
                                                         int64_t reduction) {
  const CrossEntropyShape s =
      cross_entropy_shape(x, t, ignore_index, label_smoothing, reduction, "cross_entropy");
  Tensor loss = Tensor::empty(s.reduction == Reduction::None ? t.shape() : Shape{}, DType::Float32,
                              x.device());
  int64_t valid;
  if (x.is_cuda())
    PYCNN_ON_CUDA("cross_entropy",
                  valid = cuda::cross_entropy_forward(loss.f32(), x.f32(), t.i64(), s));
  else valid = cpu::cross_entropy_forward(loss.f32(), x.f32(), t.i64(), s);
  return {loss, valid};
}

static Tensor cross_entropy_backward(const Tensor& dloss, const Tensor& x, const Tensor& t,
                                     int64_t valid, int64_t ignore_index, double label_smoothing,
                                     int64_t reduction) {
  const CrossEntropyShape s =
      cross_entropy_shape(x, t, ignore_index, label_smoothing, reduction, "cross_entropy backward");
  require_float(dloss, "cross_entropy backward", "grad_output");
  require_shape(dloss, s.reduction == Reduction::None ? t.shape() : Shape{},
                "cross_entropy backward", "grad_output");
  require_same_device(dloss, x, "cross_entropy backward", "grad_output", "input");
  Tensor dx = Tensor::empty(x.shape(), DType::Float32, x.device());
  if (x.numel() == 0) return dx;
  if (x.is_cuda())
    PYCNN_ON_CUDA("cross_entropy",
                  cuda::cross_entropy_backward(dx.f32(), dloss.f32(), x.f32(), t.i64(), valid, s));
  else cpu::cross_entropy_backward(dx.f32(), dloss.f32(), x.f32(), t.i64(), valid, s);
  return dx;
}

void bind_cross_entropy(nb::module_& m) {
  m.def("cross_entropy_forward", &cross_entropy_forward, nb::arg("input"), nb::arg("target"),
        nb::arg("ignore_index"), nb::arg("label_smoothing"), nb::arg("reduction"),
        "reduction: 0 none, 1 mean, 2 sum. Returns (loss, number of non-ignored targets).");
  m.def("cross_entropy_backward", &cross_entropy_backward, nb::arg("grad_output"), nb::arg("input"),
        nb::arg("target"), nb::arg("valid"), nb::arg("ignore_index"), nb::arg("label_smoothing"),
        nb::arg("reduction"));
}

}  // namespace pycnn
