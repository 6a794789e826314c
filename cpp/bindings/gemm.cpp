// gemm binding, for tests and benchmarks: the packed CPU kernel, its plain reference, and the CUDA
// tiled kernel on 2-d tensors.
#include "pycnn/gemm.h"

#include "common.h"
#include "pycnn/cuda_gemm.h"

namespace pycnn {

// c = op(a) @ op(b); with `out`, out += op(a) @ op(b) in place (the accumulate path) and out returned.
static Tensor gemm(const Tensor& a, const Tensor& b, bool trans_a, bool trans_b, bool reference,
                   const std::optional<Tensor>& out) {
  require_float(a, "gemm", "a");
  require_float(b, "gemm", "b");
  require_ndim(a, 2, "gemm", "a", "matrix");
  require_ndim(b, 2, "gemm", "b", "matrix");
  require_same_device(a, b, "gemm", "a", "b");
  if (reference && a.is_cuda()) value_error("gemm: the reference gemm runs on CPU tensors only");
  const int64_t M = trans_a ? a.size(1) : a.size(0), K = trans_a ? a.size(0) : a.size(1);
  const int64_t Kb = trans_b ? b.size(1) : b.size(0), N = trans_b ? b.size(0) : b.size(1);
  if (K != Kb)
    value_error("gemm: inner sizes differ: op(a) is (", M, ", ", K, "), op(b) is (", Kb, ", ", N,
                ")");
  const bool accumulate = out.has_value();
  Tensor c = accumulate ? *out : Tensor::empty({M, N}, DType::Float32, a.device());
  if (accumulate) {
    require_float(c, "gemm", "out");
    require_shape(c, {M, N}, "gemm", "out");
    require_same_device(a, c, "gemm", "a", "out");
  }
  if (a.is_cuda())
    PYCNN_ON_CUDA("gemm", cuda::gemm(c.f32(), N, a.f32(), a.size(1), b.f32(), b.size(1), M, N, K,
                                     trans_a, trans_b, accumulate));
  else if (reference)
    cpu::gemm_reference(c.f32(), N, a.f32(), a.size(1), b.f32(), b.size(1), M, N, K, trans_a,
                        trans_b, accumulate);
  else
    cpu::gemm(c.f32(), N, a.f32(), a.size(1), b.f32(), b.size(1), M, N, K, trans_a, trans_b,
              accumulate);
  if (accumulate) c.bump_version();  // out was written in place
  return c;
}

void bind_gemm(nb::module_& m) {
  m.def("gemm", &gemm, nb::arg("a"), nb::arg("b"), nb::arg("trans_a") = false,
        nb::arg("trans_b") = false, nb::arg("reference") = false,
        nb::arg("out").none() = nb::none());
  m.def("gemm_isa", &cpu::gemm_isa);
}

}  // namespace pycnn
