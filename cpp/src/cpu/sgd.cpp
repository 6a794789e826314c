// sgd on the CPU: one flat pass over the parameter, the per-element rule from sgd.h.
#include "pycnn/ops/sgd.h"

namespace pycnn::cpu {

template <bool MOMENTUM>
static void sgd_loop(float* param, float* momentum_buffer, const float* grad, SgdConfig c) {
  const int64_t n = c.numel;
  // firstprivate: each thread gets its own copy of the config, so the compiler knows the stores to
  // param cannot change it and vectorises the loop (shared, it is read through a pointer).
#pragma omp parallel for simd firstprivate(c) if (n > (1 << 16))
  for (int64_t i = 0; i < n; ++i) sgd_update_element<MOMENTUM>(param, momentum_buffer, grad, i, c);
}

void sgd_update(float* param, float* momentum_buffer, const float* grad, const SgdConfig& c) {
  if (momentum_buffer) sgd_loop<true>(param, momentum_buffer, grad, c);
  else sgd_loop<false>(param, momentum_buffer, grad, c);
}

}  // namespace pycnn::cpu
