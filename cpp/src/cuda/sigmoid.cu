// sigmoid on CUDA: one grid-stride loop per pass, memory-bound (see sigmoid.h for the math).
#include <cuda_runtime.h>

#include "pycnn/check.h"
#include "pycnn/ops/sigmoid.h"

namespace pycnn {

namespace {

constexpr int kThreads = 256;

// Enough blocks to fill the GPU; the grid-stride loops cover any n.
int blocks_for(int64_t n) {
  const int64_t b = (n + kThreads - 1) / kThreads;
  return static_cast<int>(b < 4096 ? b : 4096);
}

void check_launch(const char* op) {
  const cudaError_t status = cudaGetLastError();
  if (status != cudaSuccess)
    runtime_error(op, ": CUDA kernel launch failed: ", cudaGetErrorString(status));
}

}  // namespace

__global__ void sigmoid_forward_kernel(float* __restrict__ y, const float* __restrict__ x,
                                    int64_t n) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += stride) {
    y[i] = 1.0f / (1.0f + expf(-x[i]));
  }
}

__global__ void sigmoid_backward_kernel(float* __restrict__ dx, const float* __restrict__ dy,
                                     const float* __restrict__ y, int64_t n) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += stride) {
    dx[i] = dy[i] * y[i] * (1.0f - y[i]);
  }
}

namespace cuda {

void sigmoid_forward(float* y, const float* x, int64_t n) {
  if (n <= 0) return;
  sigmoid_forward_kernel<<<blocks_for(n), kThreads>>>(y, x, n);
  check_launch("sigmoid");
}

void sigmoid_backward(float* dx, const float* dy, const float* y, int64_t n) {
  if (n <= 0) return;
  sigmoid_backward_kernel<<<blocks_for(n), kThreads>>>(dx, dy, y, n);
  check_launch("sigmoid backward");
}

}  // namespace cuda
}  // namespace pycnn
