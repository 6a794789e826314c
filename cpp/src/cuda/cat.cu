// cat on CUDA (see pycnn/ops/cat.h): one launch per input, one thread per element of that input
// (grid-stride), copying between the input's [outer, size_k * inner] block and its slice of the
// output [outer, total * inner]. The input pointers stay kernel arguments, so nothing is copied to
// the device first.
#include <cuda_runtime.h>

#include "pycnn/cuda_utils.h"
#include "pycnn/ops/cat.h"

namespace pycnn {

namespace {

constexpr int kThreads = 256;

// to_whole: copy the block into the output slice (forward); otherwise the slice into the block.
__global__ void cat_copy_kernel(float* whole, float* part, int64_t outer, int64_t block,
                                int64_t whole_row, int64_t offset, bool to_whole) {
  const int64_t total = outer * block;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t o = i / block, r = i % block;
    const int64_t w = o * whole_row + offset + r;
    if (to_whole) whole[w] = part[i];
    else part[i] = whole[w];
  }
}

void launch_copies(float* whole, const std::vector<float*>& parts, const CatShape& s,
                   bool to_whole) {
  const int64_t whole_row = s.total() * s.inner;
  int64_t offset = 0;
  for (size_t k = 0; k < parts.size(); ++k) {
    const int64_t block = s.sizes[k] * s.inner, total = s.outer * block;
    if (parts[k] && total > 0) {
      cat_copy_kernel<<<cuda::grid_stride_blocks(total, kThreads), kThreads, 0, cuda::stream()>>>(
          whole, parts[k], s.outer, block, whole_row, offset, to_whole);
      cuda::check_launch("cat");
    }
    offset += block;
  }
}

}  // namespace

namespace cuda {

void cat_forward(float* y, const std::vector<const float*>& xs, const CatShape& s) {
  // The kernel only reads `part` in this direction; one kernel serves both directions.
  std::vector<float*> parts;
  for (const float* p : xs) parts.push_back(const_cast<float*>(p));
  launch_copies(y, parts, s, true);
}

void cat_backward(const std::vector<float*>& dxs, const float* dy, const CatShape& s) {
  launch_copies(const_cast<float*>(dy), dxs, s, false);
}

}  // namespace cuda

}  // namespace pycnn
