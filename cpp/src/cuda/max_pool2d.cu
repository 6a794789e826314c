// max_pool2d on CUDA: one thread per output element forward, one per input element backward.
//
// x [N, C, H, W] -> y, idx [N, C, OH, OW]; idx holds the flat argmax h*W + w within its plane, and
// the window scan (pool_taps in max_pool2d.h, kh then kw, strict >, NaN wins) is the CPU's, so both
// pick the same element among ties. Backward gathers: each input element sums dy over the few
// windows that can reach it and whose argmax is it. No atomics, so the result is deterministic and
// dx is simply overwritten (=).
#include <cuda_runtime.h>

#include <cmath>

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
    const float* xp = x + p * s.H * s.W;
    const int64_t h0 = oh * s.stride_h - s.pad_h, w0 = ow * s.stride_w - s.pad_w;
    const PoolTaps th = pool_taps(h0, s.dil_h, s.KH, s.H);
    const PoolTaps tw = pool_taps(w0, s.dil_w, s.KW, s.W);
    float best = -INFINITY;
    int64_t best_i = (th.lo < th.hi && tw.lo < tw.hi)
                         ? (h0 + th.lo * s.dil_h) * s.W + w0 + tw.lo * s.dil_w
                         : -1;
    for (int64_t kh = th.lo; kh < th.hi; ++kh) {
      const int64_t row = (h0 + kh * s.dil_h) * s.W + w0;
      for (int64_t kw = tw.lo; kw < tw.hi; ++kw) {
        const int64_t i = row + kw * s.dil_w;
        const float v = xp[i];
        if (v > best || isnan(v)) {
          best = v;
          best_i = i;
        }
      }
    }
    y[o] = best;
    idx[o] = best_i;
  }
}

// The output rows [lo, hi) whose window has a tap on input row h: oh*stride - pad + k*dil = h for
// some k in [0, kernel), i.e. oh*stride in [h + pad - dil*(kernel-1), h + pad].
__device__ inline void reaching_outputs(int64_t h, int64_t stride, int64_t pad, int64_t dil,
                                        int64_t kernel, int64_t out, int64_t& lo, int64_t& hi) {
  const int64_t extent = dil * (kernel - 1) + 1;
  lo = h + pad < extent ? 0 : (h + pad - extent) / stride + 1;
  hi = (h + pad) / stride + 1;
  if (hi > out) hi = out;
}

__global__ void max_pool2d_backward_kernel(float* dx, const float* dy, const int64_t* idx,
                                           Pool2dShape s, int64_t OH, int64_t OW, int64_t total) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t w = i % s.W, h = (i / s.W) % s.H, p = i / (s.W * s.H);
    const int64_t flat = h * s.W + w;
    const float* dyp = dy + p * OH * OW;
    const int64_t* ip = idx + p * OH * OW;
    int64_t oh_lo, oh_hi, ow_lo, ow_hi;
    reaching_outputs(h, s.stride_h, s.pad_h, s.dil_h, s.KH, OH, oh_lo, oh_hi);
    reaching_outputs(w, s.stride_w, s.pad_w, s.dil_w, s.KW, OW, ow_lo, ow_hi);
    float sum = 0.0f;
    for (int64_t oh = oh_lo; oh < oh_hi; ++oh)
      for (int64_t ow = ow_lo; ow < ow_hi; ++ow)
        if (ip[oh * OW + ow] == flat) sum += dyp[oh * OW + ow];
    dx[i] = sum;
  }
}

}  // namespace

namespace cuda {

void max_pool2d_forward(float* y, int64_t* idx, const float* x, const Pool2dShape& s) {
  const int64_t OH = s.out_h(), OW = s.out_w(), total = s.planes() * OH * OW;
  if (total == 0) return;
  max_pool2d_forward_kernel
      <<<cuda::grid_stride_blocks(total, kThreads), kThreads, 0, cuda::stream()>>>(
          y, idx, x, s, OH, OW, total);
  check_launch("max_pool2d");
}

void max_pool2d_backward(float* dx, const float* dy, const int64_t* idx, const Pool2dShape& s) {
  const int64_t total = s.planes() * s.H * s.W;
  if (total == 0) return;
  max_pool2d_backward_kernel
      <<<cuda::grid_stride_blocks(total, kThreads), kThreads, 0, cuda::stream()>>>(
          dx, dy, idx, s, s.out_h(), s.out_w(),
                                                              total);
  check_launch("max_pool2d backward");
}

}  // namespace cuda
}  // namespace pycnn
