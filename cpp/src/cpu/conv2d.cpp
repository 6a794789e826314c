// conv2d on the CPU. Forward runs the inference kernels (pycnn/ops/conv2d_prepared.h: implicit
// GEMM, Winograd, row tiles, no im2col) with the weights packed for the call: 1.2-1.8x the
// im2col + gemm forward it replaced on ResNet-20's layers at batch 128. The weight gradient of a
// layer is summed straight from a copy of the input, by channel vectors or with pixels along the
// vectors (weight_grad below: 2.8x the im2col path on ResNet-20's first stage), or for 3x3 stride-1
// layers of 32 channels and more (16 by F(3x3, 4x4)) by Winograd F(3x3, 2x2) or F(3x3, 4x4)
// (weight_grad_winograd: 2.25x or 4x fewer multiply-adds, the same channel-vector kernel summing
// the transforms), and the input gradient of stride-1 layers is the forward convolution of dy with
// the weights transposed and turned (input_grad_as_conv). The rest of backward is im2col + the
// packed sgemm (pycnn/gemm.h), one group at a time: per image and group, the input patch under
// every output position is unrolled into a column of col[C_in/g * KH * KW, OH * OW]; then
//   backward  dw_g[C_out/g, K] += dy_g[C_out/g, P] @ col[K, P]^T   (strided, few channels)
//             dcol[K, P]        = w_g^T @ dy_g, folded back into dx by col2im (+= where windows overlap)
// A 1x1 kernel with stride 1 and no padding needs no unrolling: the image is already col.
// Threads: when the batch has at least as many images as threads, each thread takes whole images
// (single-threaded gemm, private dw/db summed at the end); otherwise the gemm itself is parallel.
#include "pycnn/ops/conv2d.h"

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "conv2d_prepared_kernels.h"
#include "parallel.h"
#include "pycnn/deterministic.h"
#include "pycnn/gemm.h"
#include "pycnn/ops/conv2d_prepared.h"
#include "pycnn/vector_math.h"
#include "scratch.h"

