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
  std::vector<int64_t> size, stride;  // innermost first
  for (int k = static_cast<int>(shape.size()) - 1; k >= 0; --k) {
    if (shape[k] == 0) return;
    if (shape[k] == 1) continue;
    if (!size.empty() && strides[k] == stride.back() * size.back()) {
      size.back() *= shape[k];
      continue;
    }
    size.push_back(shape[k]), stride.push_back(strides[k]);
  }
  if (size.empty()) size = {1}, stride = {1};
  const int nd = static_cast<int>(size.size());
  const int64_t inner = size[0], step = stride[0];
  int64_t rows = 1;
  for (int d = 1; d < nd; ++d) rows *= size[d];
  parallel_range(
      rows,
      [&](int64_t begin, int64_t end) {
        std::vector<int64_t> index(nd, 0);
        int64_t at = offset;
        for (int64_t d = 1, below = 1; d < nd; below *= size[d], ++d) {  // row `begin`'s indices
          index[d] = begin / below % size[d];
          at += index[d] * stride[d];
        }
        for (int64_t r = begin; r < end; ++r) {
          float* out = y + r * inner;
          if (step == 1) std::memcpy(out, x + at, static_cast<size_t>(inner) * sizeof(float));
          else
            for (int64_t j = 0; j < inner; ++j) out[j] = x[at + j * step];
          for (int d = 1; d < nd; ++d) {
            at += stride[d];
            if (++index[d] < size[d]) break;
            at -= stride[d] * size[d];
            index[d] = 0;
          }
        }
      },
      std::max<int64_t>(1, kElementwiseParallel / inner));
}

}  // namespace pycnn::cpu
