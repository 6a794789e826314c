// clip on CUDA: one grid-stride loop per pass, memory-bound (see clip.h for the math).
#include <cuda_runtime.h>

#include "pycnn/check.h"
#include "pycnn/ops/clip.h"

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

__global__ void clip_forward_kernel(float* __restrict__ y, const float* __restrict__ x,
                                    float lo, float hi, int64_t n) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += stride) {
    const float v = x[i] < lo ? lo : x[i];
    y[i] = v > hi ? hi : v;
  }
}

__global__ void clip_backward_kernel(float* __restrict__ dx, const float* __restrict__ dy,
                                     const float* __restrict__ x, float lo, float hi, int64_t n) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += stride) {
    dx[i] = (x[i] >= lo && x[i] <= hi) ? dy[i] : 0.0f;
  }
}

namespace cuda {

void clip_forward(float* y, const float* x, float lo, float hi, int64_t n) {
  if (n <= 0) return;
  clip_forward_kernel<<<blocks_for(n), kThreads>>>(y, x, lo, hi, n);
  check_launch("clip");
}

void clip_backward(float* dx, const float* dy, const float* x, float lo, float hi, int64_t n) {
  if (n <= 0) return;
  clip_backward_kernel<<<blocks_for(n), kThreads>>>(dx, dy, x, lo, hi, n);
  check_launch("clip backward");
}

}  // namespace cuda
}  // namespace pycnn
