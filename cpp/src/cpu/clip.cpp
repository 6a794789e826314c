// clip on the CPU: flat vectorisable loops (min/max and a select), OpenMP for large n.
#include "pycnn/ops/clip.h"

namespace pycnn::cpu {

void clip_forward(float* y, const float* x, float lo, float hi, int64_t n) {
#pragma omp parallel for simd if (n > (1 << 16))
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i] < lo ? lo : x[i];
    y[i] = v > hi ? hi : v;
  }
}

void clip_backward(float* dx, const float* dy, const float* x, float lo, float hi, int64_t n) {
#pragma omp parallel for simd if (n > (1 << 16))
  for (int64_t i = 0; i < n; ++i) {
    const float g = dy[i];  // read unconditionally: a load only under the condition blocks SIMD
    dx[i] = (x[i] >= lo && x[i] <= hi) ? g : 0.0f;
  }
}

}  // namespace pycnn::cpu
