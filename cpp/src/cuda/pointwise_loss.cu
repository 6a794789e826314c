// The pointwise losses on CUDA (pointwise_loss.h), shaped as mse_loss.cu: reduction None and the
// backward are grid-stride loops over the header's per-element formulas; Mean and Sum reduce in two
// launches (each block's share in double into partial[b], then one block sums the partials in a
// fixed order and scales). Deterministic, no atomics.
#include <cuda_runtime.h>

#include "pycnn/cuda_reduce.cuh"
#include "pycnn/cuda_utils.h"
#include "pycnn/device.h"
#include "pycnn/ops/pointwise_loss.h"

namespace pycnn {

namespace {

constexpr int kThreads = 256;

__global__ void pointwise_loss_none_kernel(float* __restrict__ loss, const float* __restrict__ x,
                                           const float* __restrict__ t, const float* __restrict__ p,
                                           PointwiseLoss kind, float a, int64_t n) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += stride)
    loss[i] = pointwise_loss_value(kind, a, x[i], t[i], p ? p[i] : 1.0f);
}

__global__ void pointwise_loss_partial_kernel(double* __restrict__ partial,
                                              const float* __restrict__ x,
                                              const float* __restrict__ t,
                                              const float* __restrict__ p, PointwiseLoss kind,
                                              float a, int64_t n) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  double sum = 0.0;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += stride)
    sum += pointwise_loss_value(kind, a, x[i], t[i], p ? p[i] : 1.0f);
  sum = cuda::block_sum(sum);
  if (threadIdx.x == 0) partial[blockIdx.x] = sum;
}

__global__ void pointwise_loss_finish_kernel(float* __restrict__ loss,
                                             const double* __restrict__ partial, int blocks,
                                             double divisor) {
  double sum = 0.0;
  for (int b = threadIdx.x; b < blocks; b += blockDim.x) sum += partial[b];
  sum = cuda::block_sum(sum);
  if (threadIdx.x == 0) loss[0] = static_cast<float>(sum / divisor);  // n == 0, Mean: 0/0 = NaN
}

__global__ void pointwise_loss_backward_kernel(
    float* __restrict__ dx, float* __restrict__ dt, const float* __restrict__ dloss,
    const float* __restrict__ x, const float* __restrict__ t, const float* __restrict__ p,
    PointwiseLoss kind, float a, int64_t n, bool per_element, float divisor) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += stride) {
    float gx, gt;
    pointwise_loss_grads(kind, a, x[i], t[i], p ? p[i] : 1.0f, &gx, &gt);
    const float g = per_element ? dloss[i] : dloss[0] / divisor;
    if (dx) dx[i] = gx * g;
    if (dt) dt[i] = gt * g;
  }
}

}  // namespace

namespace cuda {

void pointwise_loss_forward(float* loss, const float* x, const float* t, const float* p,
                            const PointwiseLossShape& s) {
  if (s.reduction == Reduction::None) {
    if (s.n <= 0) return;
    pointwise_loss_none_kernel<<<cuda::grid_stride_blocks(s.n, kThreads), kThreads, 0,
                                 cuda::stream()>>>(loss, x, t, p, s.kind, s.param, s.n);
    check_launch("pointwise loss");
    return;
  }
  const int blocks = s.n > 0 ? cuda::grid_stride_blocks(s.n, kThreads) : 1;
  double* partial = static_cast<double*>(allocate(sizeof(double) * blocks));
  pointwise_loss_partial_kernel<<<blocks, kThreads, 0, cuda::stream()>>>(partial, x, t, p, s.kind,
                                                                         s.param, s.n);
  cudaError_t status = cudaGetLastError();
  if (status == cudaSuccess) {
    const double divisor = s.reduction == Reduction::Mean ? double(s.n) : 1.0;
    pointwise_loss_finish_kernel<<<1, kThreads, 0, cuda::stream()>>>(loss, partial, blocks,
                                                                     divisor);
    status = cudaGetLastError();
  }
  release(partial);  // cudaFree waits for the kernels that read it
  if (status != cudaSuccess)
    runtime_error("pointwise loss: CUDA kernel launch failed: ", cudaGetErrorString(status));
}

void pointwise_loss_backward(float* dx, float* dt, const float* dloss, const float* x,
                             const float* t, const float* p, const PointwiseLossShape& s) {
  if (s.n <= 0 || (!dx && !dt)) return;
  const float divisor = s.reduction == Reduction::Mean ? static_cast<float>(s.n) : 1.0f;
  pointwise_loss_backward_kernel<<<cuda::grid_stride_blocks(s.n, kThreads), kThreads, 0,
                                   cuda::stream()>>>(dx, dt, dloss, x, t, p, s.kind, s.param, s.n,
                                                     s.reduction == Reduction::None, divisor);
  check_launch("pointwise loss backward");
}

}  // namespace cuda
}  // namespace pycnn
