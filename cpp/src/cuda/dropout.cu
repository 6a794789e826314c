// dropout on CUDA (see pycnn/ops/dropout.h): one thread per group of four elements, one Philox call
// each, the same (seed, index) -> uniform map as the CPU kernel (pycnn/philox.h), so both draw the
// same mask bit for bit.
#include <cuda_runtime.h>

#include "pycnn/cuda_utils.h"
#include "pycnn/ops/dropout.h"
#include "pycnn/philox.h"

namespace pycnn {

namespace {

constexpr int kThreads = 256;

__global__ void dropout_forward_kernel(float* y, float* mask, const float* x, DropoutShape s,
                                       float scale) {
  const int64_t groups = (s.numel + 3) / 4;
  for (int64_t g = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; g < groups;
       g += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    float u[4];
    philox_uniform4(u, s.seed, static_cast<uint64_t>(g));
    for (int lane = 0; lane < 4; ++lane) {
      const int64_t i = 4 * g + lane;
      if (i >= s.numel) break;
      const float m = u[lane] >= s.p ? scale : 0.0f;
      mask[i] = m;
      y[i] = x[i] * m;
    }
  }
}

__global__ void dropout_backward_kernel(float* dx, const float* dy, const float* mask,
                                        DropoutShape s) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < s.numel;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    dx[i] = dy[i] * mask[i];
}

}  // namespace

namespace cuda {

void dropout_forward(float* y, float* mask, const float* x, const DropoutShape& s) {
  dropout_forward_kernel<<<cuda::grid_stride_blocks((s.numel + 3) / 4, kThreads), kThreads, 0,
                           cuda::stream()>>>(y, mask, x, s, s.scale());
  check_launch("dropout");
}

void dropout_backward(float* dx, const float* dy, const float* mask, const DropoutShape& s) {
  dropout_backward_kernel<<<cuda::grid_stride_blocks(s.numel, kThreads), kThreads, 0,
                            cuda::stream()>>>(dx, dy, mask, s);
  check_launch("dropout backward");
}

}  // namespace cuda

}  // namespace pycnn
