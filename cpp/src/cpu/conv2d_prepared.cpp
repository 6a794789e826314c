// conv2d_prepared: the inference convolution of pycnn/ops/conv2d_prepared.h.
//
// An implicit GEMM per image and group, y_g[C_out/g, OH*OW] = w_g[C_out/g, K] @ col[K, OH*OW] with
// K = C_in/g * KH * KW, where col is never materialised:
//   - the weights are packed once, at construction, into panels of the tile kernel's MR rows, one
//     K slice after another (the layout the tile kernel streams);
//   - per call, each image is copied once into a zero-padded, stride-phase layout
//     xq[C_in][SH*SW phases][Hq][Wq], phase (a, b) holding the padded pixels (i*SH + a, j*SW + b).
//     Tap (c, kh, kw) of output pixel (oh, ow) is then xq[koff[k] + oh*Wq + ow], koff[k] fixed at
//     construction, whatever the stride, padding and dilation: every column panel of col is a few
//     contiguous runs (one when OW >= NR) copied from xq straight into the panel the kernel reads.
//     Without padding and stride, xq is x itself (1x1 convolutions read the image in place);
//   - the tile kernel keeps MR x NR outputs in registers over a K slice; on the last slice it adds
//     bias and residual and clamps while storing (conv2d_prepared_microkernel.inc).
// Loops (per task): K slices > pixel panels (each packed once, hot in L1) > weight panels (the slice
// of all of them stays in L2). Tasks (image, group, pixel panels, weight panels) are many enough
// that 2 threads are busy on one image: pixels are split first, output channels when pixels run out.
// Depthwise convolutions (groups == C_in == C_out) skip the GEMM: each channel's output is a sum of
// KH*KW shifted runs of xq, vectorised along the (wide) rows.
#include "pycnn/ops/conv2d_prepared.h"

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "conv2d_prepared_kernels.h"
#include "pycnn/gemm.h"
#include "scratch.h"

