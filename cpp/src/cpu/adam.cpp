// adam on the CPU: one flat pass over the parameter, the per-element rule from adam.h, through
// parallel_range over a body cloned per instruction set (as sgd.cpp: `omp parallel for simd if`
// left parameters under 64 K floats in a scalar loop).
#include "pycnn/ops/adam.h"

#include "parallel.h"
#include "pycnn/vector_math.h"

namespace pycnn::cpu {

namespace {

// c by value: a copy no store to the arrays can alias, so the loop vectorises.
PYCNN_VECTOR_CLONES void adam_range_amsgrad(float* param, float* exp_avg, float* exp_avg_sq,
                                            float* max_exp_avg_sq, const float* grad, int64_t begin,
                                            int64_t end, AdamConfig c) {
#pragma omp simd
  for (int64_t i = begin; i < end; ++i)
    adam_update_element<true>(param, exp_avg, exp_avg_sq, max_exp_avg_sq, grad, i, c);
}

PYCNN_VECTOR_CLONES void adam_range(float* param, float* exp_avg, float* exp_avg_sq,
                                    const float* grad, int64_t begin, int64_t end, AdamConfig c) {
#pragma omp simd
  for (int64_t i = begin; i < end; ++i)
    adam_update_element<false>(param, exp_avg, exp_avg_sq, nullptr, grad, i, c);
}

}  // namespace

void adam_update(float* param, float* exp_avg, float* exp_avg_sq, float* max_exp_avg_sq,
                 const float* grad, const AdamConfig& c) {
  const AdamConfig config = c;
  parallel_range(
      config.numel,
      [=](int64_t begin, int64_t end) {
        if (max_exp_avg_sq)
          adam_range_amsgrad(param, exp_avg, exp_avg_sq, max_exp_avg_sq, grad, begin, end, config);
        else adam_range(param, exp_avg, exp_avg_sq, grad, begin, end, config);
      },
      kOptimizerParallel);
}

}  // namespace pycnn::cpu
