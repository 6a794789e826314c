// max_pool2d on CUDA: one thread per output element forward, one per input element backward.
//
// x [N, C, H, W] -> y, idx [N, C, OH, OW]; idx holds the flat argmax h*W + w within its plane, and
// the window scan (max_pool_window in max_pool2d.h: kh then kw, strict >, NaN wins) is the CPU's,
// so both pick the same element among ties. Backward gathers: each input element sums dy over the
// few windows that can reach it (pool_windows_over in pool2d.h) and whose argmax is it. No atomics,
// so the result is deterministic and dx is simply overwritten (=).
#include <cuda_runtime.h>

#include "pycnn/cuda_utils.h"
#include "pycnn/ops/max_pool2d.h"

namespace pycnn {

namespace {

constexpr int kThreads = 256;

__global__ void max_pool2d_forward_kernel(float* y, int64_t* idx, const float* x, Pool2dShape s,
                                          int64_t OH, int64_t OW, int64_t total) {
  for (int64_t o = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; o < total;
       o += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t ow = o % OW, oh = (o / OW) % OH, p = o / (OW * OH);
    const int64_t h0 = oh * s.stride_h - s.pad_h, w0 = ow * s.stride_w - s.pad_w;
    const WindowMax best =
        max_pool_window(x + p * s.H * s.W, s, h0, pool_taps(h0, s.dil_h, s.KH, s.H), w0,
                        pool_taps(w0, s.dil_w, s.KW, s.W));
    y[o] = best.value;
    idx[o] = best.index;
  }
}

__global__ void max_pool2d_backward_kernel(float* dx, const float* dy, const int64_t* idx,
                                           Pool2dShape s, int64_t OH, int64_t OW, int64_t total) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t w = i % s.W, h = (i / s.W) % s.H, p = i / (s.W * s.H);
    const int64_t flat = h * s.W + w;
    const float* dyp = dy + p * OH * OW;
    const int64_t* ip = idx + p * OH * OW;
    const PoolWindows rows = pool_windows_over(h, s.stride_h, s.pad_h, s.dil_h, s.KH, OH);
    const PoolWindows cols = pool_windows_over(w, s.stride_w, s.pad_w, s.dil_w, s.KW, OW);
    float sum = 0.0f;
    for (int64_t oh = rows.lo; oh < rows.hi; ++oh)
      for (int64_t ow = cols.lo; ow < cols.hi; ++ow)
        if (ip[oh * OW + ow] == flat) sum += dyp[oh * OW + ow];
    dx[i] = sum;
  }
}

}  // namespace

namespace cuda {

void max_pool2d_forward(float* y, int64_t* idx, const float* x, const Pool2dShape& s) {
  const int64_t OH = s.out_h(), OW = s.out_w(), total = s.planes() * OH * OW;
  if (total == 0) return;
  max_pool2d_forward_kernel<<<cuda::grid_stride_blocks(total, kThreads), kThreads, 0,
                              cuda::stream()>>>(y, idx, x, s, OH, OW, total);
  check_launch("max_pool2d");
}

void max_pool2d_backward(float* dx, const float* dy, const int64_t* idx, const Pool2dShape& s) {
  const int64_t total = s.planes() * s.H * s.W;
  if (total == 0) return;
  max_pool2d_backward_kernel<<<cuda::grid_stride_blocks(total, kThreads), kThreads, 0,
                               cuda::stream()>>>(dx, dy, idx, s, s.out_h(), s.out_w(), total);
  check_launch("max_pool2d backward");
}

}  // namespace cuda
}  // namespace pycnn