namespace pycnn::cpu {

namespace {

bool is_pointwise(const Conv2dShape& s) {
  return s.KH == 1 && s.KW == 1 && s.stride_h == 1 && s.stride_w == 1 && s.pad_h == 0 &&
         s.pad_w == 0;
}

// The range [lo, hi) of output columns whose input column ow*stride - pad + offset lies in [0, W).
void valid_range(int64_t offset, int64_t stride, int64_t size, int64_t out, int64_t& lo,
                 int64_t& hi) {
  // ow*stride + offset >= 0  and  ow*stride + offset < size
  lo = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
  hi = offset >= size ? 0 : (size - offset + stride - 1) / stride;
  lo = std::min(lo, out);
  hi = std::max(lo, std::min(hi, out));
}

// Output positions are processed in chunks of `chunk_columns` so that a chunk of the unrolled
// matrix (K rows) stays in L2 between im2col writing it and the gemm reading it: unrolling a whole
// 224x224 image at once would stream a 100 MB matrix through DRAM three times.
int64_t target_columns(const Conv2dShape& s) {
  // ~1 MB of floats
  const int64_t target = (int64_t(1) << 18) / std::max<int64_t>(1, s.col_rows());
  return std::max<int64_t>(256, target / 64 * 64);
}

int64_t chunk_columns(const Conv2dShape& s) {
  return std::min(s.out_h() * s.out_w(), target_columns(s));
}

// Calls fn(row, oh, ow_begin, ow_end, dst_offset) for every output row segment of positions
// [p0, p1): the positions (oh, ow) with ow in [ow_begin, ow_end) land at columns dst_offset + ow.
template <typename Fn>
void for_each_row_segment(int64_t p0, int64_t p1, int64_t OW, Fn fn) {
  for (int64_t oh = p0 / OW; oh * OW < p1; ++oh) {
    const int64_t begin = std::max(p0, oh * OW) - oh * OW;
    const int64_t end = std::min(p1, (oh + 1) * OW) - oh * OW;
    fn(oh, begin, end, oh * OW - p0);
  }
}

// Whole images (every output position at once, the small-image path) are unrolled from a zero-padded
// copy of the image, so every (c, kh, kw) row of col is OH plain strided copies with no bounds or
// padding logic: on 16x16 and 8x8 images (ResNet-20's layer2/3) the per-segment bookkeeping and the
// 1-float zero fills at the borders (which GCC turns into memset calls) cost as much as the gemm.
// The padded plane is at most a few KB per channel; col2im accumulates into one the same way.
struct PaddedGeometry {
  int64_t C, Hp, Wp, KH, KW, OH, OW, sh, sw, dh, dw;
};

PaddedGeometry padded_geometry(const Conv2dShape& s) {
  return {s.cin_per_group(), s.H + 2 * s.pad_h, s.W + 2 * s.pad_w, s.KH,    s.KW,   s.out_h(),
          s.out_w(),         s.stride_h,        s.stride_w,        s.dil_h, s.dil_w};
}

// xp[C, Hp, Wp] = x[C, H, W] framed by pad_h rows and pad_w columns of zeros; returns xp, or x
// itself when there is no padding.
const float* pad_image(const float* x, const Conv2dShape& s) {
  if (s.pad_h == 0 && s.pad_w == 0) return x;
  const PaddedGeometry g = padded_geometry(s);
  static thread_local Scratch padded_scratch;
  float* xp = padded_scratch.get(static_cast<size_t>(g.C * g.Hp * g.Wp));
  // Only the frame is zeroed: the interior is overwritten anyway (a full memset wrote every padded
  // plane twice, 3% of a ResNet-20 step).
  for (int64_t c = 0; c < g.C; ++c) {
    float* plane = xp + c * g.Hp * g.Wp;
    std::memset(plane, 0, s.pad_h * g.Wp * sizeof(float));
    std::memset(plane + (s.pad_h + s.H) * g.Wp, 0, s.pad_h * g.Wp * sizeof(float));
    for (int64_t h = 0; h < s.H; ++h) {
      float* row = plane + (h + s.pad_h) * g.Wp;
      for (int64_t w = 0; w < s.pad_w; ++w) row[w] = row[s.pad_w + s.W + w] = 0.0f;
      std::memcpy(row + s.pad_w, x + (c * s.H + h) * s.W, s.W * sizeof(float));
    }
  }
  return xp;
}

// col[K, OH*OW] (rows ld apart) from the padded image xp[C, Hp, Wp]. Cloned per instruction set: a
// 16-float row is one AVX-512 move instead of four SSE ones.
PYCNN_VECTOR_CLONES void im2col_padded(float* col, int64_t ld, const float* xp,
                                       const PaddedGeometry& g) {
  for (int64_t c = 0; c < g.C; ++c)
    for (int64_t kh = 0; kh < g.KH; ++kh)
      for (int64_t kw = 0; kw < g.KW; ++kw) {
        float* __restrict row = col + ((c * g.KH + kh) * g.KW + kw) * ld;
        const float* __restrict src = xp + (c * g.Hp + kh * g.dh) * g.Wp + kw * g.dw;
        if (g.sw == 1)
          for (int64_t oh = 0; oh < g.OH; ++oh)
            for (int64_t ow = 0; ow < g.OW; ++ow) row[oh * g.OW + ow] = src[oh * g.sh * g.Wp + ow];
        else
          for (int64_t oh = 0; oh < g.OH; ++oh)
            for (int64_t ow = 0; ow < g.OW; ++ow)
              row[oh * g.OW + ow] = src[oh * g.sh * g.Wp + ow * g.sw];
      }
}

// col[K, p1-p0] (rows ld apart) from x[C_in/g, H, W]: columns p0..p1 of one image's and one
// group's unrolled matrix.
void im2col(float* col, int64_t ld, const float* x, const Conv2dShape& s, int64_t p0, int64_t p1) {
  const int64_t OW = s.out_w();
  if (p0 == 0 && p1 == s.out_h() * OW) {
    im2col_padded(col, ld, pad_image(x, s), padded_geometry(s));
    return;
  }
  for (int64_t c = 0; c < s.cin_per_group(); ++c)
    for (int64_t kh = 0; kh < s.KH; ++kh)
      for (int64_t kw = 0; kw < s.KW; ++kw) {
        float* row = col + ((c * s.KH + kh) * s.KW + kw) * ld;
        const float* plane = x + c * s.H * s.W;
        const int64_t w_off = kw * s.dil_w - s.pad_w;
        int64_t lo, hi;
        valid_range(w_off, s.stride_w, s.W, OW, lo, hi);
        for_each_row_segment(p0, p1, OW, [&](int64_t oh, int64_t begin, int64_t end, int64_t at) {
          float* out = row + at;
          const int64_t ih = oh * s.stride_h - s.pad_h + kh * s.dil_h;
          if (ih < 0 || ih >= s.H) {
            for (int64_t ow = begin; ow < end; ++ow) out[ow] = 0.0f;
            return;
          }
          const float* in = plane + ih * s.W + w_off;
          // A segment may end before the first valid column (a chunk of a row wider than the chunk,
          // under a wide padding): a is clamped to the segment, or the zero fill runs past it.
          const int64_t a = std::min(end, std::max(begin, lo)), b = std::max(a, std::min(end, hi));
          // Plain loops, not memcpy/fill calls: segments are often a dozen floats (LeNet), where
          // the calls cost more than the copy.
          for (int64_t ow = begin; ow < a; ++ow) out[ow] = 0.0f;
          if (s.stride_w == 1)
            for (int64_t ow = a; ow < b; ++ow) out[ow] = in[ow];
          else
            for (int64_t ow = a; ow < b; ++ow) out[ow] = in[ow * s.stride_w];
          for (int64_t ow = b; ow < end; ++ow) out[ow] = 0.0f;
        });
      }
}

// col[K, p1-p0] (rows ld apart) from the stride-phase copy xq of one image's group (input_layout,
// built by build_channel; koff[k] where tap k of output pixel (0, 0) reads it): every row segment is
// a plain run of the copy, where im2col gathers every stride-th float of x.
PYCNN_VECTOR_CLONES void im2col_phased(float* col, int64_t ld, const float* xq, const int64_t* koff,
                                       int64_t K, int64_t Wq, int64_t OW, int64_t p0, int64_t p1) {
  for (int64_t k = 0; k < K; ++k) {
    float* __restrict row = col + k * ld;
    const float* __restrict src = xq + koff[k];
    for_each_row_segment(p0, p1, OW, [&](int64_t oh, int64_t begin, int64_t end, int64_t at) {
      for (int64_t ow = begin; ow < end; ++ow) row[at + ow] = src[oh * Wq + ow];
    });
  }
}

// dx[C, H, W] += the whole image's dcol[K, OH*OW] (rows ld apart) folded back: summed into a zeroed
// padded plane by plain strided adds, whose interior is then added to dx (cloned like im2col_padded).
PYCNN_VECTOR_CLONES void col2im_whole(float* dx, const float* dcol, int64_t ld,
                                      const Conv2dShape& s) {
  const PaddedGeometry g = padded_geometry(s);
  const ConvTileKernel& kern = conv_tile_kernel();
  if (g.sh == 1 && g.sw == 1 && g.dh == 1 && g.dw == 1 && g.Wp <= kern.vw) {
    // Rows that fit a vector: each summed in a register (LeNet's 6 -> 16 at batch 64, one thread:
    // col2im was 30% of the layer's backward as runs of 10 floats added one by one).
    kern.col2im_short_rows(dx, dcol, ld, g.C, s.H, s.W, g.KH, g.KW, g.OH, g.OW, s.pad_h, s.pad_w);
    return;
  }
  const bool padded = s.pad_h != 0 || s.pad_w != 0;
  static thread_local Scratch padded_scratch;
  float* dxp = dx;
  if (padded) {
    dxp = padded_scratch.get(static_cast<size_t>(g.C * g.Hp * g.Wp));
    std::memset(dxp, 0, g.C * g.Hp * g.Wp * sizeof(float));
  }
  for (int64_t c = 0; c < g.C; ++c)
    for (int64_t kh = 0; kh < g.KH; ++kh)
      for (int64_t kw = 0; kw < g.KW; ++kw) {
        const float* __restrict row = dcol + ((c * g.KH + kh) * g.KW + kw) * ld;
        float* __restrict dst = dxp + (c * g.Hp + kh * g.dh) * g.Wp + kw * g.dw;
        for (int64_t oh = 0; oh < g.OH; ++oh)
          for (int64_t ow = 0; ow < g.OW; ++ow)
            dst[oh * g.sh * g.Wp + ow * g.sw] += row[oh * g.OW + ow];
      }
  if (!padded) return;
  for (int64_t c = 0; c < g.C; ++c)
    for (int64_t h = 0; h < s.H; ++h) {
      float* __restrict out = dx + (c * s.H + h) * s.W;
      const float* __restrict in = dxp + (c * g.Hp + h + s.pad_h) * g.Wp + s.pad_w;
      for (int64_t w = 0; w < s.W; ++w) out[w] += in[w];
    }
}

// dx[C_in/g, H, W] += col2im(dcol[K, p1-p0], rows ld apart) for columns p0..p1 (dx zeroed by the
// caller).
void col2im(float* dx, const float* dcol, int64_t ld, const Conv2dShape& s, int64_t p0,
            int64_t p1) {
  const int64_t OW = s.out_w(), width = ld;
  if (p0 == 0 && p1 == s.out_h() * OW) {
    col2im_whole(dx, dcol, ld, s);
    return;
  }
  for (int64_t c = 0; c < s.cin_per_group(); ++c)
    for (int64_t kh = 0; kh < s.KH; ++kh)
      for (int64_t kw = 0; kw < s.KW; ++kw) {
        const float* row = dcol + ((c * s.KH + kh) * s.KW + kw) * width;
        float* plane = dx + c * s.H * s.W;
        const int64_t w_off = kw * s.dil_w - s.pad_w;
        int64_t lo, hi;
        valid_range(w_off, s.stride_w, s.W, OW, lo, hi);
        for_each_row_segment(p0, p1, OW, [&](int64_t oh, int64_t begin, int64_t end, int64_t at) {
          const int64_t ih = oh * s.stride_h - s.pad_h + kh * s.dil_h;
          if (ih < 0 || ih >= s.H) return;
          const float* in = row + at;
          float* out = plane + ih * s.W + w_off;
          const int64_t a = std::max(begin, lo), b = std::max(a, std::min(end, hi));
          for (int64_t ow = a; ow < b; ++ow) out[ow * s.stride_w] += in[ow];
        });
      }
}

// db[co] += the sum of dy_n[co, :] over one image's P pixels: 16 partial sums a row in float (one
// vector add per 16 floats; a single double sum was one serial add per float, 0.25 ms of LeNet's
// 0.4 ms first-layer backward at batch 64), added in double at the end of the row.
PYCNN_VECTOR_CLONES void add_bias_grad(float* db, const float* dy_n, int64_t channels, int64_t P) {
  constexpr int kLanes = 16;
  for (int64_t co = 0; co < channels; ++co) {
    const float* __restrict row = dy_n + co * P;
    float part[kLanes] = {};
    int64_t p = 0;
    for (; p + kLanes <= P; p += kLanes)
      for (int j = 0; j < kLanes; ++j) part[j] += row[p + j];
    double sum = 0.0;
    for (int j = 0; j < kLanes; ++j) sum += part[j];
    for (; p < P; ++p) sum += row[p];
    db[co] += static_cast<float>(sum);
  }
}

// Backward of one image into dx_n (=) and the given dw/db accumulators (+=). wtp: each group's
// transposed weights packed by pack_transposed_weights (read only for dx).
void backward_image(float* dx_n, float* dw, float* db, const float* dy_n, const float* x_n,
                    const float* wtp, const int64_t* phase_koff, const Conv2dShape& s,
                    bool parallel_gemm) {
  const int64_t P = s.out_h() * s.out_w(), K = s.col_rows(), G = s.groups;
  const int64_t cin_g = s.cin_per_group(), cout_g = s.cout_per_group();
  const bool pointwise = is_pointwise(s);
  const int64_t chunk = pointwise ? P : chunk_columns(s);
  static thread_local Scratch col_scratch;
  static thread_local Scratch dcol_scratch;
  float* col = pointwise ? nullptr : col_scratch.get(static_cast<size_t>(K * chunk));
  float* dcol = pointwise ? nullptr : dcol_scratch.get(static_cast<size_t>(K * chunk));
  if (dx_n && !pointwise) std::memset(dx_n, 0, s.C_in * s.H * s.W * sizeof(float));
  // At a stride > 1, dw's col comes from the stride-phase copy of the image, built once for all its
  // chunks (AlexNet's 11x11 stride-4 layer at batch 16, one thread: im2col's gathers were 23% of
  // its 43 ms dw); phase_koff: its taps' offsets, computed once by conv2d_backward for every image.
  const bool phased = dw && phase_koff;
  static thread_local Scratch phase_scratch;
  const InputLayout layout = phased ? input_layout(s) : InputLayout{};
  float* xq = phased ? phase_scratch.get(static_cast<size_t>(cin_g * layout.channel)) : nullptr;
  for (int64_t g = 0; g < G; ++g) {
    const float* x_g = x_n + g * cin_g * s.H * s.W;
    if (phased)
      for (int64_t c = 0; c < cin_g; ++c)
        build_channel(xq + c * layout.channel, x_g + c * s.H * s.W, s, layout, conv_tile_kernel());
    const float* dy_g = dy_n + g * cout_g * P;
    const float* wt_g = wtp ? wtp + g * packed_a_floats(K, cout_g) : nullptr;
    float* dx_g = dx_n ? dx_n + g * cin_g * s.H * s.W : nullptr;
    if (pointwise) {  // col is the image itself and dcol is dx itself
      if (dw)
        gemm(dw + g * cout_g * K, K, dy_g, P, x_g, P, cout_g, K, P, false, true, true,
             parallel_gemm);
      if (dx_g) gemm_packed_a(dx_g, P, wt_g, dy_g, P, K, P, cout_g, false, false, parallel_gemm);
      continue;
    }
    for (int64_t p0 = 0; p0 < P; p0 += chunk) {
      const int64_t p1 = std::min(P, p0 + chunk), width = p1 - p0;
      if (dw) {
        if (phased) im2col_phased(col, width, xq, phase_koff, K, layout.Wq, s.out_w(), p0, p1);
        else im2col(col, width, x_g, s, p0, p1);
        gemm(dw + g * cout_g * K, K, dy_g + p0, P, col, width, cout_g, K, width, false, true, true,
             parallel_gemm);
      }
      if (dx_g) {
        gemm_packed_a(dcol, width, wt_g, dy_g + p0, P, K, width, cout_g, false, false,
                      parallel_gemm);
        col2im(dx_g, dcol, width, s, p0, p1);
      }
    }
  }
  if (db) add_bias_grad(db, dy_n, s.C_out, P);
}

// Backward of `images` small images side by side (LeNet's 10x10 outputs: a per-image gemm is too
// small to run at speed): dy is gathered into
// dyg[C_out/g, images*P] so dw takes one gemm with images*P as its depth, and dx one gemm into
// dcol[K, images*P] folded back image by image. dx (=) and the given dw/db accumulators (+=).
void backward_images(float* dx, float* dw, float* db, const float* dy, const float* x,
                     const float* wtp, const Conv2dShape& s, int64_t n0, int64_t images,
                     bool parallel_gemm) {
  const int64_t P = s.out_h() * s.out_w(), K = s.col_rows(), width = images * P;
  const int64_t cin_g = s.cin_per_group(), cout_g = s.cout_per_group();
  const int64_t in_size = s.C_in * s.H * s.W, out_size = s.C_out * P;
  static thread_local Scratch col_scratch, dyg_scratch, dcol_scratch;
  float* col = dw ? col_scratch.get(static_cast<size_t>(K * width)) : nullptr;
  float* dyg = dw || dx ? dyg_scratch.get(static_cast<size_t>(cout_g * width)) : nullptr;
  float* dcol = dx ? dcol_scratch.get(static_cast<size_t>(K * width)) : nullptr;
  if (dx) std::memset(dx + n0 * in_size, 0, images * in_size * sizeof(float));
  for (int64_t g = 0; g < s.groups && dyg; ++g) {  // (db alone reads dy where it is)
    for (int64_t i = 0; i < images; ++i)
      for (int64_t co = 0; co < cout_g; ++co)
        std::memcpy(dyg + co * width + i * P, dy + (n0 + i) * out_size + (g * cout_g + co) * P,
                    P * sizeof(float));
    if (dw) {
      for (int64_t i = 0; i < images; ++i)
        im2col(col + i * P, width, x + (n0 + i) * in_size + g * cin_g * s.H * s.W, s, 0, P);
      gemm(dw + g * cout_g * K, K, dyg, width, col, width, cout_g, K, width, false, true, true,
           parallel_gemm);
    }
    if (dx) {
      gemm_packed_a(dcol, width, wtp + g * packed_a_floats(K, cout_g), dyg, width, K, width, cout_g,
                    false, false, parallel_gemm);
      for (int64_t i = 0; i < images; ++i)
        col2im(dx + (n0 + i) * in_size + g * cin_g * s.H * s.W, dcol + i * P, width, s, 0, P);
    }
  }
  if (db)
    for (int64_t i = 0; i < images; ++i) add_bias_grad(db, dy + (n0 + i) * out_size, s.C_out, P);
}

// Every group's transposed weights w_g^T[K, C_out/g] packed once per call for gemm_packed_a (dx),
// shared by all images and chunks. Packing them again for each chunk's product cost as much as
// packing that chunk's columns (VGG-16 at 56x56: 13 chunks an image). (The forward packs its own, in
// PreparedConv2d.)
const float* pack_transposed_weights(const float* w, const Conv2dShape& s) {
  const int64_t K = s.col_rows(), cout_g = s.cout_per_group();
  const int64_t per_group = packed_a_floats(K, cout_g);
  static thread_local Scratch scratch;
  float* packed = scratch.get(static_cast<size_t>(per_group * s.groups));
  for (int64_t g = 0; g < s.groups; ++g)
    pack_a(packed + g * per_group, w + g * cout_g * K, K, K, cout_g, true);
  return packed;
}

// Images per gemm for small images (1 when each image is big enough on its own).
int64_t images_per_gemm(const Conv2dShape& s) {
  const int64_t P = s.out_h() * s.out_w();
  return is_pointwise(s) ? 1 : std::max<int64_t>(1, std::min<int64_t>(s.N, target_columns(s) / P));
}

// ---- The weight gradient without im2col ----------------------------------------------------------
// dw[co, ci, kh, kw] = sum over images and output pixels of dy[co, oh, ow] * x[ci, oh * sh + kh * dh
// - ph, ow * sw + kw * dw - pw]: for each output channel and each column (a tap of the input), one
// long dot product. Two kernels sum them straight from a copy of the input, with the sums of a tile
// of output channels x columns in registers; no im2col matrix is written and nothing is packed:
//   - channel vectors (weight_grad_tile, pixels false), for groups of at least half a vector of
//     input channels: the input copied channels-last (to_channel_vectors: zero padded,
//     [blocks][Hp][Wp][VW]), a column is a (tap, block of VW channels) whose value at an output
//     pixel is one vector load at a fixed offset, times dy broadcast; 8 output channels x 3 columns
//     in registers (AVX-512);
//   - pixels along the vectors (weight_grad_tile, pixels true), for fewer channels (LeNet's, the
//     3-channel stems): a column is one (channel, kh, kw) tap of the stride-phase copy the
//     inference kernels read (read in place at stride 1 without padding), VW pixels of a row a
//     load, VW partial sums a column added up at the end.
// Measured against im2col + gemm (1 thread): ResNet-20's 16 -> 16 on 32x32 at batch 128 14.0 -> 5.0
// ms (torch 7.3), 64 -> 64 on 8x8 6.8 -> 5.2 ms, ResNet-18's 3x3 layers 10-20% faster; LeNet's
// layers at batch 64 1.47 -> 0.24 ms and 0.90 -> 0.55, the 3-channel stems 0.31x (ResNet-20), 0.47x
// (MobileNet, stride 2) and 0.88x (ResNet-18, 7x7 stride 2). Stride 4 (AlexNet's 11x11: 16 phase
// planes, 2.1x slower) keeps im2col + gemm (weight_grad_kind).
// 3x3 stride-1 layers with enough channels and tiles take Winograd F(3x3, 2x2) or F(3x3, 4x4) (see
// weight_grad_winograd below).
enum class WeightGradKind { kIm2col, kVectors, kPixels, kWinograd };

bool use_winograd_weight_grad(const Conv2dShape& s);

WeightGradKind weight_grad_kind(const Conv2dShape& s, const ConvTileKernel& k) {
  if (use_winograd_weight_grad(s)) return WeightGradKind::kWinograd;
  if (s.cin_per_group() * 2 >= k.vw) return WeightGradKind::kVectors;
  if (s.stride_h <= 2 && s.stride_w <= 2) return WeightGradKind::kPixels;
  return WeightGradKind::kIm2col;
}

// The pixels kernel's copy as column copies (see weight_grad_geometry).
bool weight_grad_column_copies(const Conv2dShape& s, const ConvTileKernel& k) {
  return column_copies_pay(s, k.vw, s.out_h() * ((s.out_w() + k.vw - 1) / k.vw));
}

struct WeightGradGeometry {
  bool pixels;         // which kernel
  bool in_place;       // pixels, stride 1 and no padding: the kernel reads x itself
  InputLayout layout;  // pixels: the stride-phase copy of conv2d_prepared
  int64_t hq, wq;      // vectors: the padded image
  int64_t plane;       // vectors: floats per block of VW channels
  int64_t blocks;      // vectors: blocks of VW channels; pixels: channels
  int64_t copy;        // floats of one image's (and group's) copy
  int64_t cols, ldo;
  int64_t row_step, col_step;
  int64_t band;               // vectors: output rows per sweep of one image (a band stays in L2)
  std::vector<int64_t> coff;  // each column's offset in the copy
};

WeightGradGeometry weight_grad_geometry(const Conv2dShape& s, const ConvTileKernel& k,
                                        bool pixels) {
  WeightGradGeometry g;
  const int64_t cin_g = s.cin_per_group(), taps = s.KH * s.KW;
  g.pixels = pixels;
  g.cols = pixels ? cin_g * taps : (cin_g + k.vw - 1) / k.vw * taps;
  g.ldo = g.cols * k.vw;
  g.coff.resize(g.cols);
  if (pixels) {
    // The input as the inference kernels copy it: zero padded and split into stride phases, so
    // that a tap reads consecutive floats of its phase plane for consecutive output pixels; or as
    // column copies, where an image's pixels in runs of VW take a tenth fewer loads than its rows
    // one by one: a tap's pixels are then one run (LeNet-5's 6 -> 16 on 14x14 loaded 10 of 16
    // lanes a row, 7 vectors for 100 pixels where there were 10).
    g.layout = weight_grad_column_copies(s, k) ? column_copies_layout(s) : input_layout(s);
    g.in_place = g.layout.in_place;
    g.blocks = cin_g;
    g.copy = cin_g * g.layout.channel;
    g.row_step = g.layout.Wq;
    g.col_step = 1;
    g.coff = tap_offsets(s, g.layout);
  } else {
    g.in_place = false;
    g.hq = s.H + 2 * s.pad_h;
    g.wq = s.W + 2 * s.pad_w;
    g.plane = g.hq * g.wq * k.vw;
    g.blocks = (cin_g + k.vw - 1) / k.vw;
    g.copy = g.blocks * g.plane;
    g.row_step = s.stride_h * g.wq * k.vw;
    g.col_step = s.stride_w * k.vw;
    for (int64_t b = 0; b < g.blocks; ++b)
      for (int64_t kh = 0; kh < s.KH; ++kh)
        for (int64_t kw = 0; kw < s.KW; ++kw)
          g.coff[b * taps + kh * s.KW + kw] =
              b * g.plane + (kh * s.dil_h * g.wq + kw * s.dil_w) * k.vw;
    // ~512 KB of input and dy rows per band, at least one output row (the pixels kernel sizes its
    // bands for L1 in weight_grad_sums).
    const int64_t row_bytes =
        (g.row_step * g.blocks + s.cout_per_group() * s.out_w()) * int64_t(sizeof(float));
    g.band = std::max<int64_t>(1, std::min(s.out_h(), (int64_t(1) << 19) / row_bytes));
  }
  return g;
}

// The copy of one image's group gr (cin_g channels at x_g) the kernel reads.
void weight_grad_copy(float* xt, const float* x_g, const Conv2dShape& s,
                      const WeightGradGeometry& g, const ConvTileKernel& k) {
  const int64_t cin_g = s.cin_per_group();
  if (g.pixels) {
    for (int64_t c = 0; c < cin_g; ++c)
      build_channel(xt + c * g.layout.channel, x_g + c * s.H * s.W, s, g.layout, k);
    return;
  }
  for (int64_t b = 0; b < g.blocks; ++b)
    k.to_channel_vectors(xt + b * g.plane, x_g + b * k.vw * s.H * s.W, s.H * s.W,
                         static_cast<int>(std::min<int64_t>(k.vw, cin_g - b * k.vw)), s.H, s.W,
                         s.pad_h, s.pad_w, g.hq, g.wq, 0);
}

// wt rows [r_begin, r_end) of every group (+)= the sums over images [n0, n1); the first images
// overwrite wt. Small images go through the kernel several at a time (as many as ~1 MB of copies and
// dy hold, half of L2: a 7x7 or 8x8 image alone is too few pixels to pay for loading and storing the
// sums); a large image alone, in bands of output rows.
void weight_grad_sums(float* wt, const float* dy, const float* x, const Conv2dShape& s,
                      const WeightGradGeometry& g, const ConvTileKernel& k, int64_t n0, int64_t n1,
                      int64_t r_begin, int64_t r_end) {
  const int64_t OH = s.out_h(), OW = s.out_w(), P = OH * OW;
  const int64_t cin_g = s.cin_per_group(), cout_g = s.cout_per_group();
  const int64_t in_size = s.C_in * s.H * s.W, out_size = s.C_out * P;
  int64_t chunk, band;
  if (g.pixels) {
    // The pixels kernel loads whole vectors of dy as well: its tile's rows of dy (as many images
    // or output rows as 24 KB hold, the bands of an image near-equal) stay in L1 while every
    // column tile streams past them.
    const int64_t l1 = 6144 / k.wg_rows;
    chunk = std::max<int64_t>(1, std::min(n1 - n0, l1 / P));
    band = chunk > 1 ? OH : std::max<int64_t>(1, std::min(OH, l1 / OW));
    const int64_t bands = (OH + band - 1) / band;
    band = (OH + bands - 1) / bands;
  } else {
    const int64_t per_image = g.copy + cout_g * P;  // floats the kernel reads per image
    chunk = std::max<int64_t>(1, std::min(n1 - n0, (int64_t(1) << 18) / per_image));
    band = chunk > 1 ? OH : g.band;
  }
  // Rows that follow one another in the copy as in dy (the column copies, a 1x1 layer read in
  // place) are one run of pixels for the kernel.
  const bool run = g.pixels && g.row_step == OW;
  static thread_local Scratch xt_scratch;
  float* xt = g.in_place ? nullptr : xt_scratch.get(static_cast<size_t>(chunk * g.copy));
  for (int64_t c0 = n0; c0 < n1; c0 += chunk) {
    const int64_t images = std::min(chunk, n1 - c0);
    for (int64_t gr = 0; gr < s.groups; ++gr) {
      const float* x_g = x + c0 * in_size + gr * cin_g * s.H * s.W;
      const float* copy = x_g;
      int64_t copy_step = in_size;
      if (!g.in_place) {
        for (int64_t i = 0; i < images; ++i)
          weight_grad_copy(xt + i * g.copy, x_g + i * in_size, s, g, k);
        copy = xt;
        copy_step = g.copy;
      }
      float* wt_g = wt + gr * cout_g * g.ldo;
      const float* dy_g = dy + c0 * out_size + gr * cout_g * P;
      for (int64_t oh0 = 0; oh0 < OH; oh0 += band) {
        const int64_t rows = std::min(band, OH - oh0);
        const bool first = c0 == n0 && oh0 == 0;
        for (int64_t r0 = r_begin; r0 < r_end; r0 += k.wg_rows)
          for (int64_t j0 = 0; j0 < g.cols; j0 += k.wg_cols)
            k.weight_grad_tile(g.pixels, static_cast<int>(std::min<int64_t>(k.wg_rows, r_end - r0)),
                               static_cast<int>(std::min<int64_t>(k.wg_cols, g.cols - j0)),
                               dy_g + r0 * P + oh0 * OW, P, copy + oh0 * g.row_step,
                               g.coff.data() + j0, images, out_size, copy_step, run ? 1 : rows,
                               run ? rows * OW : OW, g.row_step, g.col_step,
                               wt_g + r0 * g.ldo + j0 * k.vw, g.ldo, first);
      }
    }
  }
}

// dw[co, ci, kh, kw] (+)= wt's sums for rows [r_begin, r_end) of every group (the pixels kernel's
// are in dw's layout already; the channel vectors' columns are (block, tap) of VW channels).
void add_weight_grad(float* dw, const float* wt, const Conv2dShape& s, const WeightGradGeometry& g,
                     const ConvTileKernel& k, int64_t r_begin, int64_t r_end) {
  const int64_t cin_g = s.cin_per_group(), cout_g = s.cout_per_group(), taps = s.KH * s.KW;
  for (int64_t gr = 0; gr < s.groups; ++gr)
    for (int64_t r = r_begin; r < r_end; ++r) {
      const float* src = wt + (gr * cout_g + r) * g.ldo;
      float* dst = dw + (gr * cout_g + r) * cin_g * taps;
      if (g.pixels)  // VW lanes of partial sums a column
        for (int64_t i = 0; i < cin_g * taps; ++i) {
          float sum = 0.0f;
          for (int64_t l = 0; l < k.vw; ++l) sum += src[i * k.vw + l];
          dst[i] += sum;
        }
      else
        for (int64_t ci = 0; ci < cin_g; ++ci)
          for (int64_t t = 0; t < taps; ++t)
            dst[ci * taps + t] += src[((ci / k.vw) * taps + t) * k.vw + ci % k.vw];
    }
}

// The whole weight gradient, dw (+)= ... over the batch. Threads take whole images (each part its own
// sums, added in part order) when there are enough images; in deterministic mode the parts are a
// fixed number of image groups, whatever the threads, so the rounding does not depend on them.
// With fewer images than threads the threads take output channels instead (every thread reads every
// image; each sum is one thread's, in image order).
void weight_grad(float* dw, const float* dy, const float* x, const Conv2dShape& s,
                 const ConvTileKernel& k, bool pixels) {
  const WeightGradGeometry g = weight_grad_geometry(s, k, pixels);
  const int threads = omp_get_max_threads();
  const int64_t cout_g = s.cout_per_group(), wt_size = s.groups * cout_g * g.ldo;
  ParallelErrors errors;
  const bool fixed = deterministic();
  if (fixed || (s.N >= threads && threads > 1)) {
    const int64_t count = fixed ? std::min<int64_t>(s.N, kDeterministicGroups) : threads;
    // Every part has an image, whose sums overwrite it (weight_grad_sums): no zeroing first.
    std::vector<UninitializedVector<float>> parts(count);
    // The parts are added into dw by all the threads, each a block of rows, every float in part
    // order as one thread added them before (bit for bit the same dw); one thread adding them took
    // 1.4% of a ResNet-18 training step at 2 threads, the other waiting.
    const int64_t blocks = std::min<int64_t>(cout_g, 4 * threads);
    sum_parts(
        errors, threads, threads > 1 && count > 1, count, blocks,
        [&](int64_t p) {
          const int64_t n0 = s.N * p / count, n1 = s.N * (p + 1) / count;
          parts[p].resize(static_cast<size_t>(wt_size));
          weight_grad_sums(parts[p].data(), dy, x, s, g, k, n0, n1, 0, cout_g);
        },
        [&](int64_t b) {
          for (int64_t p = 0; p < count; ++p)
            add_weight_grad(dw, parts[p].data(), s, g, k, cout_g * b / blocks,
                            cout_g * (b + 1) / blocks);
        });
    errors.rethrow();
    return;
  }
  // One block of row tiles a thread: weight_grad_sums copies every image once per call, so a call
  // per tile copied the batch cout_g / wg_rows times over on one thread.
  CachedVector<float> wt(wt_size);
  const int64_t tiles = (cout_g + k.wg_rows - 1) / k.wg_rows;
  const int64_t blocks = std::min<int64_t>(tiles, threads);
#pragma omp parallel for schedule(static) num_threads(threads) if (blocks > 1)
  for (int64_t b = 0; b < blocks; ++b)
    errors.run([&] {
      const int64_t r0 = tiles * b / blocks * k.wg_rows;
      const int64_t r1 = std::min(cout_g, tiles * (b + 1) / blocks * k.wg_rows);
      weight_grad_sums(wt.data(), dy, x, s, g, k, 0, s.N, r0, r1);
      add_weight_grad(dw, wt.data(), s, g, k, r0, r1);
    });
  errors.rethrow();
}

// ---- The weight gradient by Winograd F(3x3, 2x2) and F(3x3, 4x4) ------------------------------------
// A 3x3 stride-1 layer's dw[co, ci] is the correlation of the padded input with dy: split dy into 2x2
// blocks ("tiles"), each block's share is the 3x3 correlation of the block with the 4x4 input patch
// under it, which is Winograd's F(3x3, 2x2). By the transposition principle (Lavin & Gray 2015;
// cuDNN's non-fused Winograd filter gradient) its transforms are the forward F(2x2, 3x3)'s with two
// roles swapped:
//   dw[co, ci] = G^T [ sum over tiles t of (A g_t A^T) . (B^T d_t B) ] G
// with g_t the 2x2 block of dy[co] (zero past it), d_t the 4x4 patch of the padded x[ci] (zero past
// the image), B^T the forward input transform, A = [1 0; 1 1; 1 -1; 0 -1] and G^T = [1 .5 .5 0;
// 0 .5 -.5 0; 0 .5 .5 1]. Summed over the tiles that is 16 products M[xi][C_out, C_in] += U[xi][C_out,
// tiles] V[xi][tiles, C_in], one per transform point xi = 4k + l, with the tiles as their depth: 16
// multiply-adds per tile and channel pair where the direct sum takes 36 (2.25x fewer). The products
// are weight_grad_tile's channel-vector sums with tiles for pixels (U[xi] for dy, V[xi], vw input
// channels a vector, for the copy). The tiles go through in chunks of whole tile rows, each
// transform point's U and V of a chunk about 512 KB (they stay in L2 while its sums read them over
// and over); each transform point's sums are one thread's, so they do not depend on the thread
// count. Measured (2 threads, batch 16, caches flushed between calls): ResNet-18's 3x3 layers in
// 0.60-0.75 of the direct sums' time (64 channels at 56x56: 11.4 against 17.4 ms; 512 at 7x7: 16.4
// against 21.5), AlexNet's conv3-5 0.69-0.83 (warm); 16 channels 1.07x (ResNet-20's first stage keeps
// the direct sums), and so do fewer than 64 tiles (512 at 7x7, batch 1: 1.15x). In a whole training
// step the transforms, which write 4x the input and dy, cost about as much as the products: a
// version with each thread owning its transform points end to end (no barriers) measured no better.
bool weight_grad_f4_fits(const Conv2dShape& s);  // see winograd_weight_grad_tile

bool use_winograd_weight_grad(const Conv2dShape& s) {
  const int64_t TW = (s.out_w() + 1) / 2;
  const double tiles = double(s.N) * double((s.out_h() + 1) / 2) * double(TW);  // no overflow
  const int64_t widest = (s.C_in + 15) / 16 * 16;  // C_in rounded up to the widest vector
  // Its buffers bounded: the 16 sums M (C_out x C_in each) at most 2^26 floats (256 MB, 16/9 of dw's
  // size: a 2048 -> 2048 layer), U and V of one row of tiles at most 2^24 (a 64-channel image
  // 16,000 pixels wide); larger layers keep the direct sums.
  // 16 to 31 channels a side only by F(3x3, 4x4) (F(3x3, 2x2) was 1.07x slower at 16).
  return s.KH == 3 && s.KW == 3 && s.stride_h == 1 && s.stride_w == 1 && s.dil_h == 1 &&
         s.dil_w == 1 && s.groups == 1 && s.pad_h <= 2 && s.pad_w <= 2 && s.C_in >= 16 &&
         s.C_out >= 16 && tiles >= 64 && s.C_in <= (int64_t(1) << 13) &&
         s.C_out <= (int64_t(1) << 13) && TW <= (int64_t(1) << 20) &&
         16 * s.C_out * widest <= (int64_t(1) << 26) &&
         16 * (widest + s.C_out) * TW <= (int64_t(1) << 24) &&
         ((s.C_in >= 32 && s.C_out >= 32) || weight_grad_f4_fits(s));
}

// The side of dy's blocks: 2 for F(3x3, 2x2), 4 for F(3x3, 4x4), 0 where the weight gradient is
// not Winograd's. F(3x3, 4x4) (the transposition of the forward F(4x4, 3x3): 6x6 patches of x, 4x4
// blocks of dy, 36 products where the direct sums take 144, F(3x3, 2x2) 64 for the same outputs)
// wherever its blocks cut off few of dy's pixels at the edges (at most 3/4 of F(3x3, 2x2)'s
// products: 5x5, 6x6, 9x9 and 10x10 images keep F(3x3, 2x2)) and its buffers stay within the same
// bounds. Its vectors run along the channels, so small images fill them as well as large ones.
// With 16 to 31 channels a side only F(3x3, 4x4) is taken (1 thread, ms: ResNet-20's 16 at 32x32,
// batch 128, 6.45 -> 4.60 against the direct sums; 16 -> 32 12.0 -> 8.3; 16 at 56x56 batch 32
// 4.8 -> 3.6).
// Float32 error (against float64, of the largest dw): about 5x F(3x3, 2x2)'s, 2.4e-5 for ResNet-18's
// 64 at 56x56 at batch 16 (F(3x3, 2x2) 5e-6, torch's float32 5e-6). Measured (1 thread, AMD EPYC
// VM, batch 16, with the chunks below, F(3x3, 2x2) -> F(3x3, 4x4), ms): ResNet-18's 64 at 56x56
// 20.2 -> 13.8, 128 at 28x28 20.0 -> 13.0, 256 at 14x14 21.0 -> 19.5, 512 at 7x7 31 -> 24;
// AlexNet's 192 -> 384 and 384 -> 256 at 13x13 25.3 -> 24.9, 32.0 -> 31.0; ResNet-20's 32 at 16x16
// and 64 at 8x8, batch 128, 4.9 -> 4.1 and 4.6 -> 3.6.
bool weight_grad_f4_fits(const Conv2dShape& s) {
  const int64_t OH = s.out_h(), OW = s.out_w(), widest = (s.C_in + 15) / 16 * 16;
  const double f2 = 16.0 * double((OH + 1) / 2) * double((OW + 1) / 2),
               f4 = 36.0 * double((OH + 3) / 4) * double((OW + 3) / 4);
  return 4 * f4 <= 3 * f2 && 36 * s.C_out * widest <= (int64_t(1) << 26) &&
         36 * (widest + s.C_out) * ((OW + 3) / 4) <= (int64_t(1) << 24);
}

int64_t winograd_weight_grad_tile(const Conv2dShape& s) {
  if (!use_winograd_weight_grad(s)) return 0;
  return weight_grad_f4_fits(s) ? 4 : 2;
}

// dw[co, ci, :, :] += G^T M[:, co, ci] G for one output channel, ci < C_in: m points at M[0][co][0],
// the transform points ld floats apart; tmp holds 12 * C_in floats.
PYCNN_VECTOR_CLONES void winograd_grad_filter(float* __restrict dw, const float* __restrict m,
                                              int64_t ld, float* __restrict tmp, int64_t C_in) {
  // s[k][l] = (G^T M)[k][l]: rows 0..2 from M's rows 0..3
  for (int l = 0; l < 4; ++l) {
    const float* m0 = m + l * ld;
    const float* m1 = m + (4 + l) * ld;
    const float* m2 = m + (8 + l) * ld;
    const float* m3 = m + (12 + l) * ld;
    float* s0 = tmp + l * C_in;
    float* s1 = tmp + (4 + l) * C_in;
    float* s2 = tmp + (8 + l) * C_in;
    for (int64_t c = 0; c < C_in; ++c) {
      const float a = 0.5f * (m1[c] + m2[c]);
      s0[c] = m0[c] + a, s1[c] = 0.5f * (m1[c] - m2[c]), s2[c] = a + m3[c];
    }
  }
  for (int k = 0; k < 3; ++k) {
    const float* s0 = tmp + 4 * k * C_in;
    for (int64_t c = 0; c < C_in; ++c) {
      const float a = 0.5f * (s0[C_in + c] + s0[2 * C_in + c]);
      float* d = dw + c * 9 + 3 * k;
      d[0] += s0[c] + a;
      d[1] += 0.5f * (s0[C_in + c] - s0[2 * C_in + c]);
      d[2] += a + s0[3 * C_in + c];
    }
  }
}

// The same for Winograd F(3x3, 4x4): dw[co, ci, :, :] += G^T M[:, co, ci] G with the forward F(4x4,
// 3x3)'s G (6x3): G^T's rows (1/4 -1/6 -1/6 1/24 1/24 0), (0 -1/6 1/6 1/12 -1/12 0), (0 -1/6 -1/6
// 1/6 1/6 1), m's 36 points ld floats apart; tmp holds 18 * C_in floats.
PYCNN_VECTOR_CLONES void winograd4_grad_filter(float* __restrict dw, const float* __restrict m,
                                               int64_t ld, float* __restrict tmp, int64_t C_in) {
  // G^T applied to six values a[0..5] (every `stride` floats) into three.
  auto gt = [](const float* a, int64_t stride, float& o0, float& o1, float& o2) {
    const float p = a[stride] + a[2 * stride], q = a[stride] - a[2 * stride];
    const float r = a[3 * stride] + a[4 * stride], t = a[3 * stride] - a[4 * stride];
    o0 = a[0] * (1.0f / 4) - p * (1.0f / 6) + r * (1.0f / 24);
    o1 = t * (1.0f / 12) - q * (1.0f / 6);
    o2 = (r - p) * (1.0f / 6) + a[5 * stride];
  };
  // s[k][l] = (G^T M)[k][l] at tmp[(6 k + l) * C_in + c]: rows 0..2 from M's rows 0..5
  for (int l = 0; l < 6; ++l)
    for (int64_t c = 0; c < C_in; ++c)
      gt(m + l * ld + c, 6 * ld, tmp[l * C_in + c], tmp[(6 + l) * C_in + c],
         tmp[(12 + l) * C_in + c]);
  for (int k = 0; k < 3; ++k)
    for (int64_t c = 0; c < C_in; ++c) {
      float o0, o1, o2;
      gt(tmp + 6 * k * C_in + c, C_in, o0, o1, o2);
      float* d = dw + c * 9 + 3 * k;
      d[0] += o0, d[1] += o1, d[2] += o2;
    }
}

// dw (+)= the weight gradient over the batch, as the comment above says.
void weight_grad_winograd(float* dw, const float* dy, const float* x, const Conv2dShape& s,
                          const ConvTileKernel& k) {
  // dy's blocks a side (mt: 2 for F(3x3, 2x2), 4 for F(3x3, 4x4)), the patches' side and points.
  const int64_t mt = winograd_weight_grad_tile(s), side = mt + 2, points = side * side;
  const auto grad_input = mt == 4 ? k.winograd4_grad_input : k.winograd_grad_input;
  const auto grad_filter = mt == 4 ? winograd4_grad_filter : winograd_grad_filter;
  const int64_t OH = s.out_h(), OW = s.out_w(), TH = (OH + mt - 1) / mt, TW = (OW + mt - 1) / mt;
  const int64_t C_in = s.C_in, C_out = s.C_out, vw = k.vw, blocks = (C_in + vw - 1) / vw;
  const int64_t ldo = blocks * vw, rows = s.N * TH;  // M's rows; the tile rows of the batch
  // Tile rows a chunk: each transform point's U and V about 128 K floats, at least one row.
  // F(3x3, 4x4) with small sums (M at most 1 M floats: up to 128 channels) takes chunks of U and V
  // about 16 K floats a transform point, all 36 points' 2.4 MB for 64 channels: with 128 K, 18 MB
  // went to memory and back between the transforms and the products (1 thread, batch 16, ResNet-18's
  // 64 at 56x56 20.2 -> 13.8 ms, 128 at 28x28 16.5 -> 13.0; F(3x3, 2x2) gains nothing from it).
  // Larger sums keep the large chunks: M is read and written once a chunk (512 at 7x7: 37 MB; 128
  // K: 24 ms, 64 K: 38 ms).
  const int shift = mt == 4 && points * C_out * ldo <= (int64_t(1) << 20) ? 14 : 17;
  const int64_t chunk = std::clamp<int64_t>((int64_t(1) << shift) / ((ldo + C_out) * TW), 1, rows);
  const int64_t ldt = chunk * TW;  // tiles a chunk at most
  const int64_t v_point =
      apart(blocks * ldt * vw);                // V: [points][blocks][ldt][vw] (apart: see there)
  const int64_t u_point = apart(C_out * ldt);  // U: [points][C_out][ldt]
  const int64_t wq = mt * TW + 2;              // the copy's pixels a row
  const int64_t copy_rows = mt * std::min(chunk, TH) + 2;
  UninitializedVector<float> uv(static_cast<size_t>(points * (v_point + u_point)));
  UninitializedVector<float> m(static_cast<size_t>(points * C_out * ldo));  // every float summed
  float* const v = uv.data();
  float* const u = v + points * v_point;
  std::vector<int64_t> coff(static_cast<size_t>(blocks));
  for (int64_t b = 0; b < blocks; ++b) coff[b] = b * ldt * vw;
  // The blocks in near-equal tiles of columns: 4 as 2 + 2, not 3 + 1 (a one-column tile does 8
  // multiply-adds per 9 loads).
  const int64_t col_tiles = (blocks + k.wg_cols - 1) / k.wg_cols;
  const int threads = omp_get_max_threads();
  ParallelErrors errors;
#pragma omp parallel num_threads(threads) if (threads > 1)
  {
    // Per thread: the channel-vector copy of one block's patch rows, or the filter transform's
    // 3 x side rows of C_in.
    static thread_local Scratch copy_scratch;
    float* copy = nullptr;
    errors.run([&] {
      copy = copy_scratch.get(static_cast<size_t>(std::max(copy_rows * wq * vw, 3 * side * C_in)));
    });
    for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
      const int64_t r1 = std::min(rows, r0 + chunk);
      // The transforms: a block of vw input channels (V), or an output channel (U), a task.
#pragma omp for schedule(dynamic)
      for (int64_t task = 0; task < blocks + C_out; ++task) {
        if (!copy) continue;  // no scratch: raised after the region
        if (task < blocks) {
          const int64_t b = task, channels = std::min(vw, C_in - b * vw);
          for (int64_t r = r0, end; r < r1; r = end) {  // the tile rows of one image at a time
            const int64_t n = r / TH, th0 = r % TH;
            end = std::min(r1, (n + 1) * TH);
            const int64_t th1 = th0 + end - r;
            // Padded rows [mt th0, mt th1 + 2): image rows [h0, h1), the rest zero.
            const int64_t top = mt * th0 - s.pad_h, h0 = std::max<int64_t>(0, top);
            const int64_t h1 = std::max(h0, std::min(s.H, mt * th1 + 2 - s.pad_h));
            k.to_channel_vectors(copy, x + (n * C_in + b * vw) * s.H * s.W + h0 * s.W, s.H * s.W,
                                 static_cast<int>(channels), h1 - h0, s.W, h0 - top, s.pad_w,
                                 mt * (th1 - th0) + 2, wq, 0);
            for (int64_t th = th0; th < th1; ++th)
              grad_input(v + (b * ldt + (r - r0 + th - th0) * TW) * vw, v_point,
                         copy + mt * (th - th0) * wq * vw, wq, TW);
          }
        } else {
          const int64_t co = task - blocks;
          for (int64_t r = r0; r < r1; ++r) {
            const int64_t n = r / TH, th = r % TH;
            const float* plane = dy + (n * C_out + co) * OH * OW;
            const float* rows_of_dy[4];  // the tile row's rows of dy, null past it
            for (int64_t i = 0; i < mt; ++i)
              rows_of_dy[i] = mt * th + i < OH ? plane + (mt * th + i) * OW : nullptr;
            if (mt == 4)
              k.winograd4_grad_dy(u + co * ldt + (r - r0) * TW, u_point, rows_of_dy, OW, TW);
            else
              k.winograd_grad_dy(u + co * ldt + (r - r0) * TW, u_point, rows_of_dy[0],
                                 rows_of_dy[1], OW, TW);
          }
        }
      }
      // The products (after the barrier above: every transform is done), a point a thread.
      const int64_t tiles = (r1 - r0) * TW;
#pragma omp for schedule(static)
      for (int64_t xi = 0; xi < points; ++xi)
        for (int64_t c0 = 0; c0 < C_out; c0 += k.wg_rows)
          for (int64_t j = 0; j < col_tiles; ++j) {
            const int64_t j0 = blocks * j / col_tiles, j1 = blocks * (j + 1) / col_tiles;
            k.weight_grad_tile(false, static_cast<int>(std::min<int64_t>(k.wg_rows, C_out - c0)),
                               static_cast<int>(j1 - j0), u + xi * u_point + c0 * ldt, ldt,
                               v + xi * v_point, coff.data() + j0, 1, 0, 0, 1, tiles, 0, vw,
                               m.data() + (xi * C_out + c0) * ldo + j0 * vw, ldo, r0 == 0);
          }
    }
    // dw += G^T M G, output channels split among the threads.
#pragma omp for schedule(static)
    for (int64_t co = 0; co < C_out; ++co)
      if (copy) grad_filter(dw + co * C_in * 9, m.data() + co * ldo, C_out * ldo, copy, C_in);
  }
  errors.rethrow();
}

// ---- The input gradient as a convolution -----------------------------------------------------------
// At stride 1 (no dilation, one group), dx is the forward convolution of dy, padded by KH - 1 - ph
// rows and KW - 1 - pw columns, with the weights transposed (C_in outputs of C_out channels) and
// turned 180 degrees: dx[ci, h, w] = sum over co, kh, kw of dy[co, h + ph - kh, w + pw - kw] *
// w[co, ci, kh, kw]. The inference kernels (PreparedConv2d: row tiles, Winograd, wide) then compute
// it without the im2col path's dcol matrix and col2im. Measured against that path (1 thread):
// 0.67-0.87x the time on ResNet-18's 3x3 layers at batch 16 (128 at 28x28: 19.5 against 29.3 ms)
// and at batch 1 on 56x56, 0.76-0.78x on ResNet-20's 16- and 64-channel stages at batch 128; even or
// slower where the weights (packed per call) outweigh the pixels (512 at 7x7 batch 1: 1.6x), on
// LeNet's 6 -> 16 (1.06x) and on 1x1 layers (0.9-1.14x; the gemm path reads those in place): those
// keep im2col. Since the weights are packed by all threads with register transposes, 512 at 7x7
// batch 16 (784 pixels) gains too: 20.8 -> 15.7 ms at 2 threads, even on one (30 ms).
bool use_input_grad_as_conv(const Conv2dShape& s) {
  return s.KH * s.KW > 1 && s.stride_h == 1 && s.stride_w == 1 && s.dil_h == 1 && s.dil_w == 1 &&
         s.groups == 1 && s.pad_h < s.KH && s.pad_w < s.KW && s.C_in >= 16 && s.C_out >= 16 &&
         s.N * s.out_h() * s.out_w() >= 256;
}

void input_grad_as_conv(float* dx, const float* dy, const float* w, const Conv2dShape& s,
                        const float* dx_add) {
  Conv2dShape t = s;
  t.C_in = s.C_out;
  t.C_out = s.C_in;
  t.H = s.out_h();
  t.W = s.out_w();
  t.pad_h = s.KH - 1 - s.pad_h;
  t.pad_w = s.KW - 1 - s.pad_w;
  Conv2dEpilogue e;
  e.residual = dx_add;  // dx_add's layout is dx's: [N, C_in, H, W]
  // Its weights (ci, co, KH - 1 - kh, KW - 1 - kw) are w's (co, ci, kh, kw), packed from w as they
  // lie (PreparedConv2d::FromForwardWeights).
  PreparedConv2d(w, t, PreparedConv2d::FromForwardWeights{}).forward(dx, dy, e);
}

}  // namespace

