// adam on the CPU: one flat pass over the parameter, the per-element rule from adam.h.
#include "pycnn/ops/adam.h"

namespace pycnn::cpu {

template <bool AMSGRAD>
static void adam_loop(float* param, float* exp_avg, float* exp_avg_sq, float* max_exp_avg_sq,
                      const float* grad, AdamConfig c) {
  const int64_t n = c.numel;
  // firstprivate: a per-thread copy of the config cannot alias the arrays, so the loop vectorises.
#pragma omp parallel for simd firstprivate(c) if (n > (1 << 16))
  for (int64_t i = 0; i < n; ++i)
    adam_update_element<AMSGRAD>(param, exp_avg, exp_avg_sq, max_exp_avg_sq, grad, i, c);
}

void adam_update(float* param, float* exp_avg, float* exp_avg_sq, float* max_exp_avg_sq,
                 const float* grad, const AdamConfig& c) {
  if (max_exp_avg_sq) adam_loop<true>(param, exp_avg, exp_avg_sq, max_exp_avg_sq, grad, c);
  else adam_loop<false>(param, exp_avg, exp_avg_sq, max_exp_avg_sq, grad, c);
}

}  // namespace pycnn::cpu