namespace pycnn::cpu {

namespace {

// The tile kernel for the instruction set the gemm runs (gemm_isa() honours PYCNN_GEMM_ISA, so the
// tests can run each kernel).
const ConvTileKernel& tile_kernel() {
  static const ConvTileKernel chosen = [] {
    const std::string isa = gemm_isa();
    if (isa == "avx512") return conv_tile_kernel_avx512();
    if (isa == "avx2") return conv_tile_kernel_avx2();
    return conv_tile_kernel_portable();
  }();
  return chosen;
}

constexpr int64_t kMaxSlice = 256;  // K per slice: a 256 x 32 input panel is 32 KB, L1's share

// K in slices of (nearly) equal depth: 576 as 3 x 192, not 256 + 256 + 64.
int64_t slice_depth(int64_t K) {
  const int64_t slices = (K + kMaxSlice - 1) / kMaxSlice;
  return (K + slices - 1) / slices;
}

// Where the per-call copy of the input keeps each image (see the file comment).
struct InputLayout {
  bool in_place;           // no padding and stride 1: xq is x
  int64_t SH, SW, Hq, Wq;  // phases per axis and each phase plane's size
  int64_t channel, image;  // floats per channel (all its phases) and per image
  // Bit a (b) set when some tap reads phase row a (column b): a 1x1 stride-2 convolution reads a
  // quarter of the padded image, and only that quarter is copied. Phases past 63 are always copied.
  uint64_t row_phases = ~uint64_t(0), col_phases = ~uint64_t(0);
  bool reads(int64_t a, int64_t b) const {
    return (a >= 64 || (row_phases >> a & 1)) && (b >= 64 || (col_phases >> b & 1));
  }
};

InputLayout input_layout(const Conv2dShape& s) {
  InputLayout l;
  l.in_place = s.pad_h == 0 && s.pad_w == 0 && s.stride_h == 1 && s.stride_w == 1;
  l.SH = l.in_place ? 1 : s.stride_h;
  l.SW = l.in_place ? 1 : s.stride_w;
  l.Hq = (s.H + 2 * s.pad_h + l.SH - 1) / l.SH;
  l.Wq = (s.W + 2 * s.pad_w + l.SW - 1) / l.SW;
  l.channel = l.SH * l.SW * l.Hq * l.Wq;
  l.image = s.C_in * l.channel;
  if (l.SH <= 64) {
    l.row_phases = 0;
    for (int64_t kh = 0; kh < s.KH; ++kh) l.row_phases |= uint64_t(1) << (kh * s.dil_h % l.SH);
  }
  if (l.SW <= 64) {
    l.col_phases = 0;
    for (int64_t kw = 0; kw < s.KW; ++kw) l.col_phases |= uint64_t(1) << (kw * s.dil_w % l.SW);
  }
  return l;
}

// xq's channel from x's plane x_c[H, W]: every phase plane a tap reads, zeros where the pixel is
// padding.
void build_channel(float* dst, const float* x_c, const Conv2dShape& s, const InputLayout& l,
                   const ConvTileKernel& kern) {
  for (int64_t a = 0; a < l.SH; ++a)
    for (int64_t b = 0; b < l.SW; ++b) {
      if (!l.reads(a, b)) continue;
      float* plane = dst + (a * l.SW + b) * l.Hq * l.Wq;
      // Columns j of this phase whose source column j*SW + b - pad_w lies in [0, W).
      const int64_t lo = std::min(l.Wq, std::max<int64_t>(0, (s.pad_w - b + l.SW - 1) / l.SW));
      const int64_t hi = std::max(lo, std::min(l.Wq, (s.W + s.pad_w - b + l.SW - 1) / l.SW));
      for (int64_t i = 0; i < l.Hq; ++i) {
        const int64_t r = i * l.SH + a - s.pad_h;
        const bool inside = r >= 0 && r < s.H;
        kern.phase_row(plane + i * l.Wq, l.Wq, x_c + (inside ? r : 0) * s.W + b - s.pad_w,
                       inside ? lo : 0, inside ? hi : 0, l.SW);
      }
    }
}

// Offset in xq of tap (c, kh, kw) for output pixel (0, 0), k = (c * KH + kh) * KW + kw.
int64_t tap_offset(const Conv2dShape& s, const InputLayout& l, int64_t c, int64_t kh, int64_t kw) {
  const int64_t rh = kh * s.dil_h, rw = kw * s.dil_w;  // in padded pixels
  const int64_t phase = (rh % l.SH) * l.SW + rw % l.SW;
  return c * l.channel + phase * l.Hq * l.Wq + (rh / l.SH) * l.Wq + rw / l.SW;
}

bool is_depthwise(const Conv2dShape& s) { return s.groups == s.C_in && s.groups == s.C_out; }

}  // namespace

PreparedConv2d::PreparedConv2d(const float* w, const float* b, const Conv2dShape& s) : s_(s) {
  s_.validate();
  const InputLayout l = input_layout(s_);
  const int64_t K = s_.col_rows(), cout_g = s_.cout_per_group();
  for (int64_t c = 0; c < s_.cin_per_group(); ++c)
    for (int64_t kh = 0; kh < s_.KH; ++kh)
      for (int64_t kw = 0; kw < s_.KW; ++kw) tap_offset_.push_back(tap_offset(s_, l, c, kh, kw));
  bias_.assign(static_cast<size_t>(s_.C_out), 0.0f);
  if (b) std::copy(b, b + s_.C_out, bias_.begin());
  if (is_depthwise(s_)) {  // the taps of each channel, as they are
    packed_.assign(w, w + s_.C_out * K);
    return;
  }
  // Per group, per K slice, per panel of MR output channels: element (i, k) at k * MR + i, rows
  // past C_out/g zero.
  const int64_t mr = tile_kernel().mr, panels = (cout_g + mr - 1) / mr, depth = slice_depth(K);
  packed_.assign(static_cast<size_t>(s_.groups * panels * mr * K), 0.0f);
  float* dst = packed_.data();
  for (int64_t g = 0; g < s_.groups; ++g)
    for (int64_t k0 = 0; k0 < K; k0 += depth) {
      const int64_t kc = std::min(depth, K - k0);
      for (int64_t p = 0; p < panels; ++p, dst += kc * mr)
        for (int64_t i = 0; i < mr && p * mr + i < cout_g; ++i) {
          const float* row = w + (g * cout_g + p * mr + i) * K + k0;
          for (int64_t k = 0; k < kc; ++k) dst[k * mr + i] = row[k];
        }
    }
}

void PreparedConv2d::forward(float* y, const float* x, const Conv2dEpilogue& e) const {
  const Conv2dShape& s = s_;
  if (s.N == 0) return;
  const ConvTileKernel& kern = tile_kernel();
  const InputLayout l = input_layout(s);
  const int64_t OH = s.out_h(), OW = s.out_w(), P = OH * OW, K = s.col_rows();
  const int64_t cin_g = s.cin_per_group(), cout_g = s.cout_per_group();
  const int threads = omp_get_max_threads();
  // Waking the other threads costs more than a LeNet-sized convolution takes alone.
  const bool parallel = threads > 1 && s.N * s.C_out * P * K >= (int64_t(1) << 18);

  static thread_local Scratch input_scratch;  // the calling thread's: callers never share it
  const float* xq = x;
  float* xq_built = nullptr;
  if (!l.in_place) xq = xq_built = input_scratch.get(static_cast<size_t>(s.N * l.image));

  // Tasks: (image, group, a run of pixel panels, a run of weight panels).
  const int64_t nr = kern.nr, mr = kern.mr;
  const int64_t pixel_panels = (P + nr - 1) / nr, weight_panels = (cout_g + mr - 1) / mr;
  const int64_t want = parallel ? 4 * threads : 1, images = s.N * s.groups;
  int64_t pixel_run = std::min<int64_t>(pixel_panels, 8);
  while (pixel_run > 1 && images * ((pixel_panels + pixel_run - 1) / pixel_run) < want)
    pixel_run = (pixel_run + 1) / 2;
  const int64_t pixel_runs = (pixel_panels + pixel_run - 1) / pixel_run;
  int64_t weight_runs = 1;
  while (weight_runs < weight_panels && images * pixel_runs * weight_runs < want) ++weight_runs;
  const int64_t weight_run = (weight_panels + weight_runs - 1) / weight_runs;
  weight_runs = (weight_panels + weight_run - 1) / weight_run;
  const int64_t depth = slice_depth(K), tasks = images * pixel_runs * weight_runs;
  const bool depthwise = is_depthwise(s);

#pragma omp parallel if (parallel)
  {
    if (xq_built) {
#pragma omp for schedule(static)
      for (int64_t nc = 0; nc < s.N * s.C_in; ++nc)
        build_channel(xq_built + nc * l.channel, x + nc * s.H * s.W, s, l, kern);
    }
    if (depthwise) {
      const int taps = static_cast<int>(K);
      std::vector<const float*> src(static_cast<size_t>(taps));
#pragma omp for schedule(static)
      for (int64_t nc = 0; nc < s.N * s.C_out; ++nc) {
        const float* xq_c = xq + nc * l.channel;
        const float* residual = e.residual ? e.residual + nc * P : nullptr;
        const int64_t c = nc % s.C_out;
        for (int t = 0; t < taps; ++t) src[t] = xq_c + tap_offset_[t];
        kern.depthwise_plane(y + nc * P, OH, OW, src.data(), l.Wq, packed_.data() + c * taps, taps,
                             bias_[c], residual, e.clamp_min, e.clamp_max);
      }
    } else {
      static thread_local Scratch panel_scratch;
      float* panel = panel_scratch.get(static_cast<size_t>(depth * nr));
      std::vector<int64_t> seg(static_cast<size_t>(3 * nr));
#pragma omp for schedule(dynamic, 1)
      for (int64_t t = 0; t < tasks; ++t) {
        const int64_t wr = t % weight_runs, pr = t / weight_runs % pixel_runs;
        const int64_t ng = t / (weight_runs * pixel_runs), n = ng / s.groups, g = ng % s.groups;
        const float* xq_g = xq + n * l.image + g * cin_g * l.channel;
        const int64_t out0 = (n * s.C_out + g * cout_g) * P;  // this image's and group's y
        const float* packed_g = packed_.data() + g * weight_panels * mr * K;
        const int64_t p_end = std::min(pixel_panels, (pr + 1) * pixel_run);
        const int64_t w_end = std::min(weight_panels, (wr + 1) * weight_run);
        for (int64_t k0 = 0; k0 < K; k0 += depth) {
          const int64_t kc = std::min(depth, K - k0);
          const int mode = (k0 == 0 ? kTileFirst : 0) | (k0 + kc == K ? kTileLast : 0);
          const float* slice = packed_g + k0 * weight_panels * mr;
          for (int64_t pp = pr * pixel_run; pp < p_end; ++pp) {
            // The panel's pixels [q0, q0 + cols) as runs along output rows.
            const int64_t q0 = pp * nr, cols = std::min(nr, P - q0);
            int nseg = 0;
            for (int64_t q = q0; q < q0 + cols; ++nseg) {
              const int64_t oh = q / OW, ow = q % OW, len = std::min(OW - ow, q0 + cols - q);
              seg[3 * nseg] = q - q0, seg[3 * nseg + 1] = len, seg[3 * nseg + 2] = oh * l.Wq + ow;
              q += len;
            }
            kern.pack(panel, xq_g, tap_offset_.data() + k0, kc, seg.data(), nseg,
                      static_cast<int>(cols));
            for (int64_t wp = wr * weight_run; wp < w_end; ++wp) {
              const int64_t co = wp * mr, at = out0 + co * P + q0;
              kern.tile(kc, slice + wp * kc * mr, panel, y + at, P,
                        static_cast<int>(std::min(mr, cout_g - co)), static_cast<int>(cols), mode,
                        bias_.data() + g * cout_g + co, e.residual ? e.residual + at : nullptr,
                        e.clamp_min, e.clamp_max);
            }
          }
        }
      }
    }
  }
}

}  // namespace pycnn::cpu
