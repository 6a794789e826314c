// mse_loss on CUDA (mse_loss.h). Reduction None and the backward are grid-stride loops; Mean and
// Sum reduce in two launches: each block sums its share in double (warp shuffles) into partial[b],
// then one block sums the partials in a fixed order and scales. Deterministic, no atomics.
#include <cuda_runtime.h>

#include "pycnn/cuda_reduce.cuh"
#include "pycnn/cuda_utils.h"
#include "pycnn/device.h"
#include "pycnn/ops/mse_loss.h"

namespace pycnn {

namespace {

constexpr int kThreads = 256;

__global__ void mse_loss_none_kernel(float* __restrict__ loss, const float* __restrict__ x,
                                     const float* __restrict__ t, int64_t n) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += stride) {
    const float d = x[i] - t[i];
    loss[i] = d * d;
  }
}

__global__ void mse_loss_partial_kernel(double* __restrict__ partial, const float* __restrict__ x,
                                        const float* __restrict__ t, int64_t n) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  double sum = 0.0;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += stride) {
    const double d = double(x[i]) - t[i];
    sum += d * d;
  }
  sum = cuda::block_sum(sum);
  if (threadIdx.x == 0) partial[blockIdx.x] = sum;
}

__global__ void mse_loss_finish_kernel(float* __restrict__ loss, const double* __restrict__ partial,
                                       int blocks, double divisor) {
  double sum = 0.0;
  for (int b = threadIdx.x; b < blocks; b += blockDim.x) sum += partial[b];
  sum = cuda::block_sum(sum);
  if (threadIdx.x == 0) loss[0] = static_cast<float>(sum / divisor);  // n == 0, Mean: 0/0 = NaN
}

__global__ void mse_loss_backward_kernel(float* __restrict__ dx, float* __restrict__ dt,
                                         const float* __restrict__ dloss,
                                         const float* __restrict__ x, const float* __restrict__ t,
                                         int64_t n, bool per_element, float divisor) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += stride) {
    const float scale = per_element ? dloss[i] : dloss[0] / divisor;
    const float g = 2.0f * (x[i] - t[i]) * scale;
    if (dx) dx[i] = g;
    if (dt) dt[i] = -g;
  }
}

}  // namespace

namespace cuda {

void mse_loss_forward(float* loss, const float* x, const float* t, const MseLossShape& s) {
  if (s.reduction == Reduction::None) {
    if (s.n <= 0) return;
    mse_loss_none_kernel<<<cuda::grid_stride_blocks(s.n, kThreads), kThreads, 0, cuda::stream()>>>(
        loss, x, t, s.n);
    check_launch("mse_loss");
    return;
  }
  const int blocks = s.n > 0 ? cuda::grid_stride_blocks(s.n, kThreads) : 1;
  double* partial = static_cast<double*>(allocate(sizeof(double) * blocks));
  mse_loss_partial_kernel<<<blocks, kThreads, 0, cuda::stream()>>>(partial, x, t, s.n);
  cudaError_t status = cudaGetLastError();
  if (status == cudaSuccess) {
    const double divisor = s.reduction == Reduction::Mean ? double(s.n) : 1.0;
    mse_loss_finish_kernel<<<1, kThreads, 0, cuda::stream()>>>(loss, partial, blocks, divisor);
    status = cudaGetLastError();
  }
  release(partial);  // cudaFree waits for the kernels that read it
  if (status != cudaSuccess)
    runtime_error("mse_loss: CUDA kernel launch failed: ", cudaGetErrorString(status));
}

void mse_loss_backward(float* dx, float* dt, const float* dloss, const float* x, const float* t,
                       const MseLossShape& s) {
  if (s.n <= 0 || (!dx && !dt)) return;
  const float divisor = s.reduction == Reduction::Mean ? static_cast<float>(s.n) : 1.0f;
  mse_loss_backward_kernel<<<cuda::grid_stride_blocks(s.n, kThreads), kThreads, 0,
                             cuda::stream()>>>(dx, dt, dloss, x, t, s.n,
                                               s.reduction == Reduction::None, divisor);
  check_launch("mse_loss backward");
}

}  // namespace cuda
}  // namespace pycnn
