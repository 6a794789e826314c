// dropout on the CPU (see pycnn/ops/dropout.h). One Philox call yields the uniforms of four
// consecutive elements; threads take blocks of groups, and since the mask depends only on
// (seed, index) the result does not depend on the thread count.
#include "pycnn/ops/dropout.h"

#include <algorithm>

#include "pycnn/philox.h"

namespace pycnn::cpu {

void dropout_forward(float* y, float* mask, const float* x, const DropoutShape& s) {
  const int64_t numel = s.numel, groups = (numel + 3) / 4;
  const float scale = s.scale();
#pragma omp parallel for if (numel >= (1 << 15))
  for (int64_t g = 0; g < groups; ++g) {
    float u[4];
    philox_uniform4(u, s.seed, static_cast<uint64_t>(g));
    const int64_t end = std::min<int64_t>(numel - 4 * g, 4);
    for (int64_t lane = 0; lane < end; ++lane) {
      const int64_t i = 4 * g + lane;
      mask[i] = u[lane] >= s.p ? scale : 0.0f;
      y[i] = x[i] * mask[i];
    }
  }
}

void dropout_backward(float* dx, const float* dy, const float* mask, const DropoutShape& s) {
#pragma omp parallel for if (s.numel >= (1 << 16))
  for (int64_t i = 0; i < s.numel; ++i) dx[i] = dy[i] * mask[i];
}

}  // namespace pycnn::cpu
