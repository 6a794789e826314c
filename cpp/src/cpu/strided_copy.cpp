// strided_copy on the CPU: dimensions of size 1 dropped, each dimension merged into the one inside it
// where its stride is the inner one's times its size (a slice of channels keeps each image's planes
// one run; ShuffleNet's channel shuffle, a [N, 2, C/2, H, W] transpose of the two middle axes, is runs
// of H * W), then rows of the innermost dimension: a memcpy where it is contiguous, a gather
// otherwise, the rows split over the threads above 64K floats.
#include "pycnn/ops/strided_copy.h"

#include <cstring>

#include "parallel.h"
#include "pycnn/check.h"

namespace pycnn::cpu {

std::pair<int64_t, int64_t> strided_reach(const std::vector<int64_t>& shape,
                                          const std::vector<int64_t>& strides, int64_t offset) {
  if (shape.size() != strides.size())
    value_error("strided_copy: expected one stride per dimension, got ", strides.size(), " for ",
                shape.size());
  constexpr int64_t most = int64_t(1) << 62;
  int64_t lo = offset, hi = offset;
  for (size_t k = 0; k < shape.size(); ++k) {
    if (shape[k] < 0) value_error("strided_copy: expected sizes of at least 0, got ", shape[k]);
    if (shape[k] == 0) return {0, -1};
  }
  for (size_t k = 0; k < shape.size(); ++k) {
    const int64_t s = strides[k], n = shape[k] - 1;
    if (s > most || s < -most || n > most || (n > 0 && (s > 0 ? s : -s) > most / n))
      value_error("strided_copy: the view reaches past 2^62 floats");
    (s > 0 ? hi : lo) += s * n;
    if (hi > most || lo < -most) value_error("strided_copy: the view reaches past 2^62 floats");
  }
  return {lo, hi};
}

void strided_copy(float* y, const float* x, const std::vector<int64_t>& shape,
                  const std::vector<int64_t>& strides, int64_t offset) {
  const StridedRows<1> walk(shape, {strides.data()});
  const int64_t inner = walk.inner(), step = walk.step(0);
  walk.for_rows({offset}, [&](int64_t r, const std::array<int64_t, 1>& at) {
    float* out = y + r * inner;
    if (step == 1) std::memcpy(out, x + at[0], static_cast<size_t>(inner) * sizeof(float));
    else
      for (int64_t j = 0; j < inner; ++j) out[j] = x[at[0] + j * step];
  });
}

}  // namespace pycnn::cpu
