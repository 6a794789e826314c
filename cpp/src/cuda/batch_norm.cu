// batch_norm on CUDA (see pycnn/ops/batch_norm.h for the formulas and the contract).
//
// Layout x[N, C, inner]: channel c's M = N*inner values lie in N rows of `inner` contiguous floats.
// The op is memory-bound, so the kernels are built to stream the tensor as few times as possible at
// full bandwidth from every multiprocessor:
// - Reductions split each channel into S chunks (blockIdx.x; S chosen so C*S blocks fill the GPU
//   several times over, where one block per channel left half the multiprocessors idle at C = 64), each
//   block writing its partial sums (double) to a workspace; a second, tiny kernel (one warp per
//   channel) adds the S partials. Loads are float4 when `inner` is a multiple of 4 and the pointers
//   are 16-byte aligned (a 4-aligned run of a channel's values then never crosses a row).
// - Training statistics take ONE pass: sums of d = x - shift and d*d in double, with the shift the
//   channel's first value, so var = E[d^2] - E[d]^2 does not cancel for large means (d and d*d are
//   exact in double; the sums round at 2^-53), in place of the CPU's two passes over the data.
// - The normalisation and dx are elementwise (float4, grid-stride), reading per-channel constants.
// Forward: x read twice (the second time mostly from L2), y written once. Backward: dy and x read
// twice, dx written once.
#include <cuda_runtime.h>

#include <algorithm>

#include "pycnn/check.h"
#include "pycnn/cuda_utils.h"
#include "pycnn/device.h"
#include "pycnn/ops/batch_norm.h"

