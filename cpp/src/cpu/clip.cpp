// clip on the CPU: flat loops with branch-free selects (NaN passes through, as in torch.clamp),
// split over the cores by parallel_range when n is large (see relu.cpp).
#include "pycnn/ops/clip.h"

#include "parallel.h"
#include "pycnn/vector_math.h"

namespace pycnn::cpu {

void clip_forward(float* y, const float* x, float lo, float hi, int64_t n) {
  parallel_range(n, [=](int64_t begin, int64_t end) {
#pragma omp simd
    for (int64_t i = begin; i < end; ++i) y[i] = detail::clamp_keep_nan(x[i], lo, hi);
  });
}

void clip_backward(float* dx, const float* dy, const float* x, float lo, float hi, int64_t n) {
  parallel_range(n, [=](int64_t begin, int64_t end) {
#pragma omp simd
    for (int64_t i = begin; i < end; ++i)
      dx[i] = detail::select((x[i] >= lo) & (x[i] <= hi), dy[i], 0.0f);
  });
}

}  // namespace pycnn::cpu
