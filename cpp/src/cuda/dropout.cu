// dropout on CUDA (see pycnn/ops/dropout.h): one thread per group of four elements, one Philox call
// each, the same (seed, index) -> uniform map as the CPU kernel (pycnn/philox.h), so both draw the
// same mask bit for bit.
#include <cuda_runtime.h>

#include "pycnn/check.h"
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

__global__ void dropout_backward_kernel(float* dx, const float* dy, const float* mask, DropoutShape s) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < s.numel;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    dx[i] = dy[i] * mask[i];
}

void check_launch(const char* what) {
  const cudaError_t status = cudaGetLastError();
  if (status != cudaSuccess)
    runtime_error("dropout: CUDA launch of ", what, " failed: ", cudaGetErrorString(status));
}

int blocks_for(int64_t total) {
  const int64_t blocks = (total + kThreads - 1) / kThreads;
  return static_cast<int>(blocks < 65535 * 32 ? blocks : 65535 * 32);
}

}  // namespace

namespace cuda {

void dropout_forward(float* y, float* mask, const float* x, const DropoutShape& s) {
  dropout_forward_kernel<<<blocks_for((s.numel + 3) / 4), kThreads>>>(y, mask, x, s, s.scale());
  check_launch("dropout_forward_kernel");
}

void dropout_backward(float* dx, const float* dy, const float* mask, const DropoutShape& s) {
  dropout_backward_kernel<<<blocks_for(s.numel), kThreads>>>(dx, dy, mask, s);
  check_launch("dropout_backward_kernel");
}

}  // namespace cuda

}  // namespace pycnn
