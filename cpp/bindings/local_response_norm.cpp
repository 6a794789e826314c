// local_response_norm binding: argument and shape checks, device dispatch. Inputs (N, C, *) with at
// least 3 dimensions (as torch) are viewed as (N, C, inner).
#include "pycnn/ops/local_response_norm.h"

#include "common.h"

namespace pycnn {

static LocalResponseNormShape local_response_norm_shape(const Tensor& x, int64_t size,
                                                        int64_t before, double alpha, double beta,
                                                        double k) {
  require_float(x, "local_response_norm", "input");
  if (x.ndim() < 3)
    value_error(
        "local_response_norm: expected input of at least 3 dimensions (N, C, *), got shape ",
        shape_str(x.shape()));
  if (size <= 0 || size > kMaxWindowArgument)
    value_error("local_response_norm: expected size in [1, 2^31 - 1], got ", size);
  if (before < 0 || before > size - 1)
    value_error("local_response_norm: expected window_before in [0, size - 1] = [0, ", size - 1,
                "], got ", before);
  LocalResponseNormShape s;
  s.N = x.size(0), s.C = x.size(1), s.inner = 1;
  for (int axis = 2; axis < x.ndim(); ++axis) s.inner *= x.size(axis);
  s.size = size, s.before = before;
  s.alpha = static_cast<float>(alpha);
  s.beta = static_cast<float>(beta);
  s.k = static_cast<float>(k);
  return s;
}

// Returns (output, scale); scale is saved for backward.
static std::tuple<Tensor, Tensor> local_response_norm_forward(const Tensor& x, int64_t size,
                                                              int64_t before, double alpha,
                                                              double beta, double k) {
  LocalResponseNormShape s = local_response_norm_shape(x, size, before, alpha, beta, k);
  Tensor y = Tensor::empty(x.shape(), DType::Float32, x.device());
  Tensor scale = Tensor::empty(x.shape(), DType::Float32, x.device());
  if (x.numel() == 0) return {y, scale};
  if (x.is_cuda())
    PYCNN_ON_CUDA("local_response_norm",
                  cuda::local_response_norm_forward(y.f32(), scale.f32(), x.f32(), s));
  else cpu::local_response_norm_forward(y.f32(), scale.f32(), x.f32(), s);
  return {y, scale};
}

static Tensor local_response_norm_backward(const Tensor& dy, const Tensor& x, const Tensor& scale,
                                           int64_t size, int64_t before, double alpha, double beta,
                                           double k) {
  LocalResponseNormShape s = local_response_norm_shape(x, size, before, alpha, beta, k);
  require_float(dy, "local_response_norm backward", "grad_output");
  require_shape(dy, x.shape(), "local_response_norm backward", "grad_output");
  require_shape(scale, x.shape(), "local_response_norm backward", "scale");
  require_same_device(x, dy, "local_response_norm backward", "input", "grad_output");
  require_same_device(x, scale, "local_response_norm backward", "input", "scale");
  Tensor dx = Tensor::empty(x.shape(), DType::Float32, x.device());
  if (x.numel() == 0) return dx;
  Tensor work = Tensor::empty(x.shape(), DType::Float32, x.device());
  if (x.is_cuda())
    PYCNN_ON_CUDA("local_response_norm",
                  cuda::local_response_norm_backward(dx.f32(), work.f32(), dy.f32(), x.f32(),
                                                     scale.f32(), s));
  else cpu::local_response_norm_backward(dx.f32(), work.f32(), dy.f32(), x.f32(), scale.f32(), s);
  return dx;
}

void bind_local_response_norm(nb::module_& m) {
  m.def("local_response_norm_forward", &local_response_norm_forward, nb::arg("input"),
        nb::arg("size"), nb::arg("window_before"), nb::arg("alpha"), nb::arg("beta"), nb::arg("k"),
        "Returns (output, scale).");
  m.def("local_response_norm_backward", &local_response_norm_backward, nb::arg("grad_output"),
        nb::arg("input"), nb::arg("scale"), nb::arg("size"), nb::arg("window_before"),
        nb::arg("alpha"), nb::arg("beta"), nb::arg("k"));
}

}  // namespace pycnn
