// rmsprop on the CPU: one flat pass over the parameter, the per-element rule from rmsprop.h,
// through parallel_range over a body cloned per instruction set (as sgd.cpp: `omp parallel for
// simd if` left parameters under 64 K floats in a scalar loop).
#include "pycnn/ops/rmsprop.h"

#include "parallel.h"
#include "pycnn/vector_math.h"

namespace pycnn::cpu {

namespace {

// c by value: a copy no store to the arrays can alias, so the loop vectorises.
template <bool CENTERED, bool MOMENTUM>
__attribute__((always_inline)) inline void rmsprop_loop(float* param, float* square_avg,
                                                        float* grad_avg, float* momentum_buffer,
                                                        const float* grad, int64_t begin,
                                                        int64_t end, RmspropConfig c) {
#pragma omp simd
  for (int64_t i = begin; i < end; ++i)
    rmsprop_update_element<CENTERED, MOMENTUM>(param, square_avg, grad_avg, momentum_buffer, grad,
                                               i, c);
}

// The four variants inlined into one function, which is what gets cloned per instruction set.
PYCNN_VECTOR_CLONES void rmsprop_range(float* param, float* square_avg, float* grad_avg,
                                       float* momentum_buffer, const float* grad, int64_t begin,
                                       int64_t end, RmspropConfig c) {
  if (grad_avg && momentum_buffer)
    rmsprop_loop<true, true>(param, square_avg, grad_avg, momentum_buffer, grad, begin, end, c);
  else if (grad_avg)
    rmsprop_loop<true, false>(param, square_avg, grad_avg, momentum_buffer, grad, begin, end, c);
  else if (momentum_buffer)
    rmsprop_loop<false, true>(param, square_avg, grad_avg, momentum_buffer, grad, begin, end, c);
  else
    rmsprop_loop<false, false>(param, square_avg, grad_avg, momentum_buffer, grad, begin, end, c);
}

}  // namespace

void rmsprop_update(float* param, float* square_avg, float* grad_avg, float* momentum_buffer,
                    const float* grad, const RmspropConfig& c) {
  const RmspropConfig config = c;
  parallel_range(
      config.numel,
      [=](int64_t begin, int64_t end) {
        rmsprop_range(param, square_avg, grad_avg, momentum_buffer, grad, begin, end, config);
      },
      kOptimizerParallel);
}

}  // namespace pycnn::cpu
