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
#include <string>
#include <vector>

#include "parallel.h"
#include "pycnn/gemm.h"
#include "pycnn/vector_math.h"

namespace pycnn::cpu {

// Below this many window taps a parallel region costs more than it saves.
static constexpr int64_t kParallelWork = 1 << 15;
// The largest plane (floats) whose short rows are pooled from a copy on the stack.
static constexpr int64_t kShortPlane = 1024;

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

// One output row's columns [lo, hi), whose windows start at input row h0 and lie wholly inside the
// input (every kernel row and column in bounds: with padding, the row's interior). A row of fewer
// than 8 outputs is one block whose lanes past hi are computed and dropped: its caller makes sure
// 16 floats can be read from any tap (`plane` counts the floats readable from xp on).
// KH_ x KW_ is the window when known at compile time (0: s's), so that 2x2 and 3x3 windows unroll.
template <int KH_, int KW_>
static inline __attribute__((always_inline)) void pool_row_stride2(
    float* __restrict best, int64_t* __restrict best_i, const float* __restrict xp, int64_t plane,
    const Pool2dShape& s, int64_t h0, int64_t lo, int64_t hi) {
  const int64_t W = s.W, KH = KH_ ? KH_ : s.KH, KW = KW_ ? KW_ : s.KW;
  const PoolI8 lane2 = {0, 2, 4, 6, 8, 10, 12, 14};
  const bool short_row = hi - lo < 8;
  for (int64_t ow0 = lo; ow0 < hi; ow0 += 8) {
    if (ow0 + 8 > hi && !short_row) ow0 = hi - 8;  // the last, overlapping block
    PoolF8 b{};
    PoolI8 bi{};
    for (int64_t kh = 0; kh < KH; ++kh)
      for (int64_t kw = 0; kw < KW; ++kw) {
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
        if (kh == 0 && kw == 0) {  // the first tap starts every window
          b = v;
          bi = vi;
          continue;
        }
        const PoolI8 take = (v > b) | (v != v);
        b = take ? v : b;
        bi = take ? vi : bi;
      }
    PoolL8 wide;
    pool_widen(wide, bi);
    if (short_row) {
      for (int64_t i = 0; i < hi - ow0; ++i) best[ow0 + i] = b[i], best_i[ow0 + i] = wide[i];
      break;
    }
    std::memcpy(best + ow0, &b, sizeof(b));
    std::memcpy(best_i + ow0, &wide, sizeof(wide));
    if (ow0 + 8 >= hi) break;
  }
}

PYCNN_VECTOR_CLONES static void max_pool_row_stride2(float* __restrict best,
                                                     int64_t* __restrict best_i,
                                                     const float* __restrict xp, int64_t plane,
                                                     const Pool2dShape& s, int64_t h0, int64_t lo,
                                                     int64_t hi) {
  if (s.KH == 2 && s.KW == 2) return pool_row_stride2<2, 2>(best, best_i, xp, plane, s, h0, lo, hi);
  if (s.KH == 3 && s.KW == 3) return pool_row_stride2<3, 3>(best, best_i, xp, plane, s, h0, lo, hi);
  pool_row_stride2<0, 0>(best, best_i, xp, plane, s, h0, lo, hi);
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
  // Rows of fewer than 8 outputs (LeNet's 10x10 -> 5x5) take one vector block each, whose loads
  // reach up to 15 floats past its last tap: into the planes after it, or, where fewer than 16
  // floats follow the plane (the last one, or two when planes are tiny), into a copy with 16 floats
  // of slack. One thread, batch 64, 2026-12-06: 390 us as the scalar scan below (which spent more
  // on its loops than its taps) -> 113-126 us.
  const bool short_rows = sw == 2 && OW < 8 && H * W <= kShortPlane;
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t p = 0; p < planes; ++p) {
    const float* __restrict xp = x + p * H * W;
    int64_t readable = H * W;  // floats the row kernel may load from xp on
    float padded[kShortPlane + 16];
    if (short_rows && (planes - p) * H * W >= H * W + 16) {
      readable = (planes - p) * H * W;  // every load (at most tap + 16 <= H * W + 15) fits
    } else if (short_rows) {
      std::memcpy(padded, xp, static_cast<size_t>(H * W) * sizeof(float));
      std::memset(padded + H * W, 0, 16 * sizeof(float));
      xp = padded;
      readable = H * W + 16;
    }
    for (int64_t oh = 0; oh < OH; ++oh) {
      float* __restrict best = y + (p * OH + oh) * OW;
      int64_t* __restrict best_i = idx + (p * OH + oh) * OW;
      if (vectors || short_rows) {
        max_pool_row_stride2(best, best_i, xp, readable, s, oh * sh, 0, OW);
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

// The values-only forward (the inference plan's step): the max over a window is separable, so each
// output row first takes the max of its in-bounds kernel rows down each input column ("column
// maxima", vector selects across the whole width), then the max of KW taps of those along the row:
// KH + KW selects an output instead of KH * KW. The column maxima go into a row padded with -inf on
// both sides (padding never wins, so border windows and ceil mode's overhang need no special
// case), and for stride s > 1 are split into s phases, phase r holding col[j * s + r] (stride 2:
// two shuffles a vector). Tap kw of output ow then reads phase (kw * dil) % s at ow + (kw * dil) /
// s: KW unaligned loads and selects a vector of outputs, whatever the stride, dilation and
// padding. NaN takes over in both passes, as in the scan; ties give the same value whichever wins.
// The kernel (max_pool2d_values.inc) is compiled once per instruction set, 16, 8 or 4 lanes wide.
// ResNet-18's stem pool (64 x 112 x 112 -> 56 x 56, 3x3/2, padding 1), one thread, thread CPU time,
// 2026-12-06: 440-470 us with the earlier per-row selects (left mostly scalar by GCC: the strided
// taps, the border windows) -> 280-290 us; 4 planes (in L2) 23 -> 14 us.
// Per call: the rows' in-bounds kernel taps, where each kernel column reads, and the buffers' sizes.
struct PoolRowGeometry {
  int64_t out_h;         // output rows a plane: s.out_h(), or a band's (MaxPoolBands)
  const PoolTaps* taps;  // per output row oh
  const int64_t* tap;    // per kernel column kw: phase (kw * dil) % stride at (kw * dil) / stride
  int64_t phase_len;     // floats per phase (whole vectors, and a vector of slack)
  int64_t front;         // where the padded row starts in its slot: column 0 of the input, pad_w
                         // floats on, is 64-byte aligned (slots and buffers are too)
  int64_t col_len;       // floats per slot: front, pad_w of -inf, the W columns, -inf to the end
};

constexpr int64_t kPoolGroup = 8;      // rows a group (max_pool2d_values.inc)
constexpr int64_t kPoolMaxLanes = 16;  // the widest instantiation's vector: the buffers' slack

// The row kernel once per instruction set, picked at run time as the gemm's (gemm_isa(), which
// honours PYCNN_GEMM_ISA, so the tests can run each one).
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
namespace pool_avx512 {
#pragma GCC push_options
#pragma GCC target("avx512f")
#define POOL_LANES 16
#include "max_pool2d_values.inc"
#undef POOL_LANES
#pragma GCC pop_options
}  // namespace pool_avx512
namespace pool_avx2 {
#pragma GCC push_options
#pragma GCC target("avx2")
#define POOL_LANES 8
#include "max_pool2d_values.inc"
#undef POOL_LANES
#pragma GCC pop_options
}  // namespace pool_avx2
#define PYCNN_POOL_ISAS 1
#endif
namespace pool_portable {
#define POOL_LANES 4
#include "max_pool2d_values.inc"
#undef POOL_LANES
}  // namespace pool_portable

using PoolRowsFn = void (*)(float*, float*, float*, const float*, const float*, const Pool2dShape&,
                            int64_t, int64_t, const PoolRowGeometry&);
static PoolRowsFn pool_rows_kernel() {
  static const PoolRowsFn chosen = [] {
#ifdef PYCNN_POOL_ISAS
    const std::string isa = gemm_isa();
    if (isa == "avx512") return &pool_avx512::rows_values;
    if (isa == "avx2") return &pool_avx2::rows_values;
#endif
    return &pool_portable::rows_values;
  }();
  return chosen;
}

// Pools whose windows are all interior and do not overlap along the row ((KW - 1) * dil < stride,
// no padding: LeNet's and VGG's 2x2 stride-2 pools) keep their own path: the column maxima of a
// chunk of rows go into `column` with rows OW * stride apart, so output i of the whole chunk reads
// column[i * stride + kw * dil] and the second pass is one long vector loop across rows and planes.
// LeNet's 14- and 5-pixel rows are too short for a vector loop each (73 ns a row, when a row was a
// call; the row kernel below, with 16-lane vectors, is 1.5x slower on them).
template <int kStride>  // 0: s.stride_w at run time
static inline
    __attribute__((always_inline)) void max_pool_flat_rows(float* __restrict y,
                                                           float* __restrict column, const float* x,
                                                           const Pool2dShape& s, int64_t r0,
                                                           int64_t r1, const PoolTaps* taps) {
  const int64_t W = s.W, OH = s.out_h(), OW = s.out_w(), sw = kStride ? kStride : s.stride_w;
  const int64_t pitch = OW * sw, width = std::min(W, pitch);
  // Column maxima of each output row. Plane and row are counted, not divided out: two 64-bit
  // divisions a row cost as much as a 28-pixel row's selects.
  const float* xp = x + (r0 / OH) * s.H * W;
  for (int64_t r = r0, oh = r0 % OH; r < r1; ++r) {
    float* __restrict col = column + (r - r0) * pitch;
    const int64_t h0 = oh * s.stride_h;
    const PoolTaps th = taps[oh];
    const float* first = xp + (h0 + th.lo * s.dil_h) * W;
#pragma omp simd
    for (int64_t w = 0; w < width; ++w) col[w] = first[w];
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
  // Along the rows, the whole chunk in one run: output i reads tap kw at column[i * sw + kw * dil].
  float* __restrict out = y + r0 * OW;
  const int64_t count = (r1 - r0) * OW;
#pragma omp simd
  for (int64_t i = 0; i < count; ++i) out[i] = column[i * sw];
  for (int64_t kw = 1; kw < s.KW; ++kw) {
    const float* tap = column + kw * s.dil_w;
#pragma omp simd
    for (int64_t i = 0; i < count; ++i) {
      const float v = tap[i * sw], b = out[i];
      out[i] = detail::select((v > b) | (v != v), v, b);
    }
  }
}

PYCNN_VECTOR_CLONES static void max_pool_flat_chunk(float* __restrict y, float* __restrict column,
                                                    const float* x, const Pool2dShape& s,
                                                    int64_t r0, int64_t r1, const PoolTaps* taps) {
  if (s.stride_w == 2) return max_pool_flat_rows<2>(y, column, x, s, r0, r1, taps);
  if (s.stride_w == 1) return max_pool_flat_rows<1>(y, column, x, s, r0, r1, taps);
  max_pool_flat_rows<0>(y, column, x, s, r0, r1, taps);
}

static void max_pool2d_flat_values(float* y, const float* x, const Pool2dShape& s,
                                   const PoolTaps* taps) {
  const int64_t OH = s.out_h(), OW = s.out_w(), rows = s.planes() * OH;
  const int64_t pitch = OW * s.stride_w;  // windows fit in W, so pitch <= W + stride
  const bool parallel = rows * OW * s.KH * s.KW > kParallelWork;
  // Chunks of rows whose column maxima fit in 16K floats (L1 and some), enough chunks for the
  // threads to share.
  const int64_t threads = parallel ? omp_get_max_threads() : 1;
  int64_t chunk = std::max<int64_t>(1, (int64_t(1) << 14) / pitch);
  chunk = std::max<int64_t>(1, std::min(chunk, (rows + 4 * threads - 1) / (4 * threads)));
  const int64_t chunks = (rows + chunk - 1) / chunk;
  ParallelErrors errors;  // (an exception must not leave the parallel region)
#pragma omp parallel if (parallel)
  {
    thread_local std::vector<float> column;
    bool ready = false;
    errors.run([&] {
      column.resize(static_cast<size_t>(chunk * pitch + s.stride_w));
      ready = true;
    });
#pragma omp for schedule(static)
    for (int64_t c = 0; c < chunks; ++c)
      if (ready)
        max_pool_flat_chunk(y, column.data(), x, s, c * chunk, std::min(rows, (c + 1) * chunk),
                            taps);
  }
  errors.rethrow();
}

// Where the column pass writes and the row pass reads (PoolRowGeometry's tap, phase_len, front and
// col_len) for pool s.
struct PoolRowLayout {
  std::vector<int64_t> tap;
  int64_t len, front, col_len;
  explicit PoolRowLayout(const Pool2dShape& s) : tap(static_cast<size_t>(s.KW)) {
    const int64_t OW = s.out_w();
    // A phase runs to the last output's last tap, outputs counted in whole blocks of 4 vectors (the
    // row pass reads them all), plus a vector of slack, in whole vectors; the padded row covers
    // every phase, and pad_w + W + a vector (the column pass's last store).
    const int64_t reach = (OW + 4 * kPoolMaxLanes - 1) / (4 * kPoolMaxLanes) * (4 * kPoolMaxLanes) +
                          (s.dil_w * (s.KW - 1)) / s.stride_w + kPoolMaxLanes;
    len = (reach + kPoolMaxLanes - 1) / kPoolMaxLanes * kPoolMaxLanes;
    while (len * s.stride_w < s.pad_w + s.W + kPoolMaxLanes) len += kPoolMaxLanes;
    for (int64_t kw = 0; kw < s.KW; ++kw)
      tap[kw] = (kw * s.dil_w % s.stride_w) * len + kw * s.dil_w / s.stride_w;
    front = (s.pad_w + kPoolMaxLanes - 1) / kPoolMaxLanes * kPoolMaxLanes - s.pad_w;
    const int64_t slot = front + len * s.stride_w + kPoolMaxLanes;
    col_len = (slot + kPoolMaxLanes - 1) / kPoolMaxLanes * kPoolMaxLanes;
  }
  // Floats of a thread's buffer (a group's padded rows, then their phases) and where its rows start
  // (64-byte aligned), the rows' slots filled with -inf.
  size_t buffer_floats(const Pool2dShape& s) const {
    return static_cast<size_t>(kPoolGroup * col_len + kPoolGroup * s.stride_w * len +
                               2 * kPoolMaxLanes);
  }
  float* rows(std::vector<float>& buffer) const {
    float* cols = buffer.data();
    cols += (kPoolMaxLanes - reinterpret_cast<uintptr_t>(cols) / 4 % kPoolMaxLanes) % kPoolMaxLanes;
    std::fill(cols, cols + kPoolGroup * col_len, -INFINITY);
    return cols;
  }
};

static std::vector<PoolTaps> pool_row_taps(const Pool2dShape& s) {
  std::vector<PoolTaps> taps(static_cast<size_t>(s.out_h()));
  for (int64_t oh = 0; oh < s.out_h(); ++oh)
    taps[oh] = pool_taps(oh * s.stride_h - s.pad_h, s.dil_h, s.KH, s.H);
  return taps;
}

void max_pool2d_forward_values(float* y, const float* x, const Pool2dShape& s) {
  const int64_t OH = s.out_h(), OW = s.out_w(), rows = s.planes() * OH;
  if (rows == 0 || OW == 0) return;
  const std::vector<PoolTaps> taps = pool_row_taps(s);
  const PoolColumns interior = pool_interior_columns(s);
  if (s.pad_h == 0 && interior.lo == 0 && interior.hi == OW && s.dil_w * (s.KW - 1) < s.stride_w)
    return max_pool2d_flat_values(y, x, s, taps.data());
  const PoolRowLayout layout(s);
  PoolRowGeometry g{OH, taps.data(), layout.tap.data(), layout.len, layout.front, layout.col_len};
  const bool parallel = rows * OW * (s.KH + s.KW) > kParallelWork;
  const PoolRowsFn kernel = pool_rows_kernel();
  const float* x_end = x + s.planes() * s.H * s.W;
  ParallelErrors errors;  // (an exception must not leave the parallel region)
#pragma omp parallel if (parallel)
  {
    // Per thread: a group's padded rows (-inf outside the input's columns: only [pad_w, pad_w + W)
    // is ever written) and their phases.
    thread_local std::vector<float> buffer;
    bool ready = false;
    errors.run([&] {
      buffer.resize(layout.buffer_floats(s));
      ready = true;
    });
    const int64_t threads = omp_get_num_threads(), t = omp_get_thread_num();
    if (ready) {
      float* cols = layout.rows(buffer);
      const int64_t col_floats = kPoolGroup * g.col_len;
      // Thread t takes the t-th band of output rows of every plane when there are fewer images
      // than threads (the convolution before a pool splits one image that way, conv2d_prepared.cpp,
      // so the rows it reads are the ones its own core wrote), else the t-th share of the images.
      // Groups of kPoolGroup rows from the bottom of the band up, each across every plane: the
      // convolution wrote the rows top to bottom, so its last rows (still in L2) are read first.
      const bool bands = s.N < threads;
      const int64_t oh0 = bands ? OH * t / threads : 0, oh1 = bands ? OH * (t + 1) / threads : OH;
      const int64_t n0 = bands ? 0 : s.N * t / threads, n1 = bands ? s.N : s.N * (t + 1) / threads;
      for (int64_t g1 = oh1; g1 > oh0; g1 -= kPoolGroup)
        for (int64_t p = n0 * s.C; p < n1 * s.C; ++p)
          kernel(y, cols, cols + col_floats, x, x_end, s, p * OH + std::max(oh0, g1 - kPoolGroup),
                 p * OH + g1, g);
    }
  }
  errors.rethrow();
}

MaxPoolBands::MaxPoolBands(const Pool2dShape& s) : s_(s) {
  s_.validate("MaxPoolBands");
  taps_ = pool_row_taps(s_);
  layout_ = std::make_shared<const PoolRowLayout>(s_);
}

void MaxPoolBands::input_rows(int64_t oh0, int64_t oh1, int64_t& first, int64_t& last) const {
  first = s_.H, last = 0;
  for (int64_t oh = oh0; oh < oh1; ++oh) {
    const PoolTaps th = taps_[oh];
    if (th.lo == th.hi) continue;
    const int64_t top = oh * s_.stride_h - s_.pad_h;
    first = std::min(first, top + th.lo * s_.dil_h);
    last = std::max(last, top + (th.hi - 1) * s_.dil_h + 1);
  }
  if (first >= last) first = last = 0;
}

void MaxPoolBands::run(float* y, int64_t y_plane, const float* band, int64_t band_plane,
                       int64_t first, int64_t rows, int64_t planes, int64_t oh0,
                       int64_t oh1) const {
  if (oh0 < 0 || oh1 > s_.out_h() || oh0 >= oh1) return;
  int64_t need_first, need_last;
  input_rows(oh0, oh1, need_first, need_last);
  if (need_first < need_last && (need_first < first || need_last > first + rows))
    value_error("MaxPoolBands: output rows [", oh0, ", ", oh1, ") read input rows [", need_first,
                ", ", need_last, "), the band holds [", first, ", ", first + rows, ")");
  // The band as the kernel's input: its rows [0, rows) are the input's [first, first + rows), so the
  // window of band output row i starts at (oh0 + i) * stride - pad_h - first: a shape whose pad_h
  // is pad_h + first - oh0 * stride, and the taps of rows oh0 on.
  Pool2dShape b = s_;
  b.H = rows;
  b.pad_h = s_.pad_h + first - oh0 * s_.stride_h;
  thread_local std::vector<float> buffer;
  const PoolRowLayout& layout = *layout_;
  buffer.resize(layout.buffer_floats(s_));
  float* cols = layout.rows(buffer);
  const PoolRowGeometry g{oh1 - oh0,  taps_.data() + oh0, layout.tap.data(),
                          layout.len, layout.front,       layout.col_len};
  const PoolRowsFn kernel = pool_rows_kernel();
  for (int64_t p = 0; p < planes; ++p) {
    const float* x = band + p * band_plane;
    kernel(y + p * y_plane, cols, cols + kPoolGroup * g.col_len, x, x + rows * s_.W, b, 0,
           oh1 - oh0, g);
  }
}

void max_pool2d_backward(float* dx, const float* dy, const int64_t* idx, const Pool2dShape& s) {
  const int64_t OH = s.out_h(), OW = s.out_w(), planes = s.planes();
  const int64_t plane_in = s.H * s.W, plane_out = OH * OW;
  const bool parallel = planes * (plane_in + plane_out) > kParallelWork;
  // An index outside [-1, plane_in) (edited behind the tape's back, or a direct call) is skipped, not
  // written past dx, and raises ValueError after the loop (its check rides on the loop's own compare:
  // a separate pass over the indices cost LeNet-5's pools 46 us a step).
  bool bad = false;
#pragma omp parallel for schedule(static) reduction(|| : bad) if (parallel)
  for (int64_t p = 0; p < planes; ++p) {
    float* dxp = dx + p * plane_in;
    const float* dyp = dy + p * plane_out;
    const int64_t* ip = idx + p * plane_out;
    std::memset(dxp, 0, plane_in * sizeof(float));
    for (int64_t o = 0; o < plane_out; ++o) {
      const int64_t i = ip[o];
      if (static_cast<uint64_t>(i) < static_cast<uint64_t>(plane_in)) dxp[i] += dyp[o];
      else bad |= i != -1;
    }
  }
  if (bad) {
    const int64_t count = planes * plane_out;
    int64_t at = 0;
    while (at < count && (idx[at] == -1 || (idx[at] >= 0 && idx[at] < plane_in))) ++at;
    value_error("max_pool2d backward: expected indices in [-1, ", plane_in,
                ") (h * W + w within an input plane of ", s.H, "x", s.W,
                ", -1 for a window with no input), got ", idx[at], " at flat position ", at);
  }
}

}  // namespace pycnn::cpu
