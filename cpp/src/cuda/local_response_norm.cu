// local_response_norm on CUDA (see pycnn/ops/local_response_norm.h for the formulas): one thread per
// element (grid-stride), each summing its channel window; the backward is two such passes (work,
// then dx), the second reading the first's output, so they are separate launches.
#include <cuda_runtime.h>

#include "pycnn/cuda_utils.h"
#include "pycnn/ops/local_response_norm.h"

namespace pycnn {

namespace {

constexpr int kThreads = 256;

__global__ void local_response_norm_forward_kernel(float* y, float* scale, const float* x,
                                                   LocalResponseNormShape s) {
  const int64_t total = s.N * s.C * s.inner;
  const float coef = s.alpha / static_cast<float>(s.size);
  for (int64_t idx = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; idx < total;
       idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t i = idx % s.inner, c = (idx / s.inner) % s.C, n = idx / (s.inner * s.C);
    const int64_t after = s.size - 1 - s.before;
    const int64_t lo = c - s.before < 0 ? 0 : c - s.before;
    const int64_t hi = c + after > s.C - 1 ? s.C - 1 : c + after;
    float sum = 0.0f;
    for (int64_t j = lo; j <= hi; ++j) {
      const float v = x[(n * s.C + j) * s.inner + i];
      sum += v * v;
    }
    const float sc = s.k + coef * sum;
    scale[idx] = sc;
    y[idx] = x[idx] * powf(sc, -s.beta);
  }
}

__global__ void local_response_norm_work_kernel(float* dx, float* work, const float* dy,
                                                const float* x, const float* scale,
                                                LocalResponseNormShape s) {
  const int64_t total = s.N * s.C * s.inner;
  for (int64_t idx = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; idx < total;
       idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const float p = powf(scale[idx], -s.beta);
    dx[idx] = dy[idx] * p;
    work[idx] = dy[idx] * x[idx] * p / scale[idx];
  }
}

__global__ void local_response_norm_dx_kernel(float* dx, const float* work, const float* x,
                                              LocalResponseNormShape s) {
  const int64_t total = s.N * s.C * s.inner;
  const float coef = 2.0f * s.alpha * s.beta / static_cast<float>(s.size);
  for (int64_t idx = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; idx < total;
       idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t i = idx % s.inner, j = (idx / s.inner) % s.C, n = idx / (s.inner * s.C);
    const int64_t after = s.size - 1 - s.before;
    const int64_t lo = j - after < 0 ? 0 : j - after;
    const int64_t hi = j + s.before > s.C - 1 ? s.C - 1 : j + s.before;
    float sum = 0.0f;
    for (int64_t c = lo; c <= hi; ++c) sum += work[(n * s.C + c) * s.inner + i];
    dx[idx] -= coef * x[idx] * sum;
  }
}

}  // namespace

namespace cuda {

void local_response_norm_forward(float* y, float* scale, const float* x,
                                 const LocalResponseNormShape& s) {
  local_response_norm_forward_kernel<<<cuda::grid_stride_blocks(s.N * s.C * s.inner, kThreads),
                                       kThreads, 0, cuda::stream()>>>(y, scale, x, s);
  check_launch("local_response_norm");
}

void local_response_norm_backward(float* dx, float* work, const float* dy, const float* x,
                                  const float* scale, const LocalResponseNormShape& s) {
  const int blocks = cuda::grid_stride_blocks(s.N * s.C * s.inner, kThreads);
  local_response_norm_work_kernel<<<blocks, kThreads, 0, cuda::stream()>>>(dx, work, dy, x, scale,
                                                                           s);
  check_launch("local_response_norm backward");
  local_response_norm_dx_kernel<<<blocks, kThreads, 0, cuda::stream()>>>(dx, work, x, s);
  check_launch("local_response_norm backward");
}

}  // namespace cuda

}  // namespace pycnn
