// sgd on the CPU: one flat pass over the parameter, the per-element rule from sgd.h, through
// parallel_range (the cores split it from kOptimizerParallel floats on) over a body cloned per
// instruction set.
// `omp parallel for simd if (n > 65536)` ran every parameter under that size (all of LeNet-5's) in
// a scalar SSE loop: GCC's outlined body was not vectorised for the baseline target.
#include "pycnn/ops/sgd.h"

#include "parallel.h"
#include "pycnn/vector_math.h"

namespace pycnn::cpu {

namespace {

// c by value: a copy no store to the arrays can alias, so the loop vectorises.
PYCNN_VECTOR_CLONES void sgd_range_momentum(float* param, float* momentum_buffer, const float* grad,
                                            int64_t begin, int64_t end, SgdConfig c) {
#pragma omp simd
  for (int64_t i = begin; i < end; ++i)
    sgd_update_element<true>(param, momentum_buffer, grad, i, c);
}

PYCNN_VECTOR_CLONES void sgd_range(float* param, const float* grad, int64_t begin, int64_t end,
                                   SgdConfig c) {
#pragma omp simd
  for (int64_t i = begin; i < end; ++i) sgd_update_element<false>(param, nullptr, grad, i, c);
}

}  // namespace

void sgd_update(float* param, float* momentum_buffer, const float* grad, const SgdConfig& c) {
  const SgdConfig config = c;
  parallel_range(
      config.numel,
      [=](int64_t begin, int64_t end) {
        if (momentum_buffer) sgd_range_momentum(param, momentum_buffer, grad, begin, end, config);
        else sgd_range(param, grad, begin, end, config);
      },
      kOptimizerParallel);
}

}  // namespace pycnn::cpu
