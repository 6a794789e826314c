// max_pool2d on the CPU: a direct loop over each window's in-bounds taps (pool_taps and
// max_pool_window in max_pool2d.h, the scan the CUDA kernel runs too), so padding never needs a
// -inf sentinel in memory and never wins.
//
// x [N, C, H, W] -> y, idx [N, C, OH, OW]; idx holds the flat argmax h*W + w within its plane.
// Forward threads take (plane, output row) pairs, which keeps both cores busy at batch 1; backward
// threads take whole planes, because overlapping windows of one plane may route gradient to the
// same input element.
#include "pycnn/ops/max_pool2d.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "pycnn/vector_math.h"

namespace pycnn::cpu {

// Below this many window taps a parallel region costs more than it saves.
static constexpr int64_t kParallelWork = 1 << 15;

// Every window inside the input (no padding, no ceil-mode overhang: LeNet's and VGG's pools): the
// taps need no bounds. One output row at a time, tap by tap across the whole row, with selects
// instead of branches: on real data "is this tap larger" is a coin flip, and the mispredicted
// branches of a per-window loop cost more than the taps themselves (4 ns a tap here).
static void max_pool2d_forward_interior(float* y, int64_t* idx, const float* x,
                                        const Pool2dShape& s, bool parallel) {
  const int64_t OH = s.out_h(), OW = s.out_w(), planes = s.planes();
  const int64_t H = s.H, W = s.W, KH = s.KH, KW = s.KW, sh = s.stride_h, sw = s.stride_w;
  const int64_t dh = s.dil_h, dw = s.dil_w;
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t p = 0; p < planes; ++p) {
    const float* __restrict xp = x + p * H * W;
    for (int64_t oh = 0; oh < OH; ++oh) {
      float* __restrict best = y + (p * OH + oh) * OW;
      int64_t* __restrict best_i = idx + (p * OH + oh) * OW;
      for (int64_t ow = 0; ow < OW; ++ow) {  // the first tap starts every window
        best_i[ow] = oh * sh * W + ow * sw;
        best[ow] = xp[best_i[ow]];
      }
      for (int64_t kh = 0; kh < KH; ++kh)
        for (int64_t kw = 0; kw < KW; ++kw) {
          const int64_t offset = (oh * sh + kh * dh) * W + kw * dw;
          for (int64_t ow = 0; ow < OW; ++ow) {
            const int64_t i = offset + ow * sw;
            const float v = xp[i], b = best[ow];
            // First of equal maxima; NaN takes over. The select is done with bit masks: written
            // as ?: the compiler turns it back into a branch and a conditional store.
            const int64_t take = -static_cast<int64_t>((v > b) | (v != v));  // all ones or zero
            uint32_t vb, bb;
            std::memcpy(&vb, &v, 4);
            std::memcpy(&bb, &b, 4);
            const uint32_t chosen =
                (vb & static_cast<uint32_t>(take)) | (bb & ~static_cast<uint32_t>(take));
            std::memcpy(&best[ow], &chosen, 4);
            best_i[ow] = (i & take) | (best_i[ow] & ~take);
          }
        }
    }
  }
}

void max_pool2d_forward(float* y, int64_t* idx, const float* x, const Pool2dShape& s) {
  const int64_t OH = s.out_h(), OW = s.out_w(), planes = s.planes();
  const bool parallel = planes * OH * OW * s.KH * s.KW > kParallelWork;
  if (s.pad_h == 0 && s.pad_w == 0 && (OH - 1) * s.stride_h + s.dil_h * (s.KH - 1) < s.H &&
      (OW - 1) * s.stride_w + s.dil_w * (s.KW - 1) < s.W)
    return max_pool2d_forward_interior(y, idx, x, s, parallel);
#pragma omp parallel for collapse(2) schedule(static) if (parallel)
  for (int64_t p = 0; p < planes; ++p)
    for (int64_t oh = 0; oh < OH; ++oh) {
      const float* xp = x + p * s.H * s.W;
      float* yrow = y + (p * OH + oh) * OW;
      int64_t* irow = idx + (p * OH + oh) * OW;
      const int64_t h0 = oh * s.stride_h - s.pad_h;
      const PoolTaps th = pool_taps(h0, s.dil_h, s.KH, s.H);
      for (int64_t ow = 0; ow < OW; ++ow) {
        const int64_t w0 = ow * s.stride_w - s.pad_w;
        const WindowMax best =
            max_pool_window(xp, s, h0, th, w0, pool_taps(w0, s.dil_w, s.KW, s.W));
        yrow[ow] = best.value;
        irow[ow] = best.index;
      }
    }
}

