// avg_pool2d on CUDA: one thread per output element forward, one thread per input element backward.
//
// x [N, C, H, W] -> y [N, C, OH, OW]. Windows and divisors come from avg_pool_span/avg_pool_divisor
// (avg_pool2d.h), the code the CPU kernels run, so ceil_mode windows past the padding divide alike.
// Backward gathers: each input element sums dy / divisor over the windows covering it. No atomics,
// so the result is deterministic and dx is simply overwritten (=).
#include <cuda_runtime.h>

#include "pycnn/cuda_utils.h"
#include "pycnn/ops/avg_pool2d.h"

namespace pycnn {

namespace {

constexpr int kThreads = 256;

__global__ void avg_pool2d_forward_kernel(float* y, const float* x, Pool2dShape s,
                                          AvgPool2dOptions opt, int64_t OH, int64_t OW,
                                          int64_t total) {
  for (int64_t o = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; o < total;
       o += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t ow = o % OW, oh = (o / OW) % OH, p = o / (OW * OH);
    const float* xp = x + p * s.H * s.W;
    const AvgPoolSpan sh = avg_pool_span(oh, s.stride_h, s.pad_h, s.KH, s.H);
    const AvgPoolSpan sw = avg_pool_span(ow, s.stride_w, s.pad_w, s.KW, s.W);
    if (sh.lo >= sh.hi || sw.lo >= sw.hi) {  // a window over padding only averages nothing
      y[o] = 0.0f;
      continue;
    }
    float sum = 0.0f;
    for (int64_t h = sh.lo; h < sh.hi; ++h)
      for (int64_t w = sw.lo; w < sw.hi; ++w) sum += xp[h * s.W + w];
    y[o] = sum / static_cast<float>(avg_pool_divisor(sh, sw, opt));
  }
}

__global__ void avg_pool2d_backward_kernel(float* dx, const float* dy, Pool2dShape s,
                                           AvgPool2dOptions opt, int64_t OH, int64_t OW,
                                           int64_t total) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t w = i % s.W, h = (i / s.W) % s.H, p = i / (s.W * s.H);
    const float* dyp = dy + p * OH * OW;
    const PoolWindows rows = pool_windows_over(h, s.stride_h, s.pad_h, 1, s.KH, OH);
    const PoolWindows cols = pool_windows_over(w, s.stride_w, s.pad_w, 1, s.KW, OW);
    float sum = 0.0f;
    for (int64_t oh = rows.lo; oh < rows.hi; ++oh) {
      const AvgPoolSpan sh = avg_pool_span(oh, s.stride_h, s.pad_h, s.KH, s.H);
      for (int64_t ow = cols.lo; ow < cols.hi; ++ow) {
        const AvgPoolSpan sw = avg_pool_span(ow, s.stride_w, s.pad_w, s.KW, s.W);
        sum += dyp[oh * OW + ow] / static_cast<float>(avg_pool_divisor(sh, sw, opt));
      }
    }
    dx[i] = sum;
  }
}

}  // namespace

namespace cuda {

void avg_pool2d_forward(float* y, const float* x, const Pool2dShape& s, const AvgPool2dOptions& o) {
  const int64_t OH = s.out_h(), OW = s.out_w(), total = s.planes() * OH * OW;
  if (total == 0) return;
  avg_pool2d_forward_kernel<<<cuda::grid_stride_blocks(total, kThreads), kThreads, 0,
                              cuda::stream()>>>(y, x, s, o, OH, OW, total);
  check_launch("avg_pool2d");
}

void avg_pool2d_backward(float* dx, const float* dy, const Pool2dShape& s,
                         const AvgPool2dOptions& o) {
  const int64_t total = s.planes() * s.H * s.W;
  if (total == 0) return;
  avg_pool2d_backward_kernel<<<cuda::grid_stride_blocks(total, kThreads), kThreads, 0,
                               cuda::stream()>>>(dx, dy, s, o, s.out_h(), s.out_w(), total);
  check_launch("avg_pool2d backward");
}

}  // namespace cuda
}  // namespace pycnn
