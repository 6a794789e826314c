// cat binding: checks naming the offending tensor by its index, device dispatch.
#include "pycnn/ops/cat.h"

#include "common.h"

namespace pycnn {

// Normalises dim (negative counts from the end) and checks every tensor against tensor 0.
static CatShape cat_shape(const std::vector<Tensor>& xs, int64_t& dim) {
  if (xs.empty()) value_error("cat: expected a non-empty list of tensors, got an empty one");
  for (size_t k = 0; k < xs.size(); ++k) {
    const std::string arg = concat("tensors[", k, "]");
    require_float(xs[k], "cat", arg.c_str());
  }
  const Tensor& first = xs[0];
  const int64_t ndim = first.ndim();
  if (ndim == 0) value_error("cat: tensors[0] is 0-dimensional and cannot be concatenated");
  if (dim < -ndim || dim >= ndim)
    value_error("cat: expected dim in [", -ndim, ", ", ndim - 1, "] for tensors of ", ndim,
                " dimensions, got ", dim);
  if (dim < 0) dim += ndim;
  for (size_t k = 1; k < xs.size(); ++k) {
    const Tensor& t = xs[k];
    if (t.device() != first.device())
      value_error("cat: expected all tensors on the same device, tensors[0] is on ",
                  device_name(first.device()), " and tensors[", k, "] on ",
                  device_name(t.device()));
    if (t.ndim() != ndim)
      value_error("cat: expected tensors[", k, "] to have ", ndim, " dimensions like tensors[0] ",
                  shape_str(first.shape()), ", got shape ", shape_str(t.shape()));
    for (int64_t axis = 0; axis < ndim; ++axis)
      if (axis != dim && t.size(axis) != first.size(axis))
        value_error("cat: expected tensors[", k, "] to match tensors[0] ", shape_str(first.shape()),
                    " except in dimension ", dim, ", got shape ", shape_str(t.shape()),
                    " (dimension ", axis, " differs)");
  }
  CatShape s{1, 1, {}};
  for (int64_t axis = 0; axis < dim; ++axis) s.outer *= first.size(axis);
  for (int64_t axis = dim + 1; axis < ndim; ++axis) s.inner *= first.size(axis);
  for (const Tensor& t : xs) s.sizes.push_back(t.size(dim));
  return s;
}

static Tensor cat_forward(const std::vector<Tensor>& xs, int64_t dim) {
  CatShape s = cat_shape(xs, dim);
  Shape out_shape = xs[0].shape();
  out_shape[dim] = s.total();
  Tensor y = Tensor::empty(out_shape, DType::Float32, xs[0].device());
  std::vector<const float*> ptrs;
  for (const Tensor& t : xs) ptrs.push_back(t.f32());
  if (y.numel() == 0) return y;
  if (y.is_cuda()) PYCNN_ON_CUDA("cat", cuda::cat_forward(y.f32(), ptrs, s));
  else cpu::cat_forward(y.f32(), ptrs, s);
  return y;
}

// Returns one gradient per input (None where need_grad is false). `inputs` only supply the shapes.
static std::vector<std::optional<Tensor>> cat_backward(const Tensor& dy,
                                                       const std::vector<Tensor>& xs, int64_t dim,
                                                       const std::vector<bool>& need_grad) {
  CatShape s = cat_shape(xs, dim);
  require_float(dy, "cat backward", "grad_output");
  require_same_device(xs[0], dy, "cat backward", "tensors[0]", "grad_output");
  Shape out_shape = xs[0].shape();
  out_shape[dim] = s.total();
  require_shape(dy, out_shape, "cat backward", "grad_output");
  if (need_grad.size() != xs.size())
    value_error("cat backward: expected ", xs.size(), " need_grad flags, got ", need_grad.size());
  std::vector<std::optional<Tensor>> dxs(xs.size());
  std::vector<float*> ptrs(xs.size(), nullptr);
  for (size_t k = 0; k < xs.size(); ++k) {
    if (!need_grad[k]) continue;
    dxs[k] = Tensor::empty(xs[k].shape(), DType::Float32, dy.device());
    ptrs[k] = dxs[k]->f32();
  }
  if (dy.numel() == 0) return dxs;
  if (dy.is_cuda()) PYCNN_ON_CUDA("cat", cuda::cat_backward(ptrs, dy.f32(), s));
  else cpu::cat_backward(ptrs, dy.f32(), s);
  return dxs;
}

void bind_cat(nb::module_& m) {
  m.def("cat_forward", &cat_forward, nb::arg("tensors"), nb::arg("dim"));
  m.def("cat_backward", &cat_backward, nb::arg("grad_output"), nb::arg("tensors"), nb::arg("dim"),
        nb::arg("need_grad"));
}

}  // namespace pycnn
