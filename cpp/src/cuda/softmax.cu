// softmax on CUDA, x and y viewed as [outer, dim, inner] (softmax.h).
//  - inner == 1: one warp per row of `dim` contiguous floats; lanes stride along the row (coalesced)
//    and combine max / sum / dot with warp shuffles.
//  - inner > 1: one thread per (outer, inner) position walking its `dim` values `inner` apart;
//    neighbouring threads read neighbouring floats, so each step is coalesced.
// Three passes keep exp's argument <= 0 (stable for large logits). No shared writes: no races.
#include <cuda_runtime.h>

#include "pycnn/check.h"
#include "pycnn/ops/softmax.h"

namespace pycnn {

namespace {

constexpr int kThreads = 256;

int blocks_for(int64_t n) {
  const int64_t b = (n + kThreads - 1) / kThreads;
  return static_cast<int>(b < 4096 ? b : 4096);
}

void check_launch(const char* op) {
  const cudaError_t status = cudaGetLastError();
  if (status != cudaSuccess)
    runtime_error(op, ": CUDA kernel launch failed: ", cudaGetErrorString(status));
}

__device__ float warp_max(float v) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

__device__ float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// Every lane of a warp gets the same row, so the shuffles see all 32 lanes.
__global__ void softmax_rows_forward(float* __restrict__ y, const float* __restrict__ x,
                                     int64_t rows, int64_t D) {
  const int lane = threadIdx.x & 31;
  const int64_t warps = int64_t(gridDim.x) * (blockDim.x / 32);
  for (int64_t r = (blockIdx.x * int64_t(blockDim.x) + threadIdx.x) / 32; r < rows; r += warps) {
    const float* xr = x + r * D;
    float* yr = y + r * D;
    float m = -INFINITY;
    for (int64_t d = lane; d < D; d += 32) m = fmaxf(m, xr[d]);
    m = warp_max(m);
    float sum = 0.0f;
    for (int64_t d = lane; d < D; d += 32) {
      const float e = expf(xr[d] - m);
      yr[d] = e;
      sum += e;
    }
    const float inv = 1.0f / warp_sum(sum);
    for (int64_t d = lane; d < D; d += 32) yr[d] *= inv;
  }
}

__global__ void softmax_columns_forward(float* __restrict__ y, const float* __restrict__ x,
                                        int64_t outer, int64_t D, int64_t inner) {
  const int64_t positions = outer * inner, stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t p = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; p < positions; p += stride) {
    const int64_t base = (p / inner) * D * inner + p % inner;
    float m = -INFINITY;
    for (int64_t d = 0; d < D; ++d) m = fmaxf(m, x[base + d * inner]);
    float sum = 0.0f;
    for (int64_t d = 0; d < D; ++d) {
      const float e = expf(x[base + d * inner] - m);
      y[base + d * inner] = e;
      sum += e;
    }
    const float inv = 1.0f / sum;
    for (int64_t d = 0; d < D; ++d) y[base + d * inner] *= inv;
  }
}

__global__ void softmax_rows_backward(float* __restrict__ dx, const float* __restrict__ dy,
                                      const float* __restrict__ y, int64_t rows, int64_t D) {
  const int lane = threadIdx.x & 31;
  const int64_t warps = int64_t(gridDim.x) * (blockDim.x / 32);
  for (int64_t r = (blockIdx.x * int64_t(blockDim.x) + threadIdx.x) / 32; r < rows; r += warps) {
    const int64_t off = r * D;
    float dot = 0.0f;
    for (int64_t d = lane; d < D; d += 32) dot += dy[off + d] * y[off + d];
    dot = warp_sum(dot);
    for (int64_t d = lane; d < D; d += 32) dx[off + d] = y[off + d] * (dy[off + d] - dot);
  }
}

__global__ void softmax_columns_backward(float* __restrict__ dx, const float* __restrict__ dy,
                                         const float* __restrict__ y, int64_t outer, int64_t D,
                                         int64_t inner) {
  const int64_t positions = outer * inner, stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t p = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; p < positions; p += stride) {
    const int64_t base = (p / inner) * D * inner + p % inner;
    float dot = 0.0f;
    for (int64_t d = 0; d < D; ++d) dot += dy[base + d * inner] * y[base + d * inner];
    for (int64_t d = 0; d < D; ++d) {
      const int64_t k = base + d * inner;
      dx[k] = y[k] * (dy[k] - dot);
    }
  }
}

}  // namespace

namespace cuda {

void softmax_forward(float* y, const float* x, const SoftmaxShape& s) {
  if (s.outer * s.dim * s.inner == 0) return;
  if (s.inner == 1)
    softmax_rows_forward<<<blocks_for(s.outer * 32), kThreads>>>(y, x, s.outer, s.dim);
  else
    softmax_columns_forward<<<blocks_for(s.outer * s.inner), kThreads>>>(y, x, s.outer, s.dim,
                                                                        s.inner);
  check_launch("softmax");
}

void softmax_backward(float* dx, const float* dy, const float* y, const SoftmaxShape& s) {
  if (s.outer * s.dim * s.inner == 0) return;
  if (s.inner == 1)
    softmax_rows_backward<<<blocks_for(s.outer * 32), kThreads>>>(dx, dy, y, s.outer, s.dim);
  else
    softmax_columns_backward<<<blocks_for(s.outer * s.inner), kThreads>>>(dx, dy, y, s.outer, s.dim,
                                                                         s.inner);
  check_launch("softmax backward");
}

}  // namespace cuda
}  // namespace pycnn