bool conv2d_winograd_weight_grad(const Conv2dShape& s) { return use_winograd_weight_grad(s); }

int64_t conv2d_winograd_weight_grad_tile(const Conv2dShape& s) {
  return winograd_weight_grad_tile(s);
}

bool conv2d_weight_grad_column_copies(const Conv2dShape& s) {
  const ConvTileKernel& k = conv_tile_kernel();
  return weight_grad_kind(s, k) == WeightGradKind::kPixels && weight_grad_column_copies(s, k);
}

void conv2d_forward(float* y, const float* x, const float* w, const float* b,
                    const Conv2dShape& s) {
  if (s.N == 0) return;
  PreparedConv2d(w, b, s).forward(y, x);  // the weights packed for this call
}

void conv2d_backward(float* dx, float* dw, float* db, const float* dy, const float* x,
                     const float* w, const Conv2dShape& s, const float* dx_add) {
  if (dx && dx_add && !use_input_grad_as_conv(s)) {
    // The im2col path folds its columns into dx over several passes: dx_add is added at the end.
    conv2d_backward(dx, dw, db, dy, x, w, s);
    const int64_t n = s.N * s.C_in * s.H * s.W;
    parallel_range(n, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) dx[i] += dx_add[i];
    });
    return;
  }
  const int64_t in_size = s.C_in * s.H * s.W, out_size = s.C_out * s.out_h() * s.out_w();
  const int64_t w_size = s.C_out * s.col_rows();
  const int threads = omp_get_max_threads();
  const int64_t per_gemm = images_per_gemm(s), batches = (s.N + per_gemm - 1) / per_gemm;
  if (s.N == 0) return;
  const ConvTileKernel& kern = conv_tile_kernel();
  const WeightGradKind kind = weight_grad_kind(s, kern);
  if (dw && kind != WeightGradKind::kIm2col) {
    if (kind == WeightGradKind::kWinograd) weight_grad_winograd(dw, dy, x, s, kern);
    else weight_grad(dw, dy, x, s, kern, kind == WeightGradKind::kPixels);
    dw = nullptr;  // done; what follows computes dx and db
    if (!dx && !db) return;
  }
  if (dx && use_input_grad_as_conv(s)) {
    input_grad_as_conv(dx, dy, w, s, dx_add);
    dx = nullptr;
    if (!db) return;
  }
  const float* wtp = dx ? pack_transposed_weights(w, s) : nullptr;
  // backward_image's weight gradient at a stride > 1 reads the stride-phase copy at these offsets.
  const std::vector<int64_t> phase_koff =
      dw && per_gemm == 1 && !is_pointwise(s) && (s.stride_h > 1 || s.stride_w > 1)
          ? tap_offsets(s, input_layout(s))
          : std::vector<int64_t>{};
  const int64_t* koff = phase_koff.empty() ? nullptr : phase_koff.data();
  // One batch: per_gemm images through one gemm, or one image.
  auto backward_batch = [&](int64_t t, float* part_dw, float* part_db) {
    if (per_gemm > 1)
      backward_images(dx, part_dw, part_db, dy, x, wtp, s, t * per_gemm,
                      std::min(per_gemm, s.N - t * per_gemm), false);
    else
      backward_image(dx ? dx + t * in_size : nullptr, part_dw, part_db, dy + t * out_size,
                     x + t * in_size, wtp, koff, s, false);
  };
  const bool fixed = deterministic() && (dw || db);
  if (fixed || (batches >= threads && threads > 1)) {
    // The parameter gradients summed privately over each part of the batches (in batch order, on
    // one thread), then the parts added in order. A part is one thread's share, or in deterministic
    // mode one of a fixed number of groups, so that the rounding does not depend on the threads.
    // An exception inside the parallel loop (a scratch allocation) is kept and raised after it.
    const int64_t parts = fixed ? std::min<int64_t>(batches, kDeterministicGroups) : threads;
    const int64_t share = batches / parts, extra = batches % parts;  // OpenMP's static split
    std::vector<CachedVector<float>> dw_part(parts), db_part(parts);
    ParallelErrors errors;
    // The parts are added by all the threads, a block of dw each, every float in part order (as
    // one thread added them before).
    const int64_t blocks = std::min<int64_t>(std::max<int64_t>(w_size / 4096, 1), 4 * threads);
    sum_parts(
        errors, threads, threads > 1 && parts > 1, parts, dw ? blocks : 0,
        [&](int64_t p) {
          if (dw) dw_part[p].assign(w_size, 0.0f);
          if (db) db_part[p].assign(s.C_out, 0.0f);
          const int64_t first = p * share + std::min(p, extra), count = share + (p < extra ? 1 : 0);
          for (int64_t t = first; t < first + count; ++t)
            backward_batch(t, dw ? dw_part[p].data() : nullptr, db ? db_part[p].data() : nullptr);
        },
        [&](int64_t b) {
          for (int64_t p = 0; p < parts; ++p)
            for (int64_t i = w_size * b / blocks; i < w_size * (b + 1) / blocks; ++i)
              dw[i] += dw_part[p][i];
        });
    errors.rethrow();
    if (db)
      for (int64_t p = 0; p < parts; ++p)
        for (int64_t i = 0; i < s.C_out; ++i) db[i] += db_part[p][i];
  } else if (per_gemm > 1) {
    for (int64_t t = 0; t < batches; ++t)
      backward_images(dx, dw, db, dy, x, wtp, s, t * per_gemm,
                      std::min(per_gemm, s.N - t * per_gemm), true);
  } else {
    for (int64_t n = 0; n < s.N; ++n)
      backward_image(dx ? dx + n * in_size : nullptr, dw, db, dy + n * out_size, x + n * in_size,
                     wtp, koff, s, true);
  }
}

}  // namespace pycnn::cpu
