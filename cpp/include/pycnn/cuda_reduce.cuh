// Warp and block reductions for CUDA kernels (device code; include from .cu files only).
//
//   warp_sum(v), warp_max(v)  combine v over the 32 lanes of a warp with xor shuffles; every lane
//                             gets the result. All 32 lanes must call (full mask).
//   block_sum(v)              the sum of v over the block, valid in thread 0 only. blockDim.x must be
//                             a multiple of 32 and every thread of the block must call it.
// T is float or double: a kernel that accumulates in double keeps double through the reduction.
#pragma once

#include <cuda_runtime.h>

namespace pycnn::cuda {

template <typename T>
__device__ __forceinline__ T warp_sum(T v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

__device__ __forceinline__ float warp_max(float v) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// The leading barrier lets a block call it twice in a row without overwriting partials that warp 0
// is still reading from the previous call.
template <typename T>
__device__ T block_sum(T v) {
  __shared__ T partial[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  __syncthreads();
  v = warp_sum(v);
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  v = threadIdx.x < blockDim.x / 32 ? partial[threadIdx.x] : T(0);
  if (warp == 0) v = warp_sum(v);
  return v;
}

}  // namespace pycnn::cuda