namespace pycnn {

namespace {

constexpr int kThreads = 256;

// Sizes as ints (the launchers check that N*C*inner fits).
struct Dims {
  int N, C, inner, M;  // M = N * inner values per channel
};

__device__ __forceinline__ double warp_sum(double v) {
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_down_sync(0xffffffffu, v, offset);
  return v;
}

// Sums a and b over the block; the totals are valid in thread 0.
__device__ void block_sum2(double& a, double& b) {
  __shared__ double partial[2][kThreads / 32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  a = warp_sum(a);
  b = warp_sum(b);
  if (lane == 0) partial[0][warp] = a, partial[1][warp] = b;
  __syncthreads();
  if (warp == 0) {
    a = warp_sum(lane < kThreads / 32 ? partial[0][lane] : 0.0);
    b = warp_sum(lane < kThreads / 32 ? partial[1][lane] : 0.0);
  }
}

// Calls f(index) for each of channel c's values j in [begin, end), VEC: four at a time (f(index of
// the first), j a multiple of 4). Consecutive threads take consecutive values, so loads coalesce.
template <bool VEC, class F>
__device__ __forceinline__ void for_chunk(const Dims& d, int c, int begin, int end, F f) {
  constexpr int STEP = VEC ? 4 : 1;
#pragma unroll 4
  for (int64_t jj = begin + STEP * int(threadIdx.x); jj < end; jj += STEP * kThreads) {
    const int j = int(jj), n = j / d.inner, p = j - n * d.inner;
    f((n * d.C + c) * d.inner + p);
  }
}

// part[c][s] = (sum d, sum d*d) over chunk s of channel c, d = x - x[0, c, 0].
template <bool VEC>
__global__ void __launch_bounds__(kThreads)
    batch_norm_stats_partial_kernel(double* part, const float* x, Dims d, int S, int chunk) {
  const int c = blockIdx.x / S, s = blockIdx.x % S, begin = s * chunk,
            end = min(d.M, begin + chunk);
  const double shift = __ldg(x + c * d.inner);
  double s1 = 0.0, s2 = 0.0;
  for_chunk<VEC>(d, c, begin, end, [&](int i) {
    if constexpr (VEC) {
      const float4 v = __ldg(reinterpret_cast<const float4*>(x + i));
      const double e0 = v.x - shift, e1 = v.y - shift, e2 = v.z - shift, e3 = v.w - shift;
      s1 += (e0 + e1) + (e2 + e3);
      s2 += (e0 * e0 + e1 * e1) + (e2 * e2 + e3 * e3);
    } else {
      const double e = __ldg(x + i) - shift;
      s1 += e;
      s2 += e * e;
    }
  });
  block_sum2(s1, s2);
  if (threadIdx.x == 0) {
    part[(c * S + s) * 2] = s1;
    part[(c * S + s) * 2 + 1] = s2;
  }
}

// One warp per channel: adds the S partials, writes mean and rstd, updates the running statistics.
__global__ void batch_norm_stats_finish_kernel(float* mean, float* rstd, float* running_mean,
                                               float* running_var, const double* part,
                                               const float* x, Dims d, int S, float eps,
                                               float momentum) {
  const int c = (blockIdx.x * blockDim.x + threadIdx.x) / 32, lane = threadIdx.x & 31;
  if (c >= d.C) return;  // whole warps leave together
  double s1 = 0.0, s2 = 0.0;
  for (int s = lane; s < S; s += 32) s1 += part[(c * S + s) * 2], s2 += part[(c * S + s) * 2 + 1];
  s1 = warp_sum(s1);
  s2 = warp_sum(s2);
  if (lane != 0) return;
  const double M = d.M, shifted_mean = s1 / M;
  const double mu = double(x[c * d.inner]) + shifted_mean;
  const double var = fmax(s2 / M - shifted_mean * shifted_mean, 0.0);
  mean[c] = static_cast<float>(mu);
  rstd[c] = static_cast<float>(1.0 / sqrt(var + eps));
  const double m = momentum;
  if (running_mean) running_mean[c] = static_cast<float>((1.0 - m) * running_mean[c] + m * mu);
  if (running_var)
    running_var[c] = static_cast<float>((1.0 - m) * running_var[c] + m * var * M / (M - 1.0));
}

__global__ void batch_norm_eval_stats_kernel(float* mean, float* rstd, const float* running_mean,
                                             const float* running_var, int C, float eps) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= C) return;
  mean[c] = running_mean[c];
  rstd[c] = static_cast<float>(1.0 / sqrt(static_cast<double>(running_var[c]) + eps));
}

// y = (x - mean[c]) * rstd[c] * w[c] + b[c], VEC: four elements per step (inner % 4 == 0, so the four
// share a channel).
template <bool VEC>
__global__ void __launch_bounds__(kThreads)
    batch_norm_normalize_kernel(float* y, const float* x, const float* mean, const float* rstd,
                                const float* w, const float* b, Dims d, int steps) {
  constexpr int STEP = VEC ? 4 : 1;
  for (int64_t t = blockIdx.x * kThreads + threadIdx.x; t < steps;
       t += int64_t(gridDim.x) * kThreads) {
    const int i = int(t) * STEP, c = (i / d.inner) % d.C;
    const float mu = mean[c], a = rstd[c] * (w ? w[c] : 1.0f), bias = b ? b[c] : 0.0f;
    if constexpr (VEC) {
      const float4 v = __ldg(reinterpret_cast<const float4*>(x + i));
      *reinterpret_cast<float4*>(y + i) = make_float4((v.x - mu) * a + bias, (v.y - mu) * a + bias,
                                                      (v.z - mu) * a + bias, (v.w - mu) * a + bias);
    } else {
      y[i] = (x[i] - mu) * a + bias;
    }
  }
}

// part[c][s] = (sum dy, sum dy * (x - mean[c])) over chunk s of channel c.
template <bool VEC>
__global__ void __launch_bounds__(kThreads)
    batch_norm_backward_partial_kernel(double* part, const float* dy, const float* x,
                                       const float* mean, Dims d, int S, int chunk) {
  const int c = blockIdx.x / S, s = blockIdx.x % S, begin = s * chunk,
            end = min(d.M, begin + chunk);
  const float mu = mean[c];
  double g = 0.0, gx = 0.0;
  for_chunk<VEC>(d, c, begin, end, [&](int i) {
    if constexpr (VEC) {
      const float4 e = __ldg(reinterpret_cast<const float4*>(dy + i));
      const float4 v = __ldg(reinterpret_cast<const float4*>(x + i));
      g += (double(e.x) + double(e.y)) + (double(e.z) + double(e.w));
      gx += (double(e.x) * (v.x - mu) + double(e.y) * (v.y - mu)) +
            (double(e.z) * (v.z - mu) + double(e.w) * (v.w - mu));
    } else {
      const float e = __ldg(dy + i);
      g += e;
      gx += double(e) * (__ldg(x + i) - mu);
    }
  });
  block_sum2(g, gx);
  if (threadIdx.x == 0) {
    part[(c * S + s) * 2] = g;
    part[(c * S + s) * 2 + 1] = gx;
  }
}

// One warp per channel: adds the partials, accumulates dw and db, and leaves dx's per-channel
// constants coef[c] = (mean, w * rstd, mean of dy, mean of dy*xhat * rstd) for the elementwise kernel
// (the last two are 0 in eval, where the statistics are constants).
__global__ void batch_norm_backward_finish_kernel(float4* coef, float* dw, float* db,
                                                  const double* part, const float* mean,
                                                  const float* rstd, const float* w, Dims d, int S,
                                                  bool training) {
  const int c = (blockIdx.x * blockDim.x + threadIdx.x) / 32, lane = threadIdx.x & 31;
  if (c >= d.C) return;
  double g = 0.0, gx = 0.0;
  for (int s = lane; s < S; s += 32) g += part[(c * S + s) * 2], gx += part[(c * S + s) * 2 + 1];
  g = warp_sum(g);
  gx = warp_sum(gx);
  if (lane != 0) return;
  const double sum_dy_xhat = gx * rstd[c];
  if (db) db[c] += static_cast<float>(g);
  if (dw) dw[c] += static_cast<float>(sum_dy_xhat);
  const double M = d.M;
  coef[c] =
      make_float4(mean[c], rstd[c] * (w ? w[c] : 1.0f), training ? static_cast<float>(g / M) : 0.0f,
                  training ? static_cast<float>(sum_dy_xhat / M) * rstd[c] : 0.0f);
}

// dx = scale * (dy - mean_dy - (x - mean) * k) with coef[c] = (mean, scale, mean_dy, k).
template <bool VEC>
__global__ void __launch_bounds__(kThreads)
    batch_norm_dx_kernel(float* dx, const float* dy, const float* x, const float4* coef, Dims d,
                         int steps) {
  constexpr int STEP = VEC ? 4 : 1;
  for (int64_t t = blockIdx.x * kThreads + threadIdx.x; t < steps;
       t += int64_t(gridDim.x) * kThreads) {
    const int i = int(t) * STEP, c = (i / d.inner) % d.C;
    const float4 k = coef[c];
    if constexpr (VEC) {
      const float4 e = __ldg(reinterpret_cast<const float4*>(dy + i));
      const float4 v = __ldg(reinterpret_cast<const float4*>(x + i));
      *reinterpret_cast<float4*>(dx + i) =
          make_float4(k.y * (e.x - k.z - (v.x - k.x) * k.w), k.y * (e.y - k.z - (v.y - k.x) * k.w),
                      k.y * (e.z - k.z - (v.z - k.x) * k.w), k.y * (e.w - k.z - (v.w - k.x) * k.w));
    } else {
      dx[i] = k.y * (dy[i] - k.z - (x[i] - k.x) * k.w);
    }
  }
}

void check(const char* what) {
  const cudaError_t status = cudaGetLastError();
  if (status != cudaSuccess)
    runtime_error("batch_norm: CUDA launch of ", what, " failed: ", cudaGetErrorString(status));
}

bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15) == 0; }

