// leaky_relu on the CPU: flat vectorisable loops (a select, no branch), OpenMP for large n.
#include "pycnn/ops/leaky_relu.h"

namespace pycnn::cpu {

void leaky_relu_forward(float* y, const float* x, float negative_slope, int64_t n) {
#pragma omp parallel for simd if (n > (1 << 16))
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] > 0.0f ? x[i] : negative_slope * x[i];
}

void leaky_relu_backward(float* dx, const float* dy, const float* x, float negative_slope,
                         int64_t n) {
#pragma omp parallel for simd if (n > (1 << 16))
  for (int64_t i = 0; i < n; ++i) dx[i] = x[i] > 0.0f ? dy[i] : negative_slope * dy[i];
}

}  // namespace pycnn::cpu