// The max over a window is separable: one output row first takes the max of its in-bounds kernel
// rows down each input column (contiguous vector selects over the whole width, into `column`), then
// the max of KW taps of that along the row. KH + KW selects an output instead of KH * KW, and only
// the second pass reads with the stride. NaN takes over in both, as in the scan.
PYCNN_VECTOR_CLONES static void max_pool_row_values(float* __restrict yrow,
                                                    float* __restrict column, const float* xp,
                                                    const Pool2dShape& s, int64_t h0, PoolTaps th,
                                                    int64_t OW, int64_t lo, int64_t hi) {
  const int64_t W = s.W;
  for (int64_t w = 0; w < W; ++w) column[w] = -INFINITY;
  for (int64_t kh = th.lo; kh < th.hi; ++kh) {
    const float* row = xp + (h0 + kh * s.dil_h) * W;
#pragma omp simd
    for (int64_t w = 0; w < W; ++w) {
      const float v = row[w], b = column[w];
      column[w] = detail::select((v > b) | (v != v), v, b);
    }
  }
  for (int64_t ow = 0; ow < OW; ++ow) {  // border windows, reaching into the padding
    if (ow == lo && lo < hi) ow = hi;
    if (ow >= OW) break;
    const int64_t w0 = ow * s.stride_w - s.pad_w;
    const PoolTaps tw = pool_taps(w0, s.dil_w, s.KW, W);
    float best = -INFINITY;
    for (int64_t kw = tw.lo; kw < tw.hi; ++kw) {
      const float v = column[w0 + kw * s.dil_w];
      best = detail::select((v > best) | (v != v), v, best);
    }
    yrow[ow] = best;
  }
  for (int64_t ow = lo; ow < hi; ++ow) yrow[ow] = -INFINITY;
  for (int64_t kw = 0; kw < s.KW; ++kw) {
    const float* tap = column - s.pad_w + kw * s.dil_w;
#pragma omp simd
    for (int64_t ow = lo; ow < hi; ++ow) {
      const float v = tap[ow * s.stride_w], b = yrow[ow];
      yrow[ow] = detail::select((v > b) | (v != v), v, b);
    }
  }
}

void max_pool2d_forward_values(float* y, const float* x, const Pool2dShape& s) {
  const int64_t OH = s.out_h(), OW = s.out_w(), planes = s.planes();
  // Interior columns: w0 = ow*stride - pad >= 0 and w0 + dil*(KW-1) < W.
  const int64_t lo = std::min(OW, (s.pad_w + s.stride_w - 1) / s.stride_w);
  const int64_t last = s.W - 1 - s.dil_w * (s.KW - 1) + s.pad_w;  // the largest ow*stride allowed
  const int64_t hi = last < 0 ? lo : std::max(lo, std::min(OW, last / s.stride_w + 1));
  const bool parallel = planes * OH * OW * s.KH * s.KW > kParallelWork;
#pragma omp parallel if (parallel)
  {
    thread_local std::vector<float> column;
    column.resize(s.W);
#pragma omp for collapse(2) schedule(static)
    for (int64_t p = 0; p < planes; ++p)
      for (int64_t oh = 0; oh < OH; ++oh) {
        const int64_t h0 = oh * s.stride_h - s.pad_h;
        max_pool_row_values(y + (p * OH + oh) * OW, column.data(), x + p * s.H * s.W, s, h0,
                            pool_taps(h0, s.dil_h, s.KH, s.H), OW, lo, hi);
      }
  }
}

void max_pool2d_backward(float* dx, const float* dy, const int64_t* idx, const Pool2dShape& s) {
  const int64_t OH = s.out_h(), OW = s.out_w(), planes = s.planes();
  const int64_t plane_in = s.H * s.W, plane_out = OH * OW;
  const bool parallel = planes * (plane_in + plane_out) > kParallelWork;
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t p = 0; p < planes; ++p) {
    float* dxp = dx + p * plane_in;
    const float* dyp = dy + p * plane_out;
    const int64_t* ip = idx + p * plane_out;
    std::memset(dxp, 0, plane_in * sizeof(float));
    for (int64_t o = 0; o < plane_out; ++o)
      if (ip[o] >= 0) dxp[ip[o]] += dyp[o];
  }
}

}  // namespace pycnn::cpu
