// gemm binding, for tests and benchmarks: the packed kernel and its plain reference on 2-d tensors.
#include "pycnn/gemm.h"

#include "common.h"

namespace pycnn {

static Tensor gemm(const Tensor& a, const Tensor& b, bool trans_a, bool trans_b, bool reference) {
  require_float(a, "gemm", "a");
  require_float(b, "gemm", "b");
  require_ndim(a, 2, "gemm", "a", "matrix");
  require_ndim(b, 2, "gemm", "b", "matrix");
  if (a.is_cuda() || b.is_cuda()) value_error("gemm: expected CPU tensors");
  const int64_t M = trans_a ? a.size(1) : a.size(0), K = trans_a ? a.size(0) : a.size(1);
  const int64_t Kb = trans_b ? b.size(1) : b.size(0), N = trans_b ? b.size(0) : b.size(1);
  if (K != Kb)
    value_error("gemm: inner sizes differ: op(a) is (", M, ", ", K, "), op(b) is (", Kb, ", ", N, ")");
  Tensor c = Tensor::empty({M, N});
  if (reference)
    cpu::gemm_reference(c.f32(), N, a.f32(), a.size(1), b.f32(), b.size(1), M, N, K, trans_a, trans_b,
                        false);
  else
    cpu::gemm(c.f32(), N, a.f32(), a.size(1), b.f32(), b.size(1), M, N, K, trans_a, trans_b, false);
  return c;
}

void bind_gemm(nb::module_& m) {
  m.def("gemm", &gemm, nb::arg("a"), nb::arg("b"), nb::arg("trans_a") = false,
        nb::arg("trans_b") = false, nb::arg("reference") = false);
  m.def("gemm_isa", &cpu::gemm_isa);
}

}  // namespace pycnn
