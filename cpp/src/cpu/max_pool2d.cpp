// max_pool2d on the CPU: a direct loop over each window's in-bounds taps (pool_taps and
// max_pool_window in max_pool2d.h, the scan the CUDA kernel runs too), so padding never needs a
// -inf sentinel in memory and never wins.
//
// x [N, C, H, W] -> y, idx [N, C, OH, OW]; idx holds the flat argmax h*W + w within its plane.
// Forward threads take (plane, output row) pairs, which keeps both cores busy at batch 1; backward
// threads take whole planes, because overlapping windows of one plane may route gradient to the
// same input element.
#include "pycnn/ops/max_pool2d.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "pycnn/vector_math.h"

namespace pycnn::cpu {

// Below this many window taps a parallel region costs more than it saves.
static constexpr int64_t kParallelWork = 1 << 15;

// The output columns [lo, hi) whose windows lie wholly inside the input along the row:
// w0 = ow * stride - pad >= 0 and w0 + dil * (KW - 1) < W.
struct PoolColumns {
  int64_t lo, hi;
};
static PoolColumns pool_interior_columns(const Pool2dShape& s) {
  const int64_t OW = s.out_w();
  const int64_t lo = std::min(OW, (s.pad_w + s.stride_w - 1) / s.stride_w);
  const int64_t last = s.W - 1 - s.dil_w * (s.KW - 1) + s.pad_w;  // the largest ow*stride allowed
  return {lo, last < 0 ? lo : std::max(lo, std::min(OW, last / s.stride_w + 1))};
}

// Interior windows with column stride 2 (LeNet's and VGG's 2x2 pools, the 3x3/2 ones of ResNet's and
// AlexNet's stems) and rows of 8 outputs or more: 8 outputs at a time. A tap's 8 inputs are the even
// lanes of one 16-float load (the odd lanes of the load one float earlier, where the first would read
// past the plane); each tap in scan order is compared with the running best and blended into it,
// value and index, in vector registers, as the scalar scan below does one output at a time (first of
// equal maxima; NaN takes over). A row whose length is not a multiple of 8 ends with a block that
// overlaps the one before (recomputing outputs gives them the same values). Indices are int32 lanes
// widened on the store: the caller keeps this path to planes of fewer than 2^31 floats.
typedef float PoolF16 __attribute__((vector_size(64)));
typedef float PoolF8 __attribute__((vector_size(32)));
typedef int PoolI8 __attribute__((vector_size(32)));
typedef long long PoolL8 __attribute__((vector_size(64)));

// The even (first = 0) or odd (first = 1) lanes of 16 floats, and int32 lanes widened to int64:
// one shuffle and one conversion where the compiler has the builtins (GCC 12, clang), lane by lane
// elsewhere.
#if defined(__has_builtin)
#if __has_builtin(__builtin_shufflevector) && __has_builtin(__builtin_convertvector)
#define PYCNN_POOL_BUILTINS 1
#endif
#endif

// (Results through references: a vector returned by value from a function not compiled for AVX
// changes the ABI, and GCC warns even where the call is inlined.)
static inline void pool_lanes(PoolF8& v, const PoolF16& raw, int first) {
#ifdef PYCNN_POOL_BUILTINS
  v = first ? __builtin_shufflevector(raw, raw, 1, 3, 5, 7, 9, 11, 13, 15)
            : __builtin_shufflevector(raw, raw, 0, 2, 4, 6, 8, 10, 12, 14);
#else
  for (int i = 0; i < 8; ++i) v[i] = raw[2 * i + first];
#endif
}

static inline void pool_widen(PoolL8& v, const PoolI8& i32) {
#ifdef PYCNN_POOL_BUILTINS
  v = __builtin_convertvector(i32, PoolL8);
#else
  for (int i = 0; i < 8; ++i) v[i] = i32[i];
#endif
}

// One output row's columns [lo, hi) (hi - lo >= 8), whose windows start at input row h0 and lie
// wholly inside the input (every kernel row and column in bounds: with padding, the row's interior).
PYCNN_VECTOR_CLONES static void max_pool_row_stride2(float* __restrict best,
                                                     int64_t* __restrict best_i,
                                                     const float* __restrict xp, int64_t plane,
                                                     const Pool2dShape& s, int64_t h0, int64_t lo,
                                                     int64_t hi) {
  const int64_t W = s.W;
  const PoolI8 lane2 = {0, 2, 4, 6, 8, 10, 12, 14};
  for (int64_t ow0 = lo; ow0 < hi; ow0 += 8) {
    if (ow0 + 8 > hi) ow0 = hi - 8;  // the last, overlapping block
    PoolF8 b{};
    PoolI8 bi{};
    bool first = true;
    for (int64_t kh = 0; kh < s.KH; ++kh)
      for (int64_t kw = 0; kw < s.KW; ++kw) {
        const int64_t at = (h0 + kh * s.dil_h) * W + 2 * ow0 - s.pad_w + kw * s.dil_w;
        PoolF16 raw;
        PoolF8 v;
        if (at + 16 <= plane) {
          std::memcpy(&raw, xp + at, sizeof(raw));
          pool_lanes(v, raw, 0);
        } else {  // at >= 1 here (planes of 16+ floats): the block's last input, at + 14, is inside
          std::memcpy(&raw, xp + at - 1, sizeof(raw));
          pool_lanes(v, raw, 1);
        }
        const PoolI8 vi = static_cast<int>(at) + lane2;
        if (first) {
          b = v;
          bi = vi;
          first = false;
          continue;
        }
        const PoolI8 take = (v > b) | (v != v);
        b = take ? v : b;
        bi = take ? vi : bi;
      }
    std::memcpy(best + ow0, &b, sizeof(b));
    PoolL8 wide;
    pool_widen(wide, bi);
    std::memcpy(best_i + ow0, &wide, sizeof(wide));
    if (ow0 + 8 >= hi) break;
  }
}

// Every window inside the input (no padding, no ceil-mode overhang: LeNet's and VGG's pools): the
// taps need no bounds. One output row at a time, tap by tap across the whole row, with selects
// instead of branches: on real data "is this tap larger" is a coin flip, and the mispredicted
// branches of a per-window loop cost more than the taps themselves (4 ns a tap here).
static void max_pool2d_forward_interior(float* y, int64_t* idx, const float* x,
                                        const Pool2dShape& s, bool parallel) {
  const int64_t OH = s.out_h(), OW = s.out_w(), planes = s.planes();
  const int64_t H = s.H, W = s.W, KH = s.KH, KW = s.KW, sh = s.stride_h, sw = s.stride_w;
  const int64_t dh = s.dil_h, dw = s.dil_w;
  // (16 floats or more a plane: a block's load, even or odd lanes, then stays inside the plane)
  const bool vectors = sw == 2 && OW >= 8 && H * W >= 16 && H * W < (int64_t(1) << 31);
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t p = 0; p < planes; ++p) {
    const float* __restrict xp = x + p * H * W;
    for (int64_t oh = 0; oh < OH; ++oh) {
      float* __restrict best = y + (p * OH + oh) * OW;
      int64_t* __restrict best_i = idx + (p * OH + oh) * OW;
      if (vectors) {
        max_pool_row_stride2(best, best_i, xp, H * W, s, oh * sh, 0, OW);
        continue;
      }
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
  // With padding (ResNet's and GoogLeNet's 3x3 stride-2 pools): the rows whose windows have every
  // kernel row in bounds take the vector path for their interior columns [lo, hi), as above; the
  // border windows scan their in-bounds taps one by one. (ResNet-18's stem pool at batch 16 took 70
  // ms of a 1.35 s training step as a per-window scan.)
  const PoolColumns cols = pool_interior_columns(s);
  const bool vectors = s.stride_w == 2 && cols.hi - cols.lo >= 8 && s.H * s.W >= 16 &&
                       s.H * s.W < (int64_t(1) << 31);
#pragma omp parallel for collapse(2) schedule(static) if (parallel)
  for (int64_t p = 0; p < planes; ++p)
    for (int64_t oh = 0; oh < OH; ++oh) {
      const float* xp = x + p * s.H * s.W;
      float* yrow = y + (p * OH + oh) * OW;
      int64_t* irow = idx + (p * OH + oh) * OW;
      const int64_t h0 = oh * s.stride_h - s.pad_h;
      const PoolTaps th = pool_taps(h0, s.dil_h, s.KH, s.H);
      const bool interior_row = vectors && th.lo == 0 && th.hi == s.KH;
      if (interior_row) max_pool_row_stride2(yrow, irow, xp, s.H * s.W, s, h0, cols.lo, cols.hi);
      for (int64_t ow = 0; ow < OW; ++ow) {
        if (interior_row && ow == cols.lo) ow = cols.hi;
        if (ow >= OW) break;
        const int64_t w0 = ow * s.stride_w - s.pad_w;
        const WindowMax best =
            max_pool_window(xp, s, h0, th, w0, pool_taps(w0, s.dil_w, s.KW, s.W));
        yrow[ow] = best.value;
        irow[ow] = best.index;
      }
    }
}

// The max over a window is separable: each output row first takes the max of its in-bounds kernel
// rows down each input column (contiguous vector selects over the whole width, into a row of
// `column`), then the max of KW taps of that along the row. KH + KW selects an output instead of
// KH * KW, and only the second pass reads with the stride (a compile-time 1 or 2 where it is one of
// those, so the strided reads vectorise as shuffles). NaN takes over in both, as in the scan.
//
// Rows are global output rows r = plane * OH + oh, taken `rows` at a time. When every window is
// interior and windows do not overlap along the row ((KW - 1) * dil < stride: LeNet's and VGG's 2x2
// stride-2 pools), `column` keeps its rows OW * stride apart, so output i of the whole chunk reads
// column[i * stride + kw * dil] and the second pass is one long vector loop across rows and planes:
// LeNet's 14- and 5-pixel rows are too short for a vector loop each (73 ns a row, when a row was a
// call).
struct PoolRows {
  int64_t lo, hi;        // the interior output columns (pool_interior_columns)
  int64_t pitch;         // floats between rows of `column`
  bool flat;             // the second pass runs across rows (see above)
  const PoolTaps* taps;  // per output row oh: its in-bounds kernel rows
};

template <int kStride>  // 0: s.stride_w at run time
static inline
    __attribute__((always_inline)) void max_pool_rows_values(float* __restrict y,
                                                             float* __restrict column,
                                                             const float* x, const Pool2dShape& s,
                                                             int64_t r0, int64_t r1,
                                                             const PoolRows& pr) {
  const int64_t W = s.W, OH = s.out_h(), OW = s.out_w(), sw = kStride ? kStride : s.stride_w;
  const int64_t lo = pr.lo, hi = pr.hi, width = std::min(W, pr.pitch);
  // First pass: column maxima of each output row. Plane and row are counted, not divided out: two
  // 64-bit divisions a row cost as much as a 28-pixel row's selects.
  const float* xp = x + (r0 / OH) * s.H * W;
  for (int64_t r = r0, oh = r0 % OH; r < r1; ++r) {
    float* __restrict col = column + (r - r0) * pr.pitch;
    const int64_t h0 = oh * s.stride_h - s.pad_h;
    const PoolTaps th = pr.taps[oh];
    if (th.lo < th.hi) {  // the first in-bounds row starts the column maxima
      const float* row = xp + (h0 + th.lo * s.dil_h) * W;
#pragma omp simd
      for (int64_t w = 0; w < width; ++w) col[w] = row[w];
    } else {
#pragma omp simd
      for (int64_t w = 0; w < width; ++w) col[w] = -INFINITY;
    }
    for (int64_t kh = th.lo + 1; kh < th.hi; ++kh) {
      const float* row = xp + (h0 + kh * s.dil_h) * W;
#pragma omp simd
      for (int64_t w = 0; w < width; ++w) {
        const float v = row[w], b = col[w];
        col[w] = detail::select((v > b) | (v != v), v, b);
      }
    }
    if (++oh == OH) oh = 0, xp += s.H * W;
  }
  // Second pass: (first, count) outputs at y + r0 * OW + first read tap kw of output i at
  // taps[i * sw + kw * dil]; the flat case is one run over the whole chunk.
  const auto along = [&](float* __restrict out, const float* taps, int64_t count) {
#pragma omp simd
    for (int64_t i = 0; i < count; ++i) out[i] = taps[i * sw];
    for (int64_t kw = 1; kw < s.KW; ++kw) {
      const float* tap = taps + kw * s.dil_w;
#pragma omp simd
      for (int64_t i = 0; i < count; ++i) {
        const float v = tap[i * sw], b = out[i];
        out[i] = detail::select((v > b) | (v != v), v, b);
      }
    }
  };
  if (pr.flat) return along(y + r0 * OW, column, (r1 - r0) * OW);
  for (int64_t r = r0; r < r1; ++r) {
    float* __restrict yrow = y + r * OW;
    const float* col = column + (r - r0) * pr.pitch;
    for (int64_t ow = 0; ow < OW; ++ow) {  // border windows, reaching into the padding
      if (ow == lo && lo < hi) ow = hi;
      if (ow >= OW) break;
      const int64_t w0 = ow * sw - s.pad_w;
      const PoolTaps tw = pool_taps(w0, s.dil_w, s.KW, W);
      float best = -INFINITY;
      for (int64_t kw = tw.lo; kw < tw.hi; ++kw) {
        const float v = col[w0 + kw * s.dil_w];
        best = detail::select((v > best) | (v != v), v, best);
      }
      yrow[ow] = best;
    }
    if (lo < hi) along(yrow + lo, col + lo * sw - s.pad_w, hi - lo);
  }
}

PYCNN_VECTOR_CLONES static void max_pool_chunk_values(float* __restrict y, float* __restrict column,
                                                      const float* x, const Pool2dShape& s,
                                                      int64_t r0, int64_t r1, const PoolRows& pr) {
  if (s.stride_w == 2) return max_pool_rows_values<2>(y, column, x, s, r0, r1, pr);
  if (s.stride_w == 1) return max_pool_rows_values<1>(y, column, x, s, r0, r1, pr);
  max_pool_rows_values<0>(y, column, x, s, r0, r1, pr);
}

void max_pool2d_forward_values(float* y, const float* x, const Pool2dShape& s) {
  const int64_t OH = s.out_h(), OW = s.out_w(), rows = s.planes() * OH;
  if (rows == 0 || OW == 0) return;
  PoolRows pr;
  const PoolColumns cols = pool_interior_columns(s);
  pr.lo = cols.lo;
  pr.hi = cols.hi;
  pr.flat = pr.lo == 0 && pr.hi == OW && s.dil_w * (s.KW - 1) < s.stride_w;
  pr.pitch = pr.flat ? OW * s.stride_w : s.W;  // flat: windows fit in W, so pitch <= W + stride
  const bool parallel = rows * OW * s.KH * s.KW > kParallelWork;
  // Chunks of rows whose column maxima fit in 16K floats (L1 and some), enough chunks for the
  // threads to share.
  const int64_t threads = parallel ? omp_get_max_threads() : 1;
  int64_t chunk = std::max<int64_t>(1, (int64_t(1) << 14) / pr.pitch);
  chunk = std::max<int64_t>(1, std::min(chunk, (rows + 4 * threads - 1) / (4 * threads)));
  const int64_t chunks = (rows + chunk - 1) / chunk;
  std::vector<PoolTaps> taps(static_cast<size_t>(OH));
  for (int64_t oh = 0; oh < OH; ++oh) {
    const int64_t h0 = oh * s.stride_h - s.pad_h;
    taps[oh] = pool_taps(h0, s.dil_h, s.KH, s.H);
  }
  pr.taps = taps.data();
#pragma omp parallel if (parallel)
  {
    thread_local std::vector<float> column;
    column.resize(chunk * pr.pitch + s.stride_w);
#pragma omp for schedule(static)
    for (int64_t c = 0; c < chunks; ++c)
      max_pool_chunk_values(y, column.data(), x, s, c * chunk, std::min(rows, (c + 1) * chunk), pr);
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
