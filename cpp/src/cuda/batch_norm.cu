// batch_norm on CUDA (see pycnn/ops/batch_norm.h for the formulas and the contract).
//
// Layout x[N, C, inner]. Statistics: one block per channel, each thread summing a strided share of the
// channel's N*inner values in double, reduced with warp shuffles then across warps through shared
// memory; two passes (mean, then sum of squared deviations) as on the CPU. The normalisation is one
// thread per element. The backward is one block per channel: reduce sum dy and sum dy*(x-mean), then
// the same block writes the channel's dx, so no second launch has to wait for the sums.
#include <cuda_runtime.h>

#include "pycnn/check.h"
#include "pycnn/ops/batch_norm.h"

namespace pycnn {

namespace {

constexpr int kThreads = 256;

__device__ double warp_sum(double v) {
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_down_sync(0xffffffffu, v, offset);
  return v;
}

// The sum of `v` over the block, returned to every thread.
__device__ double block_sum(double v) {
  __shared__ double partial[kThreads / 32];
  __shared__ double total;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  v = warp_sum(v);
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  if (warp == 0) {
    double w = lane < kThreads / 32 ? partial[lane] : 0.0;
    w = warp_sum(w);
    if (lane == 0) total = w;
  }
  __syncthreads();
  const double result = total;
  __syncthreads();  // partial/total are reused by the next call
  return result;
}

// Value j (0 <= j < N*inner) of channel c.
__device__ __forceinline__ int64_t channel_index(int64_t j, int64_t c, int64_t C, int64_t inner) {
  return ((j / inner) * C + c) * inner + j % inner;
}

__global__ void batch_norm_stats_kernel(float* mean, float* rstd, float* running_mean,
                                        float* running_var, const float* x, BatchNormShape s) {
  const int64_t c = blockIdx.x, M = s.N * s.inner;
  double sum = 0.0;
  for (int64_t j = threadIdx.x; j < M; j += blockDim.x) sum += x[channel_index(j, c, s.C, s.inner)];
  const double mu = block_sum(sum) / static_cast<double>(M);
  double squares = 0.0;
  for (int64_t j = threadIdx.x; j < M; j += blockDim.x) {
    const double d = x[channel_index(j, c, s.C, s.inner)] - mu;
    squares += d * d;
  }
  const double var = block_sum(squares) / static_cast<double>(M);
  if (threadIdx.x == 0) {
    mean[c] = static_cast<float>(mu);
    rstd[c] = static_cast<float>(1.0 / sqrt(var + s.eps));
    const double m = s.momentum;
    if (running_mean) running_mean[c] = static_cast<float>((1.0 - m) * running_mean[c] + m * mu);
    if (running_var)
      running_var[c] = static_cast<float>((1.0 - m) * running_var[c] +
                                          m * var * static_cast<double>(M) / static_cast<double>(M - 1));
  }
}

__global__ void batch_norm_eval_stats_kernel(float* mean, float* rstd, const float* running_mean,
                                             const float* running_var, BatchNormShape s) {
  const int64_t c = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (c >= s.C) return;
  mean[c] = running_mean[c];
  rstd[c] = static_cast<float>(1.0 / sqrt(static_cast<double>(running_var[c]) + s.eps));
}

__global__ void batch_norm_normalize_kernel(float* y, const float* x, const float* mean,
                                            const float* rstd, const float* w, const float* b,
                                            BatchNormShape s) {
  const int64_t total = s.N * s.C * s.inner;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t c = (i / s.inner) % s.C;
    const float a = rstd[c] * (w ? w[c] : 1.0f);
    y[i] = (x[i] - mean[c]) * a + (b ? b[c] : 0.0f);
  }
}

__global__ void batch_norm_backward_kernel(float* dx, float* dw, float* db, const float* dy,
                                           const float* x, const float* mean, const float* rstd,
                                           const float* w, BatchNormShape s) {
  const int64_t c = blockIdx.x, M = s.N * s.inner;
  const float mu = mean[c];
  double g = 0.0, gx = 0.0;
  for (int64_t j = threadIdx.x; j < M; j += blockDim.x) {
    const int64_t i = channel_index(j, c, s.C, s.inner);
    g += dy[i];
    gx += static_cast<double>(dy[i]) * (x[i] - mu);
  }
  const double sum_dy = block_sum(g);
  const double sum_dy_xhat = block_sum(gx) * rstd[c];
  if (threadIdx.x == 0) {
    if (db) db[c] += static_cast<float>(sum_dy);
    if (dw) dw[c] += static_cast<float>(sum_dy_xhat);
  }
  if (!dx) return;
  const float scale = rstd[c] * (w ? w[c] : 1.0f);
  const float mean_dy = s.training ? static_cast<float>(sum_dy / static_cast<double>(M)) : 0.0f;
  const float k = s.training ? static_cast<float>(sum_dy_xhat / static_cast<double>(M)) * rstd[c] : 0.0f;
  for (int64_t j = threadIdx.x; j < M; j += blockDim.x) {
    const int64_t i = channel_index(j, c, s.C, s.inner);
    dx[i] = scale * (dy[i] - mean_dy - (x[i] - mu) * k);
  }
}

void check_launch(const char* what) {
  const cudaError_t status = cudaGetLastError();
  if (status != cudaSuccess)
    runtime_error("batch_norm: CUDA launch of ", what, " failed: ", cudaGetErrorString(status));
}

int elementwise_blocks(int64_t total) {
  const int64_t blocks = (total + kThreads - 1) / kThreads;
  return static_cast<int>(blocks < 65535 * 32 ? blocks : 65535 * 32);  // grid-stride covers the rest
}

}  // namespace

namespace cuda {

void batch_norm_forward(float* y, float* mean, float* rstd, float* running_mean, float* running_var,
                        const float* x, const float* w, const float* b, const BatchNormShape& s) {
  if (s.training) {
    batch_norm_stats_kernel<<<static_cast<unsigned>(s.C), kThreads>>>(mean, rstd, running_mean,
                                                                       running_var, x, s);
    check_launch("batch_norm_stats_kernel");
  } else {
    batch_norm_eval_stats_kernel<<<static_cast<unsigned>((s.C + kThreads - 1) / kThreads), kThreads>>>(
        mean, rstd, running_mean, running_var, s);
    check_launch("batch_norm_eval_stats_kernel");
  }
  batch_norm_normalize_kernel<<<elementwise_blocks(s.N * s.C * s.inner), kThreads>>>(y, x, mean, rstd,
                                                                                      w, b, s);
  check_launch("batch_norm_normalize_kernel");
}

void batch_norm_backward(float* dx, float* dw, float* db, const float* dy, const float* x,
                         const float* mean, const float* rstd, const float* w,
                         const BatchNormShape& s) {
  batch_norm_backward_kernel<<<static_cast<unsigned>(s.C), kThreads>>>(dx, dw, db, dy, x, mean, rstd,
                                                                        w, s);
  check_launch("batch_norm_backward_kernel");
}

}  // namespace cuda

}  // namespace pycnn
