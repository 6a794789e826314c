// Elementwise maps for memory-bound CUDA ops (device code; include from .cu files only).
//
//   map_elements(op, n, f, out, a)     out[i] = f(a[i])        for i in [0, n)
//   map_elements(op, n, f, out, a, b)  out[i] = f(a[i], b[i])
//
// f is a functor with a __device__ operator() (its fields carry hyper-parameters such as a slope).
// One grid-stride loop on pycnn's stream; n <= 0 launches nothing; a failed launch throws
// RuntimeError naming `op`. out may not alias a or b (__restrict__).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "pycnn/cuda_utils.h"

namespace pycnn::cuda {

namespace map_detail {

constexpr int kThreads = 256;

template <typename F>
__global__ void map1_kernel(float* __restrict__ out, const float* __restrict__ a, int64_t n, F f) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += stride)
    out[i] = f(a[i]);
}

template <typename F>
__global__ void map2_kernel(float* __restrict__ out, const float* __restrict__ a,
                            const float* __restrict__ b, int64_t n, F f) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += stride)
    out[i] = f(a[i], b[i]);
}

}  // namespace map_detail

template <typename F>
void map_elements(const char* op, int64_t n, F f, float* out, const float* a) {
  if (n <= 0) return;
  using map_detail::kThreads;
  map_detail::map1_kernel<<<grid_stride_blocks(n, kThreads), kThreads, 0, stream()>>>(out, a, n, f);
  check_launch(op);
}

template <typename F>
void map_elements(const char* op, int64_t n, F f, float* out, const float* a, const float* b) {
  if (n <= 0) return;
  using map_detail::kThreads;
  map_detail::map2_kernel<<<grid_stride_blocks(n, kThreads), kThreads, 0, stream()>>>(out, a, b, n,
                                                                                      f);
  check_launch(op);
}

}  // namespace pycnn::cuda