Dims dims_of(const BatchNormShape& s) {
  cuda::require_int32(s.N * s.C * s.inner, "batch_norm");
  return {int(s.N), int(s.C), int(s.inner), int(s.N * s.inner)};
}

// Chunks per channel: enough blocks for about eight per multiprocessor, each chunk at least 2048
// values (a multiple of 4) so the partial sums stay few.
int chunks_per_channel(const Dims& d, int& chunk) {
  const int64_t want = (8 * int64_t(cuda::sm_count()) + d.C - 1) / d.C;
  const int64_t most = std::max<int64_t>(1, d.M / 2048);
  const int S = static_cast<int>(std::clamp<int64_t>(want, 1, std::min<int64_t>(most, 65535)));
  chunk = (d.M + S - 1) / S;
  chunk = (chunk + 3) / 4 * 4;
  return (d.M + chunk - 1) / chunk;
}

// Grid-stride elementwise launch: at most 16 blocks of kThreads per multiprocessor.
unsigned elementwise_blocks(int steps) {
  return std::min<unsigned>(cuda::blocks_for(steps, kThreads), 16u * unsigned(cuda::sm_count()));
}

}  // namespace

namespace cuda {

void batch_norm_forward(float* y, float* mean, float* rstd, float* running_mean, float* running_var,
                        const float* x, const float* w, const float* b, const BatchNormShape& s) {
  const Dims d = dims_of(s);
  const bool vec = d.inner % 4 == 0 && aligned16(x) && aligned16(y);
  if (s.training) {
    int chunk;
    const int S = chunks_per_channel(d, chunk);
    const cuda::Workspace part(sizeof(double) * 2 * size_t(S) * d.C);
    const unsigned grid = unsigned(S) * unsigned(d.C);
    if (vec)
      batch_norm_stats_partial_kernel<true>
          <<<grid, kThreads, 0, stream()>>>(part.as<double>(), x, d, S, chunk);
    else
      batch_norm_stats_partial_kernel<false>
          <<<grid, kThreads, 0, stream()>>>(part.as<double>(), x, d, S, chunk);
    check("batch_norm_stats_partial_kernel");
    batch_norm_stats_finish_kernel<<<blocks_for(int64_t(d.C) * 32, kThreads), kThreads, 0,
                                     stream()>>>(
        mean, rstd, running_mean, running_var, part.as<const double>(), x, d, S, s.eps, s.momentum);
    check("batch_norm_stats_finish_kernel");
  } else {
    batch_norm_eval_stats_kernel<<<blocks_for(d.C, kThreads), kThreads, 0, stream()>>>(
        mean, rstd, running_mean, running_var, d.C, s.eps);
    check("batch_norm_eval_stats_kernel");
  }
  const int steps = vec ? d.N * d.C * (d.inner / 4) : d.N * d.C * d.inner;
  if (vec)
    batch_norm_normalize_kernel<true>
        <<<elementwise_blocks(steps), kThreads, 0, stream()>>>(y, x, mean, rstd, w, b, d, steps);
  else
    batch_norm_normalize_kernel<false>
        <<<elementwise_blocks(steps), kThreads, 0, stream()>>>(y, x, mean, rstd, w, b, d, steps);
  check("batch_norm_normalize_kernel");
}

// b is read only by the CPU's fused relu, which the binding does not send here.
void batch_norm_backward(float* dx, float* dw, float* db, const float* dy, const float* x,
                         const float* mean, const float* rstd, const float* w, const float* /*b*/,
                         const BatchNormShape& s) {
  const Dims d = dims_of(s);
  const bool vec = d.inner % 4 == 0 && aligned16(x) && aligned16(dy) && (!dx || aligned16(dx));
  int chunk;
  const int S = chunks_per_channel(d, chunk);
  const cuda::Workspace work(sizeof(double) * 2 * size_t(S) * d.C + sizeof(float4) * size_t(d.C));
  double* part = work.as<double>();
  float4* coef = reinterpret_cast<float4*>(part + 2 * size_t(S) * d.C);  // 16-byte aligned
  const unsigned grid = unsigned(S) * unsigned(d.C);
  if (vec)
    batch_norm_backward_partial_kernel<true>
        <<<grid, kThreads, 0, stream()>>>(part, dy, x, mean, d, S, chunk);
  else
    batch_norm_backward_partial_kernel<false>
        <<<grid, kThreads, 0, stream()>>>(part, dy, x, mean, d, S, chunk);
  check("batch_norm_backward_partial_kernel");
  batch_norm_backward_finish_kernel<<<blocks_for(int64_t(d.C) * 32, kThreads), kThreads, 0,
                                      stream()>>>(coef, dw, db, part, mean, rstd, w, d, S,
                                                  s.training);
  check("batch_norm_backward_finish_kernel");
  if (!dx) return;
  const int steps = vec ? d.N * d.C * (d.inner / 4) : d.N * d.C * d.inner;
  if (vec)
    batch_norm_dx_kernel<true>
        <<<elementwise_blocks(steps), kThreads, 0, stream()>>>(dx, dy, x, coef, d, steps);
  else
    batch_norm_dx_kernel<false>
        <<<elementwise_blocks(steps), kThreads, 0, stream()>>>(dx, dy, x, coef, d, steps);
  check("batch_norm_dx_kernel");
}

}  // namespace cuda

}  // namespace pycnn
