// softmax and log_softmax on CUDA, x and y viewed as [outer, dim, inner] (softmax.h,
// log_softmax.h): one kernel pair for both, LOG picking the two lines that differ.
//  - inner == 1: one warp per row of `dim` contiguous floats; lanes stride along the row (coalesced)
//    and combine max / sum / dot with warp shuffles.
//  - inner > 1: one thread per (outer, inner) position walking its `dim` values `inner` apart;
//    neighbouring threads read neighbouring floats, so each step is coalesced.
// exp's argument stays <= 0 (stable for large logits), and log_softmax's y = (x - m) - lse never
// takes the log of an underflowed probability. No shared writes: no races.
#include <cuda_runtime.h>

#include "pycnn/cuda_reduce.cuh"
#include "pycnn/cuda_utils.h"
#include "pycnn/ops/softmax.h"

namespace pycnn {

namespace {

constexpr int kThreads = 256;

// Every lane of a warp gets the same row, so the shuffles see all 32 lanes.
template <bool LOG>
__global__ void softmax_rows_forward(float* __restrict__ y, const float* __restrict__ x,
                                     int64_t rows, int64_t D) {
  const int lane = threadIdx.x & 31;
  const int64_t warps = int64_t(gridDim.x) * (blockDim.x / 32);
  for (int64_t r = (blockIdx.x * int64_t(blockDim.x) + threadIdx.x) / 32; r < rows; r += warps) {
    const float* xr = x + r * D;
    float* yr = y + r * D;
    float m = -INFINITY;
    for (int64_t d = lane; d < D; d += 32) m = fmaxf(m, xr[d]);
    m = cuda::warp_max(m);
    float sum = 0.0f;
    for (int64_t d = lane; d < D; d += 32) {
      const float e = expf(xr[d] - m);
      if constexpr (!LOG) yr[d] = e;
      sum += e;
    }
    sum = cuda::warp_sum(sum);
    if constexpr (LOG) {
      const float lse = logf(sum);
      for (int64_t d = lane; d < D; d += 32) yr[d] = (xr[d] - m) - lse;
    } else {
      const float inv = 1.0f / sum;
      for (int64_t d = lane; d < D; d += 32) yr[d] *= inv;
    }
  }
}

template <bool LOG>
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
      if constexpr (!LOG) y[base + d * inner] = e;
      sum += e;
    }
    if constexpr (LOG) {
      const float lse = logf(sum);
      for (int64_t d = 0; d < D; ++d) y[base + d * inner] = (x[base + d * inner] - m) - lse;
    } else {
      const float inv = 1.0f / sum;
      for (int64_t d = 0; d < D; ++d) y[base + d * inner] *= inv;
    }
  }
}

// The backward from the saved output: softmax dx = y * (dy - sum(dy * y)),
// log_softmax dx = dy - exp(y) * sum(dy).
template <bool LOG>
__device__ __forceinline__ float backward_term(float dy, float y) {
  return LOG ? dy : dy * y;
}

template <bool LOG>
__device__ __forceinline__ float backward_dx(float dy, float y, float total) {
  return LOG ? dy - expf(y) * total : y * (dy - total);
}

template <bool LOG>
__global__ void softmax_rows_backward(float* __restrict__ dx, const float* __restrict__ dy,
                                      const float* __restrict__ y, int64_t rows, int64_t D) {
  const int lane = threadIdx.x & 31;
  const int64_t warps = int64_t(gridDim.x) * (blockDim.x / 32);
  for (int64_t r = (blockIdx.x * int64_t(blockDim.x) + threadIdx.x) / 32; r < rows; r += warps) {
    const int64_t off = r * D;
    float total = 0.0f;
    for (int64_t d = lane; d < D; d += 32) total += backward_term<LOG>(dy[off + d], y[off + d]);
    total = cuda::warp_sum(total);
    for (int64_t d = lane; d < D; d += 32)
      dx[off + d] = backward_dx<LOG>(dy[off + d], y[off + d], total);
  }
}

template <bool LOG>
__global__ void softmax_columns_backward(float* __restrict__ dx, const float* __restrict__ dy,
                                         const float* __restrict__ y, int64_t outer, int64_t D,
                                         int64_t inner) {
  const int64_t positions = outer * inner, stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t p = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; p < positions; p += stride) {
    const int64_t base = (p / inner) * D * inner + p % inner;
    float total = 0.0f;
    for (int64_t d = 0; d < D; ++d)
      total += backward_term<LOG>(dy[base + d * inner], y[base + d * inner]);
    for (int64_t d = 0; d < D; ++d) {
      const int64_t k = base + d * inner;
      dx[k] = backward_dx<LOG>(dy[k], y[k], total);
    }
  }
}

}  // namespace

namespace cuda {

template <bool LOG>
void softmax_family_forward(float* y, const float* x, const SoftmaxShape& s) {
  if (s.outer * s.dim * s.inner == 0) return;
  if (s.inner == 1)
    softmax_rows_forward<LOG>
        <<<grid_stride_blocks(s.outer * 32, kThreads), kThreads, 0, stream()>>>(y, x, s.outer,
                                                                                s.dim);
  else
    softmax_columns_forward<LOG>
        <<<grid_stride_blocks(s.outer * s.inner, kThreads), kThreads, 0, stream()>>>(
            y, x, s.outer, s.dim, s.inner);
  check_launch(LOG ? "log_softmax" : "softmax");
}

template <bool LOG>
void softmax_family_backward(float* dx, const float* dy, const float* y, const SoftmaxShape& s) {
  if (s.outer * s.dim * s.inner == 0) return;
  if (s.inner == 1)
    softmax_rows_backward<LOG>
        <<<grid_stride_blocks(s.outer * 32, kThreads), kThreads, 0, stream()>>>(dx, dy, y, s.outer,
                                                                                s.dim);
  else
    softmax_columns_backward<LOG>
        <<<grid_stride_blocks(s.outer * s.inner, kThreads), kThreads, 0, stream()>>>(
            dx, dy, y, s.outer, s.dim, s.inner);
  check_launch(LOG ? "log_softmax backward" : "softmax backward");
}

template void softmax_family_forward<false>(float*, const float*, const SoftmaxShape&);
template void softmax_family_forward<true>(float*, const float*, const SoftmaxShape&);
template void softmax_family_backward<false>(float*, const float*, const float*,
                                             const SoftmaxShape&);
template void softmax_family_backward<true>(float*, const float*, const float*,
                                            const SoftmaxShape&);

void softmax_forward(float* y, const float* x, const SoftmaxShape& s) {
  softmax_family_forward<false>(y, x, s);
}

void softmax_backward(float* dx, const float* dy, const float* y, const SoftmaxShape& s) {
  softmax_family_backward<false>(dx, dy, y, s);
}

}  // namespace cuda
}  // namespace pycnn
