// rmsprop on the CPU: one flat pass over the parameter, the per-element rule from rmsprop.h.
#include "pycnn/ops/rmsprop.h"

namespace pycnn::cpu {

template <bool CENTERED, bool MOMENTUM>
static void rmsprop_loop(float* param, float* square_avg, float* grad_avg, float* momentum_buffer,
                         const float* grad, RmspropConfig c) {
  const int64_t n = c.numel;
  // firstprivate: a per-thread copy of the config cannot alias the arrays, so the loop vectorises.
#pragma omp parallel for simd firstprivate(c) if (n > (1 << 16))
  for (int64_t i = 0; i < n; ++i)
    rmsprop_update_element<CENTERED, MOMENTUM>(param, square_avg, grad_avg, momentum_buffer, grad,
                                               i, c);
}

void rmsprop_update(float* param, float* square_avg, float* grad_avg, float* momentum_buffer,
                    const float* grad, const RmspropConfig& c) {
  if (grad_avg && momentum_buffer)
    rmsprop_loop<true, true>(param, square_avg, grad_avg, momentum_buffer, grad, c);
  else if (grad_avg)
    rmsprop_loop<true, false>(param, square_avg, grad_avg, momentum_buffer, grad, c);
  else if (momentum_buffer)
    rmsprop_loop<false, true>(param, square_avg, grad_avg, momentum_buffer, grad, c);
  else rmsprop_loop<false, false>(param, square_avg, grad_avg, momentum_buffer, grad, c);
}

}  // namespace pycnn::cpu
