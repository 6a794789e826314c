// cat on the CPU (see pycnn/ops/cat.h): each (input, outer index) pair is one contiguous block of
// size_k * inner floats, copied with memcpy; threads take outer indices when there are many.
#include "pycnn/ops/cat.h"

#include <cstring>

namespace pycnn::cpu {

void cat_forward(float* y, const std::vector<const float*>& xs, const CatShape& s) {
  const int64_t total = s.total();
  int64_t offset = 0;
  for (size_t k = 0; k < xs.size(); ++k) {
    const int64_t block = s.sizes[k] * s.inner;
    if (block > 0) {  // an input empty along dim has a pointer memcpy must not see
#pragma omp parallel for if (s.outer * block >= (1 << 16))
      for (int64_t o = 0; o < s.outer; ++o)
        std::memcpy(y + (o * total + offset) * s.inner, xs[k] + o * block, block * sizeof(float));
    }
    offset += s.sizes[k];
  }
}

void cat_backward(const std::vector<float*>& dxs, const float* dy, const CatShape& s) {
  const int64_t total = s.total();
  int64_t offset = 0;
  for (size_t k = 0; k < dxs.size(); ++k) {
    const int64_t block = s.sizes[k] * s.inner;
    if (dxs[k] && block > 0) {
#pragma omp parallel for if (s.outer * block >= (1 << 16))
      for (int64_t o = 0; o < s.outer; ++o)
        std::memcpy(dxs[k] + o * block, dy + (o * total + offset) * s.inner, block * sizeof(float));
    }
    offset += s.sizes[k];
  }
}

}  // namespace pycnn::cpu
