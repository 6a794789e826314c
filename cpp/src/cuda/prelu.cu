// prelu on CUDA, x viewed as [outer, channels, inner] (prelu.h).
//  - forward and dx: one grid-stride loop, the slope picked by (i / inner) % channels.
//  - dw: blockIdx.y is the channel, the x blocks split its outer * inner elements; each block sums
//    its share with warp shuffles and adds it to dw[c] with one atomicAdd (dw accumulates anyway;
//    the order of those few adds may vary from run to run, within float rounding).
#include <cuda_runtime.h>

#include "pycnn/cuda_reduce.cuh"
#include "pycnn/cuda_utils.h"
#include "pycnn/ops/prelu.h"

namespace pycnn {

namespace {

constexpr int kThreads = 256;

__global__ void prelu_forward_kernel(float* __restrict__ y, const float* __restrict__ x,
                                     const float* __restrict__ w, int64_t n, int64_t channels,
                                     int64_t inner) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += stride)
    y[i] = x[i] > 0.0f ? x[i] : w[(i / inner) % channels] * x[i];
}

__global__ void prelu_input_backward_kernel(float* __restrict__ dx, const float* __restrict__ dy,
                                            const float* __restrict__ x,
                                            const float* __restrict__ w, int64_t n,
                                            int64_t channels, int64_t inner) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += stride)
    dx[i] = x[i] > 0.0f ? dy[i] : w[(i / inner) % channels] * dy[i];
}

__global__ void prelu_weight_backward_kernel(float* __restrict__ dw, const float* __restrict__ dy,
                                             const float* __restrict__ x, int64_t outer,
                                             int64_t channels, int64_t inner) {
  const int64_t c = blockIdx.y, count = outer * inner, stride = int64_t(gridDim.x) * blockDim.x;
  float sum = 0.0f;
  for (int64_t k = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; k < count; k += stride) {
    const int64_t i = ((k / inner) * channels + c) * inner + k % inner;
    sum += x[i] > 0.0f ? 0.0f : dy[i] * x[i];
  }
  sum = cuda::block_sum(sum);
  if (threadIdx.x == 0) atomicAdd(dw + c, sum);
}

}  // namespace

namespace cuda {

void prelu_forward(float* y, const float* x, const float* w, const PreluShape& s) {
  const int64_t n = s.outer * s.channels * s.inner;
  if (n <= 0) return;
  prelu_forward_kernel<<<cuda::grid_stride_blocks(n, kThreads), kThreads, 0, cuda::stream()>>>(
      y, x, w, n, s.channels, s.inner);
  check_launch("prelu");
}

void prelu_backward(float* dx, float* dw, const float* dy, const float* x, const float* w,
                    const PreluShape& s) {
  const int64_t n = s.outer * s.channels * s.inner;
  if (n <= 0) return;
  if (dx) {
    prelu_input_backward_kernel<<<cuda::grid_stride_blocks(n, kThreads), kThreads, 0,
                                  cuda::stream()>>>(dx, dy, x, w, n, s.channels, s.inner);
    check_launch("prelu backward");
  }
  if (dw) {
    // Enough blocks per channel to fill the GPU when there are few channels (a single shared
    // slope is one channel), at most 65535 channels in the y dimension of the grid.
    if (s.channels > 65535)
      value_error("prelu backward: at most 65535 channels on CUDA, got ", s.channels);
    const int64_t per_channel = s.outer * s.inner;
    int64_t split = (per_channel + 8 * kThreads - 1) / (8 * kThreads);
    const int64_t cap = 1 + 1024 / s.channels;
    if (split > cap) split = cap;
    const dim3 grid(static_cast<unsigned>(split), static_cast<unsigned>(s.channels));
    prelu_weight_backward_kernel<<<grid, kThreads, 0, cuda::stream()>>>(dw, dy, x, s.outer,
                                                                        s.channels, s.inner);
    check_launch("prelu backward");
  }
}

}  // namespace cuda
}  // namespace pycnn
