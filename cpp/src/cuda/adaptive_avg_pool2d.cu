// adaptive_avg_pool2d on CUDA. Global (1x1) pooling: one warp per plane, lanes stride over
// the plane and combine with warp shuffles. Other sizes: one thread per output element forward.
// Backward (any size): one thread per input element, gathering dy / bin size over the bins that
// cover it; no atomics, so the result is deterministic and dx is simply overwritten (=).
//
// x [N, C, H, W] -> y [N, C, OH, OW]; bins from adaptive_bin_start/end (adaptive_avg_pool2d.h), the
// code the CPU kernels run.
#include <cuda_runtime.h>

#include "pycnn/cuda_utils.h"
#include "pycnn/ops/adaptive_avg_pool2d.h"

namespace pycnn {

namespace {

constexpr int kThreads = 256;
constexpr int kWarp = 32;

__global__ void global_avg_pool2d_kernel(float* y, const float* x, int64_t planes,
                                         int64_t plane_size) {
  const int lane = threadIdx.x % kWarp;
  const int64_t warps = static_cast<int64_t>(gridDim.x) * (blockDim.x / kWarp);
  for (int64_t p = blockIdx.x * static_cast<int64_t>(blockDim.x / kWarp) + threadIdx.x / kWarp;
       p < planes; p += warps) {
    const float* xp = x + p * plane_size;
    float sum = 0.0f;
    for (int64_t i = lane; i < plane_size; i += kWarp) sum += xp[i];
    for (int offset = kWarp / 2; offset > 0; offset /= 2)
      sum += __shfl_down_sync(0xffffffffu, sum, offset);
    if (lane == 0) y[p] = sum / static_cast<float>(plane_size);
  }
}

__global__ void adaptive_avg_pool2d_forward_kernel(float* y, const float* x, AdaptivePool2dShape s,
                                                   int64_t total) {
  for (int64_t o = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; o < total;
       o += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t ow = o % s.OW, oh = (o / s.OW) % s.OH, p = o / (s.OW * s.OH);
    const float* xp = x + p * s.H * s.W;
    const int64_t h0 = adaptive_bin_start(oh, s.H, s.OH), h1 = adaptive_bin_end(oh, s.H, s.OH);
    const int64_t w0 = adaptive_bin_start(ow, s.W, s.OW), w1 = adaptive_bin_end(ow, s.W, s.OW);
    float sum = 0.0f;
    for (int64_t h = h0; h < h1; ++h)
      for (int64_t w = w0; w < w1; ++w) sum += xp[h * s.W + w];
    y[o] = sum / static_cast<float>((h1 - h0) * (w1 - w0));
  }
}

// The bins [lo, hi) covering input index h of `in` pooled to `out`: bin i covers h exactly when
// floor(i*in/out) <= h < ceil((i+1)*in/out), i.e. floor(h*out/in) <= i < ceil((h+1)*out/in).
__device__ inline void covering_bins(int64_t h, int64_t in, int64_t out, int64_t& lo, int64_t& hi) {
  lo = (h * out) / in;
  hi = ((h + 1) * out + in - 1) / in;
  if (hi > out) hi = out;
}

__global__ void adaptive_avg_pool2d_backward_kernel(float* dx, const float* dy,
                                                    AdaptivePool2dShape s, int64_t total) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t w = i % s.W, h = (i / s.W) % s.H, p = i / (s.W * s.H);
    const float* dyp = dy + p * s.OH * s.OW;
    int64_t oh_lo, oh_hi, ow_lo, ow_hi;
    covering_bins(h, s.H, s.OH, oh_lo, oh_hi);
    covering_bins(w, s.W, s.OW, ow_lo, ow_hi);
    float sum = 0.0f;
    for (int64_t oh = oh_lo; oh < oh_hi; ++oh) {
      const int64_t bin_h = adaptive_bin_end(oh, s.H, s.OH) - adaptive_bin_start(oh, s.H, s.OH);
      for (int64_t ow = ow_lo; ow < ow_hi; ++ow) {
        const int64_t bin_w = adaptive_bin_end(ow, s.W, s.OW) - adaptive_bin_start(ow, s.W, s.OW);
        sum += dyp[oh * s.OW + ow] / static_cast<float>(bin_h * bin_w);
      }
    }
    dx[i] = sum;
  }
}

}  // namespace

namespace cuda {

void adaptive_avg_pool2d_forward(float* y, const float* x, const AdaptivePool2dShape& s) {
  if (s.is_global()) {
    if (s.planes() == 0) return;
    global_avg_pool2d_kernel<<<cuda::grid_stride_blocks(s.planes(), kThreads / kWarp), kThreads, 0,
                               cuda::stream()>>>(y, x, s.planes(), s.H * s.W);
    check_launch("adaptive_avg_pool2d (global)");
    return;
  }
  const int64_t total = s.planes() * s.OH * s.OW;
  if (total == 0) return;
  adaptive_avg_pool2d_forward_kernel<<<cuda::grid_stride_blocks(total, kThreads), kThreads, 0,
                                       cuda::stream()>>>(y, x, s, total);
  check_launch("adaptive_avg_pool2d");
}

void adaptive_avg_pool2d_backward(float* dx, const float* dy, const AdaptivePool2dShape& s) {
  const int64_t total = s.planes() * s.H * s.W;
  if (total == 0) return;
  adaptive_avg_pool2d_backward_kernel<<<cuda::grid_stride_blocks(total, kThreads), kThreads, 0,
                                        cuda::stream()>>>(dx, dy, s, total);
  check_launch("adaptive_avg_pool2d backward");
}

}  // namespace cuda
}  // namespace pycnn
