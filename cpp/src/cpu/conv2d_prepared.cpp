// conv2d_prepared: the inference convolution of pycnn/ops/conv2d_prepared.h.
//
// An implicit GEMM per image and group, y_g[C_out/g, OH*OW] = w_g[C_out/g, K] @ col[K, OH*OW] with
// K = C_in/g * KH * KW, where col is never materialised:
//   - the weights are packed once, at construction, into panels of the tile kernel's MR rows, one
//     K slice after another (the layout the tile kernel streams);
//   - per call, each image is copied once into a zero-padded, stride-phase layout
//     xq[C_in][SH*SW phases][Hq][Wq], phase (a, b) holding the padded pixels (i*SH + a, j*SW + b).
//     Tap (c, kh, kw) of output pixel (oh, ow) is then xq[koff[k] + oh*Wq + ow], koff[k] fixed at
//     construction, whatever the stride, padding and dilation: every column panel of col is one
//     contiguous run per output row it touches, copied from xq straight into the panel the kernel
//     reads. Without padding and stride, xq is x itself (1x1 convolutions read the image in place);
//   - the tile kernel keeps MR x NR outputs in registers over a K slice; on the last slice it adds
//     bias and residual and clamps while storing (conv2d_prepared_microkernel.inc).
// Loops (per task): K slices > pixel panels (each packed once, hot in L1) > weight panels (the slice
// of all of them stays in L2). Tasks (image, group, pixel panels, weight panels) are many enough
// that 2 threads are busy on one image: pixels are split first, output channels when pixels run out.
// 3x3 stride-1 layers with enough channels and tiles run Winograd F(2x2, 3x3) on the same tile
// kernel (see use_winograd). Depthwise convolutions (groups == C_in == C_out) skip the GEMM: each
// channel's output is a sum of KH*KW shifted runs of xq, vectorised along the (wide) rows.
// Smaller images (3x3 layers down to 28x28 and 7x7 outputs, stride 1 or 2, and 1x1 stride-2
// downsamples), and 1x1 layers with few output channels, take the channel-vector path instead
// (row_tile_channels): the same product the other way round, output channels along the vectors and
// output pixels broadcast straight from xq (no packing, no phases: a row tile reads every
// stride-th float), so a 7x7 image wastes no columns;
// its tiles accumulate in a per-task buffer [pixel][channel] that the epilogue transposes back
// into y (forward_row_tiles). Between two such layers the inference plan may keep a value in
// channel blocks instead (ChannelBlocks, conv2d_prepared.h: a pixel's channels one vector, planes
// padded by a zero halo): the next layer reads it in place, without the padded copy, and the
// epilogue stores each pixel's vector as it is, without the transpose (the constructor's layouts;
// in blocks the row tiles and the depthwise channel-vector path also take the large-image 1x1 and
// depthwise layers of MobileNet-style networks, see row_tile_channels).
// Stride-1 layers with few output channels (one or two weight panels: LeNet's, the 3-channel stems)
// take the wide path (use_wide): packing a pixel panel costs as much as multiplying it when only one
// or two weight panels share it, so the tile kernel reads its panel straight from the padded copy.
// That needs the panel to be one affine run, so outputs are computed on the padded width (Wq
// columns a row, the last KW - 1 of each thrown away) and copied out (forward_wide).
// Depthwise layers on small or strided planes take the channel-vector path (use_depthwise_vectors):
// 16 channels transposed into one padded [H][W][16] copy, their taps summed a vector of channels at a
// time, the sums transposed back by the row tiles' epilogue (forward_depthwise_vectors); in channel
// blocks, neither transpose.
#include "pycnn/ops/conv2d_prepared.h"

#include <omp.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <limits>
#include <numeric>
#include <string>

#include "conv2d_prepared_kernels.h"
#include "parallel.h"
#include "pycnn/check.h"
#include "pycnn/gemm.h"
#include "pycnn/ops/hardswish.h"
#include "pycnn/ops/max_pool2d.h"
#include "pycnn/ops/silu.h"
#include "pycnn/tensor.h"
#include "pycnn/vector_math.h"
#include "scratch.h"

namespace pycnn::cpu {

// The tile kernel for the instruction set the gemm runs (gemm_isa() honours PYCNN_GEMM_ISA, so the
// tests can run each kernel).
const ConvTileKernel& conv_tile_kernel() {
  static const ConvTileKernel chosen = [] {
    const std::string isa = gemm_isa();
    if (isa == "avx512") return conv_tile_kernel_avx512();
    if (isa == "avx2") return conv_tile_kernel_avx2();
    return conv_tile_kernel_portable();
  }();
  return chosen;
}

// phases: false for the channel-vector path, whose row tiles read strided pixels themselves (its
// copy only pads).
InputLayout input_layout(const Conv2dShape& s, bool phases) {
  InputLayout l;
  l.in_place = s.pad_h == 0 && s.pad_w == 0 && (!phases || (s.stride_h == 1 && s.stride_w == 1));
  // A stride past the padded extent leaves one output row (column), whose tap at padded pixel r
  // reads row 0 of phase r: as many phases as padded pixels serve it as one per stride would,
  // where SH * SW * Hq * Wq overflowed (a fuzzed stride of 2^31 - 1).
  l.SH = l.in_place || !phases ? 1 : std::min(s.stride_h, s.H + 2 * s.pad_h);
  l.SW = l.in_place || !phases ? 1 : std::min(s.stride_w, s.W + 2 * s.pad_w);
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

InputLayout column_copies_layout(const Conv2dShape& s) {
  InputLayout l = input_layout(s, true);
  l.in_place = false;
  l.column_copies = true;
  l.SW = 1;
  l.Wq = s.out_w();
  l.col_phases = ~uint64_t(0);
  l.channel = s.KW * l.SH * l.Hq * l.Wq;
  l.image = s.C_in * l.channel;
  return l;
}

bool column_copies_pay(const Conv2dShape& s, int64_t lanes, int64_t steps) {
  const int64_t OW = s.out_w(), P = s.out_h() * OW;
  return s.KW * OW <= 8 * (s.W + 2 * s.pad_w) && 10 * ((P + lanes - 1) / lanes) <= 9 * steps;
}

// Rows [i0, i1) of the phase planes of row phase a (every column phase a tap reads) of xq's channel,
// from x's plane x_c[H, W]; zeros where the pixel is padding.
void build_phase_rows(float* dst, const float* x_c, const Conv2dShape& s, const InputLayout& l,
                      const ConvTileKernel& kern, int64_t a, int64_t i0, int64_t i1) {
  if (l.column_copies)
    return kern.column_copy_rows(dst, l.Hq * l.Wq, x_c, s.H, s.W, s.pad_h, s.pad_w, l.SH, a, s.KW,
                                 s.dil_w, s.stride_w, l.Wq, i0, i1);
  if (l.SH == 1 && l.SW == 1)
    return kern.pad_rows(dst, x_c, s.H, s.W, s.pad_h, s.pad_w, l.Wq, i0, i1);
  // Strides 2 and 4 with every column phase read: each row split into all its phases in one pass
  // (phase_split_row). Winograd F(4x4, 3x3)'s copy of 28x28 images (16 phases of 8 x 8) took one
  // phase_row call for every 8 floats: 13% of 128 -> 128's forward at batch 16.
  if ((l.SW == 2 || l.SW == 4) &&
      (l.col_phases & ((uint64_t(1) << l.SW) - 1)) == (uint64_t(1) << l.SW) - 1) {
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t r = i * l.SH + a - s.pad_h;
      kern.phase_split_row(dst + a * l.SW * l.Hq * l.Wq + i * l.Wq, l.Hq * l.Wq, l.Wq,
                           r >= 0 && r < s.H ? x_c + r * s.W : nullptr, s.W, s.pad_w,
                           static_cast<int>(l.SW));
    }
    return;
  }
  // Row by row, each source row split into its column phases one after another while it is in L1
  // (phase by phase, a stride-4 stem read every source row four times, 3.5 KB apart each time).
  for (int64_t i = i0; i < i1; ++i) {
    const int64_t r = i * l.SH + a - s.pad_h;
    const bool inside = r >= 0 && r < s.H;
    for (int64_t b = 0; b < l.SW; ++b) {
      if (!l.reads(a, b)) continue;
      float* plane = dst + (a * l.SW + b) * l.Hq * l.Wq;
      // Columns j of this phase whose source column j*SW + b - pad_w lies in [0, W).
      const int64_t lo = std::min(l.Wq, std::max<int64_t>(0, (s.pad_w - b + l.SW - 1) / l.SW));
      const int64_t hi = std::max(lo, std::min(l.Wq, (s.W + s.pad_w - b + l.SW - 1) / l.SW));
      kern.phase_row(plane + i * l.Wq, l.Wq, x_c + (inside ? r : 0) * s.W + b - s.pad_w,
                     inside ? lo : 0, inside ? hi : 0, l.SW);
    }
  }
}

// xq's channel from x's plane x_c[H, W]: every phase plane a tap reads, zeros where the pixel is
// padding.
void build_channel(float* dst, const float* x_c, const Conv2dShape& s, const InputLayout& l,
                   const ConvTileKernel& kern) {
  for (int64_t a = 0; a < l.SH; ++a) build_phase_rows(dst, x_c, s, l, kern, a, 0, l.Hq);
}

// The input copies of N images (xq[n * l.image ...] from x's images), built by the threads of the
// enclosing parallel region together (a worksharing loop: every thread of the team must call it), in
// blocks of rows of each row phase of each channel, enough of them for the threads to share evenly:
// by channel, a 3-channel stem gave one thread two thirds of the copy (64 against 28 us of
// ResNet-18's 7x7 stem, the other thread waiting at the barrier).
static void build_images_shared(float* xq, const float* x, int64_t N, const Conv2dShape& s,
                                const InputLayout& l, const ConvTileKernel& kern, int threads) {
  const int64_t units = N * s.C_in * l.SH;
  const int64_t blocks = std::min(l.Hq, (4 * threads + units - 1) / units);
#pragma omp for schedule(static)
  for (int64_t u = 0; u < units * blocks; ++u) {
    const int64_t nc = u / (l.SH * blocks), a = u / blocks % l.SH, block = u % blocks;
    build_phase_rows(xq + nc * l.channel, x + nc * s.H * s.W, s, l, kern, a, l.Hq * block / blocks,
                     l.Hq * (block + 1) / blocks);
  }
}

// Offset in xq of tap (c, kh, kw) for output pixel (0, 0), k = (c * KH + kh) * KW + kw.
int64_t tap_offset(const Conv2dShape& s, const InputLayout& l, int64_t c, int64_t kh, int64_t kw) {
  const int64_t rh = kh * s.dil_h, rw = kw * s.dil_w;  // in padded pixels
  if (l.column_copies)
    return c * l.channel + (kw * l.SH + rh % l.SH) * l.Hq * l.Wq + (rh / l.SH) * l.Wq;
  const int64_t phase = (rh % l.SH) * l.SW + rw % l.SW;
  return c * l.channel + phase * l.Hq * l.Wq + (rh / l.SH) * l.Wq + rw / l.SW;
}

std::vector<int64_t> tap_offsets(const Conv2dShape& s, const InputLayout& l) {
  std::vector<int64_t> offsets;
  offsets.reserve(static_cast<size_t>(s.col_rows()));
  for (int64_t c = 0; c < s.cin_per_group(); ++c)
    for (int64_t kh = 0; kh < s.KH; ++kh)
      for (int64_t kw = 0; kw < s.KW; ++kw) offsets.push_back(tap_offset(s, l, c, kh, kw));
  return offsets;
}

int64_t channel_block_width() { return conv_tile_kernel().vw; }

namespace {

// The floats of N images of a value in layout b, without the slack after the last one (an image of
// it is value_floats(1, ...) floats after the one before).
// ValueError unless b is NCHW or its halos lie in [0, kMaxHalo].
void check_halos(const ChannelBlocks& b, const char* who) {
  if (b.on() && (b.halo_w < 0 || b.halo_h > kMaxHalo || b.halo_w > kMaxHalo))
    value_error(who, ": expected halos in [0, ", kMaxHalo, "], got (", b.halo_h, ", ", b.halo_w,
                ")");
}

int64_t value_floats(int64_t N, int64_t C, int64_t H, int64_t W, const ChannelBlocks& b) {
  if (!b.on()) return numel_of({N, C, H, W}, "channel_blocks_floats");
  check_halos(b, "channel blocks");
  constexpr int64_t most = int64_t(1) << 60;  // so the padded sizes below cannot wrap
  if (N < 0 || C < 0 || H < 0 || W < 0 || C > most || H > most || W > most)
    value_error("channel blocks: expected a shape of sizes in [0, 2^60], got [", N, ", ", C, ", ",
                H, ", ", W, "]");
  const int64_t vw = channel_block_width();
  return numel_of({N, (C + vw - 1) / vw * vw, H + 2 * b.halo_h, W + 2 * b.halo_w},
                  "channel_blocks_floats");
}

}  // namespace

int64_t channel_blocks_floats(int64_t N, int64_t C, int64_t H, int64_t W, const ChannelBlocks& b) {
  const int64_t floats = value_floats(N, C, H, W, b);  // at most 2^60 (numel_of)
  return b.on() ? floats + kBlockSlack * channel_block_width() : floats;
}

namespace {

// Floats from one block of a value in channel blocks to the next.
int64_t block_floats(const ChannelBlocks& b, int64_t H, int64_t W) {
  return (H + 2 * b.halo_h) * (W + 2 * b.halo_w) * channel_block_width();
}

// Where pixel (h, w) of block `block` of image n lies in a value of C channels and plane H x W kept
// in channel blocks b (see ChannelBlocks): the offset of its first lane.
int64_t block_at(const ChannelBlocks& b, int64_t C, int64_t H, int64_t W, int64_t n, int64_t block,
                 int64_t h, int64_t w) {
  const int64_t vw = channel_block_width(), blocks = (C + vw - 1) / vw;
  const int64_t hp = H + 2 * b.halo_h, wp = W + 2 * b.halo_w;
  return (((n * blocks + block) * hp + h + b.halo_h) * wp + w + b.halo_w) * vw;
}

// Floats the depthwise kernel may read past the last padded row of its input (its last group of
// four pixels runs up to three pixels, of stride_w floats, past the row's end).
int64_t depthwise_slack(const Conv2dShape& s, int64_t vw) { return 4 * s.stride_w * vw; }

// Whether chunks of images go to the threads whole (forward, forward_max_pool): at least two a
// thread, and evenly (or 8 times over, where one more for some threads matters little).
bool deal_whole_chunks(int64_t chunks, int threads) {
  return chunks >= 2 * threads && (chunks % threads == 0 || chunks >= 8 * threads);
}

constexpr int64_t kMaxSlice = 256;  // K per slice: a 256 x 32 input panel is 32 KB, L1's share
constexpr int64_t kWeightsInL2 = int64_t(1) << 17;  // floats of weights a core's L2 keeps (512 KB)

// Up to this many tasks a thread, the tasks of forward_images and forward_row_tiles go in a fixed
// order (for_tasks): thread t takes the same block of rows, the top half of the image say, in every
// layer and call, so more of the lines it writes (outputs, task buffers) and reads (the residual, the
// next layer's rows) stay in its own core's caches, where first-come tasks moved them between the
// cores. ResNet-20 batch 1 at 2 threads (8 tasks a layer), each build in its own process beside
// onnxruntime (2026-12-06): 0.70-0.85 -> 0.60-0.72 ms (onnxruntime 0.49-0.57); a 32 -> 32 16x16 layer
// alone, its tasks 9 -> 6 us each. Many tasks stay first come: in a fixed order ResNet-18's training
// step at batch 16 was 5-10% slower (1.27-1.50 against 1.34-1.58 s over three pairs of processes).
constexpr int64_t kInOrderTasks = 8;

// K in slices of (nearly) equal depth: 576 as 3 x 192, not 256 + 256 + 64.
int64_t slice_depth(int64_t K) {
  const int64_t slices = (K + kMaxSlice - 1) / kMaxSlice;
  return (K + slices - 1) / slices;
}

// The panel of positions [q0, q0 + cols) of a row-major [*, row] grid (output pixels, or Winograd
// tiles) as runs along its rows: seg[3r..3r+2] = {column in the panel, length, position in the
// input copy (row * wq + column)}. Returns the number of runs.
int panel_runs(int64_t* seg, int64_t q0, int64_t cols, int64_t row, int64_t wq) {
  int runs = 0;
  for (int64_t q = q0; q < q0 + cols; ++runs) {
    const int64_t i = q / row, j = q % row, len = std::min(row - j, q0 + cols - q);
    seg[3 * runs] = q - q0, seg[3 * runs + 1] = len, seg[3 * runs + 2] = i * wq + j;
    q += len;
  }
  return runs;
}

// Pixel panels a task takes: 8 (each packed panel then feeds a run of tiles), halved until the
// images' tasks are at least `want`, so two threads are busy on one image.
int64_t pixel_run_for(int64_t pixel_panels, int64_t images, int64_t want) {
  int64_t run = std::min<int64_t>(pixel_panels, 8);
  while (run > 1 && images * ((pixel_panels + run - 1) / run) < want) run = (run + 1) / 2;
  return run;
}

// The tiles of one image in a Winograd panel: its runs are seg[3 * first ...] (runs of them).
struct WinogradPiece {
  int64_t image;
  int first, runs;
};

// The panel of tiles [q0, q0 + cols) of a chunk's images (`columns` tiles each, in rows of `row`)
// as pieces, one per image, each a list of runs as panel_runs makes them with the column in the
// panel (dst) counted from q0. Returns the number of pieces (at most cols).
int winograd_pieces(WinogradPiece* pieces, int64_t* seg, int64_t q0, int64_t cols, int64_t columns,
                    int64_t row, int64_t wq) {
  int npieces = 0, runs = 0;
  for (int64_t q = q0; q < q0 + cols;) {
    const int64_t n = q / columns, end = std::min(q0 + cols, (n + 1) * columns);
    const int first = runs;
    runs += panel_runs(seg + 3 * first, q - n * columns, end - q, row, wq);
    for (int r = first; r < runs; ++r) seg[3 * r] += q - q0;
    pieces[npieces++] = {n, first, runs - first};
    q = end;
  }
  return npieces;
}

bool is_depthwise(const Conv2dShape& s) { return s.groups == s.C_in && s.groups == s.C_out; }

bool winograd4_fits(const Conv2dShape& s);  // F(4x4, 3x3)'s shapes: see pick_winograd_tile

// Winograd F(2x2, 3x3) (Lavin & Gray 2015) for 3x3 stride-1 convolutions with enough channels: each
// 2x2 block of outputs ("tile") is y = A^T [(G g G^T) . (B^T d B)] A, with d the tile's 4x4 input
// patch, so the 36 multiply-adds per tile and channel pair become 16 (2.25x fewer): 16 GEMMs
// M[xi][C_out, tiles] = U[xi][C_out, C_in] @ V[xi][C_in, tiles], U = G g G^T packed once here, V the
// input transform of a panel of NR tiles (straight from the stride-2 phases of the padded input, in
// the kernel file), M turned back into outputs by the output transform with the epilogue.
// Measured against the direct path (2 threads): 1.6-1.9x on 56x56 to 28x28 images at 64-512
// channels, and against row tiles 1.9x on 256 channels at 14x14, batch 16 (9.6 against 17.9 ms);
// slower below 32 channels (the transforms cost per channel what the product saves), below 128
// tiles in all (512 channels at 7x7, batch 1: the 16 transformed weight matrices are streamed for
// one panel of tiles) and on 7x7 images at any batch (16 tiles an image: 512 channels at batch 16,
// 15.6 ms against 14.1 in row tiles; with panels across images, 2026-12-07, still 46 against 38 ms
// beside a busy process, before the filters were packed as they were transformed: the 16 matrices,
// 16 MB, are streamed once per panel of 32 tiles, and the products ran at half the row tiles' rate).
// Measured again against today's row tiles (1 thread, 2026-12-06): Winograd 1.1-1.5x on 64-256
// channels with 784 tiles and more (256 at 56x56 batch 1: 25.8 against 37.6 ms; 128 at 28x28 batch
// 16 1.25x; 64 at 32x32 batch 16 1.1x), even at 256 on 14x14 batch 16; slower with 32 channels (32
// at 16x16 batch 128, ResNet-20's second stage: 6.6 against 5.1 ms) and with 196 tiles (128 at 28x28
// batch 1: 2.4 against 1.6 ms; 512 at 28x28: 44.8 against 36.9). Those limits are F(2x2, 3x3)'s
// (many_tiles, 64 channels each side); F(4x4, 3x3) has its own (winograd4_fits, below).
bool many_tiles(const Conv2dShape& s) {
  const double image = double((s.out_h() + 1) / 2) * double((s.out_w() + 1) / 2);
  return image >= 32 && double(s.N) * image >= 512;
}

bool use_winograd(const Conv2dShape& s) {
  return s.KH == 3 && s.KW == 3 && s.stride_h == 1 && s.stride_w == 1 && s.dil_h == 1 &&
         s.dil_w == 1 && s.groups == 1 &&
         (winograd4_fits(s) || (s.C_in >= 64 && s.C_out >= 64 && many_tiles(s)));
}

// The Winograd tile's outputs a side: 0 (no Winograd), 2 for F(2x2, 3x3) or 4 for F(4x4, 3x3).
// F(4x4, 3x3) turns 6x6 input patches into 4x4 output tiles with 36 products a channel pair: 2.25
// multiplies an output where F(2x2, 3x3) needs 4 (its float32 error about 15 times F(2x2)'s, 4e-6
// to 8e-6 of the largest output on 64-300 channels against float64, well inside the 1e-4 parity
// bound). It is taken where
// - its tiles cut off few outputs at the image's edge: at most 0.7 of F(2x2)'s products (36 a 4x4
//   tile against 16 a 2x2 one; 13x13 and 14x14 images compute 256 outputs for 169 or 196, 0.735);
// - and its transforms fill the vectors or are outweighed by the products: they run along rows of
//   tiles, VW tiles a vector, so images under 16 columns fill few lanes (3 or 4 tiles a row), and
//   with few output channels the transforms cost what the products save.
// Measured (1 thread, AMD EPYC VM, 2026-12-07, F(2x2) -> F(4x4), ms): 64 -> 64 at 56x56 batch 1
// 1.25 -> 0.93 (2 threads 0.65 -> 0.57), batch 16 23.0 -> 20.5; 64 at 224x224 25.0 -> 19.1; 128 at
// 112x112 19.6 -> 15.1; 256 at 56x56 18.0 -> 15.8; 128 at 28x28 batch 16 19.3 -> 15.4; 64 at 32x32
// batch 16 8.0 -> 6.1; 128 at 16x16 batch 64 27.5 -> 22.4; 128 at 11x11 batch 64 16.4 -> 14.6;
// 256 at 12x12 batch 16 13.7 -> 12.0. At 13x13 and 14x14, batch 16, mixed: 512 at 14x14 80 -> 69,
// 256 at 14x14 18.4 -> 17.4, but AlexNet's 384 -> 256 at 13x13 28.0 -> 29.3 and 384 -> 192 21.6
// -> 22.8 (the 36 transformed weight matrices, 14 MB, are streamed once per panel of 32 tiles), so
// F(2x2) stays there. Slower with 64 channels on small images (64 at 11x11 batch 64 5.3 -> 5.8,
// at 12x12 2.55 -> 2.77).
// Unlike F(2x2, 3x3), it wins at any count of tiles, down to a batch of one small image (the layers
// row tiles ran before; 1 thread, batch 1, ms): 128 at 28x28 1.96 -> 0.89, 512 at 28x28 32.1 ->
// 15.7 (2 threads 15.8 -> 8.3: VGG-16's), 256 -> 512 at 28x28 (2 threads) 7.8 -> 3.7, 64 at 32x32
// 0.67 -> 0.33, 64 at 28x28 0.50 -> 0.32, 128 at 16x16 0.69 -> 0.28, 512 at 16x16 10.6 -> 4.2,
// 512 at 12x12 5.6 -> 4.1, 128 at 11x11 (9 tiles) 0.29 -> 0.26. It takes so few tiles only on
// images of 28x28 and larger: its error, passed through batch norm's statistics of a few pixels,
// put ResNet-50 at 64x64 in training mode (2 images, 2x2 to 16x16 maps) at 1.4e-4 of the float64
// output where F(2x2) and row tiles give 7e-5 (test_models' bound is 1e-4).
// It also wins with fewer channels than F(2x2)'s 64, down to 16 each side where their product is
// 512 or more (16 -> 16 at 32x32, batch 128, is no faster: 6.2 against 6.3 ms): 1 thread, ms, 32
// at 16x16 batch 128 (ResNet-20's second stage) 5.8 -> 5.2, 32 at 32x32 batch 32 5.8 -> 3.8, 24
// at 32x32 3.7 -> 2.5, 16 -> 32 2.9 -> 2.1, 32 -> 16 2.9 -> 2.3, 48 at 28x28 batch 16 6.1 -> 2.7, 32
// -> 64 at 16x16 batch 64 6.0 -> 3.9, 32 at 56x56 batch 1 0.53 -> 0.28.
// Its 36 weight matrices take 4x the weights' memory, and are kept at most 256 MB (a 1365 -> 1365
// layer).
bool winograd4_fits(const Conv2dShape& s) {
  const int64_t OH = s.out_h(), OW = s.out_w();
  // In doubles: a shape asked about without its tensors may be 2^31 wide.
  const double f2 = 16.0 * double((OH + 1) / 2) * double((OW + 1) / 2),
               f4 = 36.0 * double((OH + 3) / 4) * double((OW + 3) / 4);
  const double channels = double(s.C_out) * double(s.C_in);
  return 10 * f4 <= 7 * f2 && (s.C_out >= 128 || OW >= 16) && s.C_in >= 16 && s.C_out >= 16 &&
         channels >= 512 && 36.0 * channels <= double(int64_t(1) << 26) &&
         ((OH >= 28 && OW >= 28) || many_tiles(s));
}

// The transform points of Winograd F(m x m, 3x3): (m + 2)^2, 16 or 36.
inline int64_t winograd_points(int64_t m) { return (m + 2) * (m + 2); }

int64_t pick_winograd_tile(const Conv2dShape& s) {
  if (!use_winograd(s)) return 0;
  return winograd4_fits(s) ? 4 : 2;
}

// The input copy the Winograd F(m x m, 3x3) transform reads: m x m stride-m phases, each (TH + 1) x
// (TW + 1) for TH x TW tiles, zero past the padded image.
InputLayout winograd_layout(const Conv2dShape& s, int64_t m) {
  InputLayout l;
  l.in_place = false;
  l.SH = l.SW = m;
  l.Hq = (s.out_h() + m - 1) / m + 1;
  l.Wq = (s.out_w() + m - 1) / m + 1;
  l.channel = m * m * l.Hq * l.Wq;
  l.image = s.C_in * l.channel;
  return l;
}

// G of Winograd F(2x2, 3x3) (side 4: G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1]) or F(4x4, 3x3)
// (side 6: G = [1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6; 1/24 1/12 1/6; 1/24 -1/12 1/6; 0 0 1])
// applied to three values a, b, c: a column of g, then a row of G g.
template <int S>
inline void winograd_g(float a, float b, float c, float* o) {
  if constexpr (S == 4) {
    o[0] = a;
    o[1] = 0.5f * (a + b + c);
    o[2] = 0.5f * (a - b + c);
    o[3] = c;
  } else {
    o[0] = a * (1.0f / 4);
    o[1] = -(a + b + c) * (1.0f / 6);
    o[2] = -(a - b + c) * (1.0f / 6);
    o[3] = a * (1.0f / 24) + b * (1.0f / 12) + c * (1.0f / 6);
    o[4] = a * (1.0f / 24) - b * (1.0f / 12) + c * (1.0f / 6);
    o[5] = c;
  }
}

// u[S r + c][l] = (G g_l G^T)[r][c] for the 16 filters g[k][l] (lanes l, taps k = 3 kh + kw).
template <int S>
__attribute__((always_inline)) inline void winograd_filter_lanes(const float (*g)[16],
                                                                 float (*u)[16]) {
#pragma omp simd
  for (int l = 0; l < 16; ++l) {
    float t[S][3];  // G g
    for (int c = 0; c < 3; ++c) {
      float o[S];
      winograd_g<S>(g[c][l], g[3 + c][l], g[6 + c][l], o);
      for (int r = 0; r < S; ++r) t[r][c] = o[r];
    }
    for (int r = 0; r < S; ++r) {
      float o[S];
      winograd_g<S>(t[r][0], t[r][1], t[r][2], o);
      for (int c = 0; c < S; ++c) u[S * r + c][l] = o[c];
    }
  }
}

// U[xi = side r + c] = (G g G^T)[r][c] (side 4 for F(2x2, 3x3), 6 for F(4x4, 3x3); winograd_g)
// for the 3x3 filters g of output channel co and input channels [ci0, ci0 + n), written to
// U[xi * ldu + ci - ci0]. Sixteen input channels at a time, the arithmetic across them in vectors
// and each U[xi] stored as one run: one filter at a time (16 scalar stores into 16 matrices) was
// 12% of a 256 -> 256 layer's forward at 14x14, batch 16, one thread.
// from_forward: w is the forward convolution's (PreparedConv2d::FromForwardWeights), the filter of
// (co, ci) being w[ci, co] turned 180 degrees.
PYCNN_VECTOR_CLONES void winograd_filters(float* __restrict U, int64_t ldu,
                                          const float* __restrict w, int64_t co, int64_t ci0,
                                          int64_t n, int64_t C_in, int64_t C_out, bool from_forward,
                                          int side) {
  constexpr int L = 16;
  for (int64_t c0 = 0; c0 < n; c0 += L) {
    const int m = static_cast<int>(std::min<int64_t>(L, n - c0));
    float g[9][L] = {}, u[36][L];
    for (int l = 0; l < m; ++l) {
      const int64_t ci = ci0 + c0 + l;
      for (int k = 0; k < 9; ++k)
        g[k][l] = from_forward ? w[(ci * C_out + co) * 9 + 8 - k] : w[(co * C_in + ci) * 9 + k];
    }
    if (side == 4) winograd_filter_lanes<4>(g, u);
    else winograd_filter_lanes<6>(g, u);
    for (int xi = 0; xi < side * side; ++xi)
      std::memcpy(U + xi * ldu + c0, u[xi], static_cast<size_t>(m) * sizeof(float));
  }
}

// The channel-vector path: output channels along the vectors and output pixels broadcast, as
// row tiles of up to row_pixels pixels of one output row by nr channels (the tile kernel the other
// way round: pixels along its vectors, channels broadcast). Small images lose a third of the tile
// kernel's columns to their ragged last panel (49 pixels of 7x7 in 64 columns); a row tile reads
// its pixels straight from the input copy and wastes nothing past the last nr channels.
// Measured against the tile kernel (2 threads, batch 1): 1.5x on 512 channels at 7x7, 1.1-1.5x on
// 3x3 layers down to 14x14 and 28x28 and at stride 2, 1.5x on 1x1 stride-2 downsamples (read in
// place, every other pixel); slower where the channels fill few vectors (16 channels: half of each
// is padding) and on 1x1 stride-1 layers of large images (the tile kernel reads those in place, and
// its panels are full). The 3-channel stems (147 and 27 taps) are even, and stay where they were.
// Layers of at most one vector of channels (ResNet-20's 16) take panels of one vector, whose tiles
// hold twice the pixels, where they took the tile kernel's 12 + 4-row panels: 16 -> 16 3x3 at 32x32,
// batch 1, 2 threads (AMD EPYC VM, 2026-12-06), 36-37 -> 31-33 us; ResNet-20 at batch 1, two plans
// alternating in one process, 4% less time.
// 1x1 stride-1 layers of larger images take row tiles only with few output channels: packing a
// pixel panel then costs as much as the few weight panels that share it (as for the wide path).
// Measured (2 threads, AMD VM, step times inside the plan, 2026-12-07): one vector of outputs
// 32 -> 16 at 112x112 119 -> 88 us, 96 -> 16 at 56x56 91 -> 58 (batch 8: 761 -> 488), 64 -> 16 at
// 28x28 23 -> 14; at most 64 outputs from more inputs where the batch's input is at most 1 MB:
// 144 -> 32 at 28x28 55 -> 38, 192 -> 64 109 -> 93, 64 -> 64 at 56x56 167 -> 158; past 1 MB the
// packed path stays (256 -> 64 at 56x56, batch 8: 6.6 against 7.3 ms), and so do expansions
// (16 -> 96 at 112x112: 268 against 356 us).
// In channel blocks (blocks: the plan keeps this layer's input or output so; the constructor's
// layouts) the row tiles take more: the 1x1 stride-1 layers of large images, the stems (any
// channel count with at least 16 taps: 3x3 on 3 channels has 27), and any output count that wastes
// less than a vector (24 channels: their blocks hold 32 anyway). There they store no transpose, and
// the layers beside them (MobileNet's depthwise layers, which then take the channel-vector path
// whatever their size) read and write blocks too, as onnxruntime's NCHWc convolutions do.
// MobileNetV2 at batch 1, 1 thread, its layers from 1x1 expansions to depthwise 3x3 at 112x112
// and 56x56 in blocks: 16 -> 96 at 112x112 672 -> 673 us (with a buffer of one row, see
// forward_row_tiles), the 3 -> 32 stride-2 stem 484 -> 412, depthwise 32 at 112x112 298 -> 279,
// 96 at stride 2 418 -> 279, 144 at 56x56 250 -> 191, projections 32 -> 16 267 -> 154, 96 -> 24
// 257 -> 197; the whole network's steps 8.53 -> 8.13 ms.
// Returns the channels of a panel (nr, or vw for the narrow panels), 0 where the path does not fit;
// a last panel holding at most vw channels is packed and multiplied as one vector.
int64_t row_tile_channels(const Conv2dShape& s, int64_t nr, int64_t vw, bool blocks) {
  const int64_t c = s.C_out <= vw ? vw : nr, rem = s.C_out % c;
  // The channels computed: whole panels, the last one a single vector where that holds the rest
  // (the NCHW rule counts it whole, as it was measured).
  const int64_t padded = s.C_out - rem + (rem == 0 ? 0 : rem <= vw ? vw : c);
  const int64_t whole = (s.C_out + c - 1) / c * c;
  const bool pointwise = s.KH * s.KW == 1 && s.stride_h == 1 && s.stride_w == 1;
  const int64_t P = s.out_h() * s.out_w();
  const bool few_outputs = s.C_out <= vw || (s.C_out <= 64 && s.C_in >= s.C_out &&
                                             s.N * s.C_in * P <= (int64_t(1) << 18));
  const bool fits = s.groups == 1 && s.stride_w <= 2 &&
                    (blocks ? padded - s.C_out < vw && s.col_rows() >= 16
                            : s.C_in >= 16 && 4 * whole <= 5 * s.C_out) &&
                    (!pointwise || P <= 256 || few_outputs || blocks);
  return fits ? c : 0;
}

// The wide path (see the file comment): stride 1, one group, one or two weight panels (so a packed
// panel would be shared by few products), rows that packing would cut into several runs (OW not a
// multiple of nr), at most a third of the computed columns thrown away, and a real window (1x1
// layers without padding are read in place by the packed path; the wide one would copy them).
// Measured against packing (1 thread): LeNet's 1->6 5x5 on 28x28 1.9x at batch 256 (2.05 -> 1.06
// ms) and 1.5x at batch 1, its 6->16 5x5 on 14x14 1.3x, 32->8 3x3 on 14x14 2.1x, 16->16 3x3 on
// 28x28 1.45x; slower on 32x32 images (3->16: 16 against 12 us; whole panels pack fast, and the
// copy out costs what packing saved) and on 1x1 layers (96->24 on 56x56: 223 against 152 us).
bool use_wide(const Conv2dShape& s, int64_t mr, int64_t nr) {
  const int64_t wq = s.W + 2 * s.pad_w, ow = s.out_w();
  return s.groups == 1 && s.stride_h == 1 && s.stride_w == 1 && s.C_out <= 2 * mr && ow % nr != 0 &&
         3 * (wq - ow) <= wq && s.KH * s.KW > 1 && !is_depthwise(s);
}

// Depthwise convolutions of small images, and strided ones, take the channel-vector path: the
// per-channel kernel (depthwise_plane) spends more on each channel's set-up, phase copies and short
// rows than on its taps when a plane is a few hundred pixels. Measured against it (1 thread, batch
// 1, MobileNetV2's layers): 960 channels at 7x7 2.4x (112 -> 47 us), 576 at 14x14 1.5x and 5x at
// stride 2, 384 at 14x14 2.1x, 192 at 28x28 1.1x and 2.2x at stride 2, 96 at 112x112 stride 2 1.14x;
// slower on wide stride-1 planes (144 at 56x56 0.9x, 32 at 112x112 0.8x), which keep the other.
// In channel blocks (blocks) every depthwise layer takes it: no transposes then (see
// row_tile_channels for the measurements).
bool use_depthwise_vectors(const Conv2dShape& s, int64_t vw, bool blocks) {
  return is_depthwise(s) && (s.out_w() < 2 * vw || s.stride_w > 1 || blocks);
}

// y = gate(y) over n floats, split over the threads where n is large (the elementwise kernels).
void apply_gate(float* y, int64_t n, Conv2dGate gate) {
  if (gate == Conv2dGate::Silu) silu_forward(y, y, n);
  else if (gate == Conv2dGate::HardSwish) hardswish_forward(y, y, n);
}

// The same on the calling thread (in pieces under the elementwise kernels' parallel threshold, so a
// call from inside a parallel region never opens another).
void gate_in_place(float* y, int64_t n, Conv2dGate gate) {
  constexpr int64_t piece = int64_t(1) << 14;
  for (int64_t i = 0; i < n; i += piece) apply_gate(y + i, std::min(piece, n - i), gate);
}

// The wide path's input copy: padded, no phases, never in place (the panels read past the last
// pixel, into slack the copy provides).
InputLayout wide_layout(const Conv2dShape& s) {
  InputLayout l = input_layout(s, false);
  l.in_place = false;
  return l;
}

InputLayout layout_of(const Conv2dShape& s, int64_t winograd, bool row_tiles, bool wide) {
  if (winograd) return winograd_layout(s, winograd);
  if (wide) return wide_layout(s);
  return input_layout(s, !row_tiles);
}

// A panel of forward weights (PreparedConv2d::FromForwardWeights) for K slice [k0, k0 + kc):
// dst[(k - k0) * width + i] = w_fwd[c, o0 + i, t] for k = c * taps + t, rows <= width rows of output
// channels (C_out of them in all), zero past them. For each tap, the panel's rows are `taps` floats
// apart in w_fwd: the lines one c brings in serve all its taps.
void pack_forward_panel(float* __restrict dst, const float* __restrict w_fwd, int64_t C_out,
                        int64_t taps, int64_t o0, int rows, int64_t k0, int64_t kc, int64_t width) {
  for (int64_t k = k0; k < k0 + kc; ++k) {
    const float* src = w_fwd + ((k / taps) * C_out + o0) * taps + k % taps;
    float* d = dst + (k - k0) * width;
    for (int i = 0; i < rows; ++i) d[i] = src[i * taps];
    for (int64_t i = rows; i < width; ++i) d[i] = 0.0f;
  }
}

}  // namespace

PreparedConv2d::PreparedConv2d(const float* w, const float* b, const Conv2dShape& s,
                               const Conv2dLayouts& layouts)
    : s_(s) {
  prepare(w, b, false, layouts.any());
  if (layouts.any()) set_layouts(layouts);
}

PreparedConv2d::PreparedConv2d(const float* w_fwd, const Conv2dShape& s, FromForwardWeights)
    : s_(s) {
  prepare(w_fwd, nullptr, true, false);
}

void PreparedConv2d::prepare(const float* w, const float* b, bool from_forward, bool blocks) {
  s_.validate();
  from_forward_ = from_forward;
  set_image_floats();
  if (from_forward && (s_.groups != 1 || is_depthwise(s_)))
    value_error("PreparedConv2d: forward weights need one group and more than one channel, got ",
                s_.groups, " group(s) of ", s_.C_in, " channel(s)");
  winograd_ = pick_winograd_tile(s_);
  row_nr_ =
      winograd_ ? 0 : row_tile_channels(s_, conv_tile_kernel().nr, conv_tile_kernel().vw, blocks);
  row_tiles_ = row_nr_ > 0;
  wide_ = !winograd_ && !row_tiles_ && use_wide(s_, conv_tile_kernel().mr, conv_tile_kernel().nr);
  channel_vectors_ = use_depthwise_vectors(s_, conv_tile_kernel().vw, blocks);
  const InputLayout l = layout_of(s_, winograd_, row_tiles_, wide_);
  const int64_t K = s_.col_rows(), cout_g = s_.cout_per_group();
  tap_offset_ = tap_offsets(s_, l);
  if (row_tiles_) set_row_edges();
  bias_.assign(static_cast<size_t>(s_.C_out), 0.0f);
  if (b) std::copy(b, b + s_.C_out, bias_.begin());
  const int64_t taps = s_.KH * s_.KW;
  // Forward weights read as they lie: tap (c, t) of this convolution multiplies w_fwd[c, o, t], and
  // the input it reads is the one of tap (c, taps - 1 - t), the turn.
  if (from_forward && !winograd_)
    for (int64_t c = 0; c < s_.C_in; ++c)
      std::reverse(tap_offset_.begin() + c * taps, tap_offset_.begin() + (c + 1) * taps);
  if (channel_vectors_) {  // blocks of vw channels: [block][tap][vw], zero past C_out
    const int64_t vw = conv_tile_kernel().vw, blocks = (s_.C_out + vw - 1) / vw;
    packed_.resize(static_cast<size_t>(blocks * K * vw));  // pack_panel writes every float
    for (int64_t b = 0; b < blocks; ++b)
      conv_tile_kernel().pack_panel(packed_.data() + b * K * vw, w + b * vw * K, K,
                                    static_cast<int>(std::min(vw, s_.C_out - b * vw)), K,
                                    static_cast<int>(vw));
    return;
  }
  if (is_depthwise(s_)) {  // the taps of each channel, as they are
    packed_.assign(w, w + s_.C_out * K);
    return;
  }
  // Per group (or Winograd position xi), per K slice, per panel of MR output channels: element
  // (i, k) at k * MR + i, rows past C_out/g zero.
  const ConvTileKernel& kern = conv_tile_kernel();
  // Row tiles read panels of row_nr_ channels (element (k, j) at k * row_nr_ + j), the same layout.
  const int64_t mr = row_tiles_ ? row_nr_ : kern.mr;
  const int64_t panels = (cout_g + mr - 1) / mr;
  const int64_t points = winograd_points(winograd_);
  const int64_t matrices = winograd_ ? points : s_.groups, depth_k = winograd_ ? s_.C_in : K;
  const int64_t depth = slice_depth(depth_k);
  packed_.resize(
      static_cast<size_t>(matrices * panels * mr * depth_k));  // each float written below
  if (winograd_) {  // the input transform's taps of an (m + 2)^2 patch in the stride-m phases
    const int64_t m = winograd_, side = m + 2;
    const InputLayout wl = winograd_layout(s_, m);
    tap_offset_.clear();
    for (int64_t r = 0; r < side; ++r)
      for (int64_t c = 0; c < side; ++c)
        tap_offset_.push_back(((r % m) * m + c % m) * wl.Hq * wl.Wq + (r / m) * wl.Wq + c / m);
    pack_winograd_filters(w, from_forward, mr, panels, depth);
    return;
  }
  const int64_t slices = (depth_k + depth - 1) / depth;
  float* const packed = packed_.data();
  // Every (matrix, slice, panel) on its own, threads sharing them: a training step packs each
  // layer's weights on every forward call (512 -> 512 3x3 weights are 2.4 M floats, 2 ms alone).
#pragma omp parallel for collapse(3) \
    schedule(static) if (matrices * panels * mr * depth_k >= (1 << 18))
  for (int64_t g = 0; g < matrices; ++g)
    for (int64_t q = 0; q < slices; ++q)
      for (int64_t p = 0; p < panels; ++p) {
        const int64_t k0 = q * depth, kc = std::min(depth, depth_k - k0);
        float* dst = packed + (g * panels * depth_k + k0 * panels + p * kc) * mr;
        const int rows = static_cast<int>(std::min(mr, cout_g - p * mr));
        // A row-tile layer's last panel is one vector wide where that holds its channels.
        const int64_t width = row_tiles_ && rows <= kern.vw ? kern.vw : mr;
        if (from_forward) pack_forward_panel(dst, w, s_.C_out, taps, p * mr, rows, k0, kc, width);
        else
          kern.pack_panel(dst, w + (g * cout_g + p * mr) * depth_k + k0, depth_k, rows, kc,
                          static_cast<int>(width));
      }
}

// Winograd's 16 matrices U[xi][C_out, C_in] (winograd_filters), packed as prepare packs a group's
// weights. Each (K slice, panel of mr output channels) is transformed into a buffer of the thread's
// ([16][mr][kc], in L2) and packed from there: transforming every filter first and packing after
// wrote and read back 16/9 of the weights through memory (a training step prepares each Winograd
// layer on every forward and input-gradient call).
void PreparedConv2d::pack_winograd_filters(const float* w, bool from_forward, int64_t mr,
                                           int64_t panels, int64_t depth) {
  const Conv2dShape& s = s_;
  const ConvTileKernel& kern = conv_tile_kernel();
  const int64_t slices = (s.C_in + depth - 1) / depth;
  const int64_t points = winograd_points(winograd_);
  float* const packed = packed_.data();
  ParallelErrors errors;  // see forward_images
#pragma omp parallel if (points * s.C_out * s.C_in >= (1 << 18))
  {
    std::vector<float> u;
    errors.run([&] { u.resize(static_cast<size_t>(points * mr * depth)); });
#pragma omp for collapse(2) schedule(static)
    for (int64_t q = 0; q < slices; ++q)
      for (int64_t p = 0; p < panels; ++p) {
        if (u.empty()) continue;
        const int64_t k0 = q * depth, kc = std::min(depth, s.C_in - k0);
        const int rows = static_cast<int>(std::min(mr, s.C_out - p * mr));
        for (int i = 0; i < rows; ++i)
          winograd_filters(u.data() + i * kc, mr * kc, w, p * mr + i, k0, kc, s.C_in, s.C_out,
                           from_forward, static_cast<int>(winograd_ + 2));
        for (int64_t xi = 0; xi < points; ++xi)
          kern.pack_panel(packed + (xi * panels * s.C_in + k0 * panels + p * kc) * mr,
                          u.data() + xi * mr * kc, kc, rows, kc, static_cast<int>(mr));
      }
  }
  errors.rethrow();
}

void PreparedConv2d::forward(float* y, const float* x, const Conv2dEpilogue& e) const {
  const Conv2dShape& s = s_;
  if (s.N == 0) return;
  const ConvTileKernel& kern = conv_tile_kernel();
  const InputLayout l = layout_of(s, winograd_, row_tiles_, wide_);
  const int64_t OH = s.out_h(), OW = s.out_w(), P = OH * OW, K = s.col_rows();
  const int64_t cin_g = s.cin_per_group(), cout_g = s.cout_per_group();
  const int threads = omp_get_max_threads();
  // Waking the other threads costs more than a LeNet-sized convolution takes alone.
  const bool parallel = threads > 1 && s.N * s.C_out * P * K >= (int64_t(1) << 18);

  // The convolution of N images of the batch, x, y and residual pointing at the first.
  auto forward_images = [&](float* y, const float* x, const float* residual, int64_t N,
                            bool alone) {
    // alone: this thread runs the images by itself (forward hands whole chunks to the threads).
    const int team = alone ? 1 : threads;
    const bool parallel_here = !alone && parallel;
    static thread_local Scratch input_scratch;  // the calling thread's: callers never share it
    const float* xq = x;
    float* xq_built = nullptr;
    // A depthwise convolution copies each channel just before it reads it (below), while the copy
    // is still in L1/L2: copying all of them first sent a 4.8 MB copy of MobileNetV2's 96x112x112
    // activation through L3 and back.
    const bool depthwise = is_depthwise(s);
    if (!l.in_place && !depthwise)
      xq = xq_built = input_scratch.get(static_cast<size_t>(N * l.image));

    // The GEMM's columns: output pixels, or for Winograd 2x2 tiles, in rows of `row`. Winograd's
    // panels of tiles run on from one image into the next (image n's tiles after image n - 1's, one
    // column space for the chunk): a 7x7 image has 16 tiles, half a panel, and a panel of 16 ran
    // at about half the rate of a full one.
    const int64_t wm = winograd_, points = winograd_points(wm);
    const auto winograd_input = wm == 4 ? kern.winograd4_input : kern.winograd_input;
    const auto winograd_output = wm == 4 ? kern.winograd4_output : kern.winograd_output;
    const int64_t row = wm ? (OW + wm - 1) / wm : OW, columns = wm ? (OH + wm - 1) / wm * row : P;
    const int64_t depth_k = winograd_ ? s.C_in : K, depth = slice_depth(depth_k);
    // Tasks: (image, group, a run of column panels, a run of weight panels); Winograd's (a run of
    // panels of the chunk's tiles, a run of weight panels).
    const int64_t nr = kern.nr, mr = kern.mr;
    const int64_t all_columns = winograd_ ? N * columns : columns;
    const int64_t pixel_panels = (all_columns + nr - 1) / nr,
                  weight_panels = (cout_g + mr - 1) / mr;
    const int64_t want = parallel_here ? 4 * team : 1, images = winograd_ ? 1 : N * s.groups;
    int64_t pixel_run = pixel_run_for(pixel_panels, images, want);
    // One large image shared by the threads (ResNet's 7x7 stem at batch 1: 392 panels): `want`
    // equal runs, which go in a fixed order (for_tasks), so thread t computes the t-th band of rows
    // of every channel, and the max pool after it (which splits its rows the same way at batch 1)
    // reads what its own core wrote, from its own L2. ResNet-18's stem conv then pool, 2 threads,
    // caches filled with other data between images, min of 500 (2026-12-06, this and the copy's
    // row blocks below): conv 1013-1084 -> 894-918 us, pool 212-231 -> 130-136 us.
    if (!winograd_ && images < team && pixel_panels >= 8 * want)
      pixel_run = (pixel_panels + want - 1) / want;
    int64_t pixel_runs = (pixel_panels + pixel_run - 1) / pixel_run;
    // Winograd's tasks each transform their panels' input again (V), so its weights split only
    // until every thread has a task: ResNet-18's 128 -> 128 at 28x28 (F(4x4, 3x3), 49 tiles in 2
    // panels) took 4 runs of weight panels, each thread transforming its panel 4 times: 2 threads
    // 1.31x one thread's speed in a row of four such layers; in one run, 1.8x.
    const int64_t split_until = winograd_ ? std::min<int64_t>(want, team) : want;
    int64_t weight_runs = 1;
    while (weight_runs < weight_panels && images * pixel_runs * weight_runs < split_until)
      ++weight_runs;
    const int64_t weight_run = (weight_panels + weight_runs - 1) / weight_runs;
    weight_runs = (weight_panels + weight_run - 1) / weight_run;
    // Tasks in a fixed order (for_tasks) are dealt to the threads in equal counts: a count that is
    // a multiple of the threads, and runs of pixel panels that differ by one panel at most (run r is
    // panels [pixel_panels * r / pixel_runs, ...)). ResNet-18's 64-channel Winograd layers at batch
    // 1 (25 panels of tiles, 13 runs of 2) gave one thread 14 panels and the other 11 and a half.
    const bool in_order = images * pixel_runs * weight_runs <= kInOrderTasks * team;
    for (int64_t runs = pixel_runs; in_order && runs <= pixel_panels; ++runs)
      if (images * runs * weight_runs % team == 0) {
        pixel_runs = runs;
        break;
      }
    // Winograd in a fixed order deals its (tile panel, weight panel) products as one range a task,
    // tile panel by tile panel (units u = panel * weight_panels + weight panel): each thread then
    // multiplies as many panel pairs, and only the panel where two ranges meet has its input
    // transformed twice. ResNet-18's 64 -> 64 at 56x56 (196 tiles: 7 panels, the last of 4 tiles
    // but as costly to multiply) took 4 panels on one thread and 3 on the other.
    const bool unit_ranges = winograd_ && in_order && parallel_here;
    const int64_t tasks = unit_ranges ? team : images * pixel_runs * weight_runs;
    const int64_t units = pixel_panels * weight_panels;
    const int64_t matrix = weight_panels * mr * depth_k;  // packed floats per group or Winograd xi

    // A thread whose scratch cannot be had skips its share; the error is raised after the region
    // (an exception leaving an OpenMP region would terminate the process).
    ParallelErrors errors;
#pragma omp parallel if (parallel_here)
    {
      if (xq_built) build_images_shared(xq_built, x, N, s, l, kern, team);
      if (depthwise) {
        const int taps = static_cast<int>(K);
        std::vector<const float*> src;
        static thread_local Scratch channel_scratch;
        float* channel = nullptr;
        bool ready = false;
        errors.run([&] {
          src.resize(static_cast<size_t>(taps));
          if (!l.in_place) channel = channel_scratch.get(static_cast<size_t>(l.channel));
          ready = true;
        });
#pragma omp for schedule(static)
        for (int64_t nc = 0; nc < N * s.C_out; ++nc) {
          if (!ready) continue;
          const float* xq_c = xq + nc * l.channel;
          if (channel) {
            build_channel(channel, x + nc * s.H * s.W, s, l, kern);
            xq_c = channel;
          }
          const float* residual_c = residual ? residual + nc * P : nullptr;
          const int64_t c = nc % s.C_out;
          for (int t = 0; t < taps; ++t) src[t] = xq_c + tap_offset_[t];
          kern.depthwise_plane(y + nc * P, OH, OW, src.data(), l.Wq, packed_.data() + c * taps,
                               taps, bias_[c], residual_c, e.clamp_min, e.clamp_max);
        }
      } else {
        // Per thread: one packed input panel, or Winograd's V[16][C_in][nr] and M[16][channels][nr].
        static thread_local Scratch panel_scratch, product_scratch;
        float *panel = nullptr, *product = nullptr;
        std::vector<int64_t> seg;
        std::vector<WinogradPiece> pieces;
        bool ready = false;
        errors.run([&] {
          panel = panel_scratch.get(
              static_cast<size_t>(winograd_ ? points * apart(depth_k * nr) : depth_k * nr));
          if (winograd_) {
            product = product_scratch.get(static_cast<size_t>(
                points * apart((unit_ranges ? weight_panels : weight_run) * mr * nr)));
            pieces.resize(static_cast<size_t>(nr));
          }
          seg.resize(static_cast<size_t>(3 * nr));
          ready = true;
        });
        for_tasks(tasks, in_order, [&](int64_t t) {  // see kInOrderTasks
          if (!ready) return;
          const int64_t wr = t % weight_runs, pr = t / weight_runs % pixel_runs;
          const int64_t ng = t / (weight_runs * pixel_runs), n = ng / s.groups, g = ng % s.groups;
          const float* xq_g = xq + n * l.image + g * cin_g * l.channel;
          const int64_t out0 = (n * s.C_out + g * cout_g) * P;  // this image's and group's y
          const int64_t p_begin = pixel_panels * pr / pixel_runs,
                        p_end = pixel_panels * (pr + 1) / pixel_runs;
          const int64_t w_begin = wr * weight_run,
                        w_end = std::min(weight_panels, w_begin + weight_run);
          if (winograd_) {  // per tile panel: input transform, 16 products, output transform
            // The task's tile panels, and each one's weight panels [wb, we): a rectangle, or the
            // units [u0, u1) of a unit range.
            const int64_t u0 = units * t / tasks, u1 = units * (t + 1) / tasks;
            const int64_t pp0 = unit_ranges ? u0 / weight_panels : p_begin;
            const int64_t pp1 = unit_ranges ? (u1 + weight_panels - 1) / weight_panels : p_end;
            const int64_t ldv = apart(depth_k * nr);
            for (int64_t pp = pp0; pp < pp1; ++pp) {
              int64_t wb = w_begin, we = w_end;
              if (unit_ranges) {
                wb = std::max<int64_t>(0, u0 - pp * weight_panels);
                we = std::min(weight_panels, u1 - pp * weight_panels);
              }
              if (wb >= we) continue;  // an empty range (more tasks than units)
              const int64_t co0 = wb * mr, rows = std::min(cout_g, we * mr) - co0;
              const int64_t ldm = apart(rows * nr);
              const int64_t q0 = pp * nr, cols = std::min(nr, all_columns - q0);
              const int npieces =
                  winograd_pieces(pieces.data(), seg.data(), q0, cols, columns, row, l.Wq);
              // Each image's runs from its own input copy; the last call zeroes the columns past
              // the panel's tiles.
              for (int i = 0; i < npieces; ++i) {
                const WinogradPiece& c = pieces[i];
                winograd_input(panel, ldv, xq + c.image * l.image, tap_offset_.data(), l.channel,
                               s.C_in, seg.data() + 3 * c.first, c.runs,
                               static_cast<int>(i + 1 == npieces ? cols : nr));
              }
              for (int64_t xi = 0; xi < points; ++xi)
                for (int64_t k0 = 0; k0 < depth_k; k0 += depth) {
                  const int64_t kc = std::min(depth, depth_k - k0);
                  const float* slice = packed_.data() + xi * matrix + k0 * weight_panels * mr;
                  for (int64_t wp = wb; wp < we; ++wp)
                    kern.tile(kc, slice + wp * kc * mr, panel + xi * ldv + k0 * nr,
                              product + xi * ldm + (wp * mr - co0) * nr, nr,
                              static_cast<int>(std::min(mr, cout_g - wp * mr)),
                              static_cast<int>(cols), k0 == 0 ? kTileFirst : 0, nullptr, nullptr,
                              0.0f, 0.0f);
                }
              for (int i = 0; i < npieces; ++i) {
                const WinogradPiece& c = pieces[i];
                const int64_t at = (c.image * s.C_out + co0) * P;
                winograd_output(y + at, OH, OW, l.Wq, product, ldm, rows, seg.data() + 3 * c.first,
                                c.runs, bias_.data() + co0, residual ? residual + at : nullptr,
                                e.clamp_min, e.clamp_max);
              }
            }
            return;
          }
          const float* packed_g = packed_.data() + g * matrix;
          for (int64_t k0 = 0; k0 < K; k0 += depth) {
            const int64_t kc = std::min(depth, K - k0);
            const int mode = (k0 == 0 ? kTileFirst : 0) | (k0 + kc == K ? kTileLast : 0);
            const float* slice = packed_g + k0 * weight_panels * mr;
            for (int64_t pp = p_begin; pp < p_end; ++pp) {
              const int64_t q0 = pp * nr, cols = std::min(nr, P - q0);
              const int nseg = panel_runs(seg.data(), q0, cols, OW, l.Wq);
              kern.pack(panel, xq_g, tap_offset_.data() + k0, kc, seg.data(), nseg,
                        static_cast<int>(cols));
              for (int64_t wp = w_begin; wp < w_end; ++wp) {
                const int64_t co = wp * mr, at = out0 + co * P + q0;
                kern.tile(kc, slice + wp * kc * mr, panel, y + at, P,
                          static_cast<int>(std::min(mr, cout_g - co)), static_cast<int>(cols), mode,
                          bias_.data() + g * cout_g + co, residual ? residual + at : nullptr,
                          e.clamp_min, e.clamp_max);
              }
            }
          }
        });
      }
    }
    errors.rethrow();
  };
  // Images go through in chunks whose input copies fit in about 1 MB, so the copy is still in L2
  // when the product reads it (ResNet-18 batch 16, 1 thread: 64 ch 56x56 46 -> 29 ms with 8 MB
  // chunks, -> 25 ms with 1 MB; copying the whole batch first went through DRAM), and a batch of
  // VGG images at 224x224 does not hold a 200 MB copy in the calling thread's scratch for good.
  // Winograd reads its copy once, panel by panel, and its panels run across the images of a chunk:
  // chunks of up to 4 MB, of whole panels where they can be (AlexNet's 384 -> 256 at 13x13, batch
  // 16, 2 threads beside a busy process: 1 MB chunks of 2 images, 98 tiles in 4 panels, 34.5 ms; 4
  // MB chunks of 10 images, 490 tiles in 16 panels, 31.8 ms; 16 MB the same; ResNet-18's 64 at
  // 56x56 and 128 at 28x28 the same either way).
  const int64_t copy_floats = int64_t(1) << (winograd_ ? 20 : 18);
  int64_t chunk =
      l.in_place || layouts_.input.on() ? s.N : std::clamp<int64_t>(copy_floats / l.image, 1, s.N);
  if (winograd_ && chunk < s.N) {
    const int64_t m = winograd_, tiles = ((s.out_h() + m - 1) / m) * ((s.out_w() + m - 1) / m);
    const int64_t whole = kern.nr / std::gcd(tiles, int64_t(kern.nr));  // whole panels' images
    if (chunk >= whole) chunk -= chunk % whole;
  }
  // Where a packed-path batch comes in enough chunks to go round the threads evenly (a batch of
  // stems: AlexNet's 11x11 stride-4 one copies 624 KB an image, a chunk of one), the chunks go to
  // the threads whole, each thread copying and computing its images alone: no barrier per image, and
  // no copy built by both cores and read by both. AlexNet's stem forward at batch 16, 2 threads,
  // with the stride-4 phase rows vectorised (phase_row) and copied row by row (build_phase_rows):
  // 0.94 of the time over six pairs of processes taking turns (14.0-17.3 against 14.9-17.1 ms).
  // The chunk of images from n0 on, by this layer's path (alone: see forward_images).
  auto run_chunk = [&](int64_t n0, bool alone) {
    const int64_t images = std::min(chunk, s.N - n0);
    float* y_n = y + n0 * images_.y;
    const float* x_n = x + n0 * images_.x;
    const float* residual_n = e.residual ? e.residual + n0 * images_.residual : nullptr;
    if (channel_vectors_) forward_depthwise_vectors(y_n, x_n, residual_n, images, e);
    else if (row_tiles_) forward_row_tiles(y_n, x_n, residual_n, images, e);
    else if (wide_) forward_wide(y_n, x_n, residual_n, images, e);
    else forward_images(y_n, x_n, residual_n, images, alone);
    // The gate over the chunk just stored (halos and lanes past C_out included: they stay 0); the
    // row tiles and the depthwise channel-vector path gate each row as they store it (store_rows).
    if (!row_tiles_ && !channel_vectors_) apply_gate(y_n, images * images_.y, e.gate);
  };
  const int64_t chunks = (s.N + chunk - 1) / chunk;
  if (packs_panels() && parallel && !omp_in_parallel() && deal_whole_chunks(chunks, threads)) {
    ParallelErrors errors;  // see forward_images
#pragma omp parallel
    {
#pragma omp for schedule(static)
      for (int64_t c = 0; c < chunks; ++c) errors.run([&] { run_chunk(c * chunk, true); });
    }
    errors.rethrow();
    return;
  }
  for (int64_t n0 = 0; n0 < s.N; n0 += chunk) run_chunk(n0, false);
}

bool PreparedConv2d::packs_panels() const { return packs_panels(s_); }

// At stride 1, the taps that read only the padding beside the image for a row's first pixel (bit
// 0) and its last (bit 1), per k of K (turned for forward weights, as forward_row_tiles' row
// windows): the first and the last tile of each row leave those products out
// (ConvTileKernel::row_tile's edge), for every row alike. row_edges_[kind * (K + 1) + k] for kind 0
// a row's first tile, 1 its last, 2 its only one, and at k = K whether that tile leaves anything
// out; empty where no tap reads beside the image. Set once with the weights: it depends on the
// shape alone. 1 thread, AMD EPYC VM, 2026-12-07: 512 -> 512 at 7x7, batch 16, 31.2 -> 28.4 ms
// (9.5% fewer products), batch 1 1.87 -> 1.75 ms; 256 -> 256 at 14x14, batch 1, 1.95 -> 1.87 ms;
// 64 -> 64 at 8x8, batch 128, 5.35 -> 5.2 ms (at batch 1 the same 42 us: its 8-pixel tiles gain
// nothing). Taking each kernel column's taps in a loop of their own (edge[k] repeats every KW
// taps), instead of choosing per k, was no faster.
void PreparedConv2d::set_row_edges() {
  const Conv2dShape& s = s_;
  row_edges_.clear();
  if (s.stride_w != 1) return;
  const int64_t K = s.col_rows(), OW = s.out_w();
  std::vector<unsigned char> beside(static_cast<size_t>(s.KW));  // per kernel column it reads
  unsigned char any = 0;
  for (int64_t kw = 0; kw < s.KW; ++kw) {
    const int64_t first_col = kw * s.dil_w - s.pad_w, last_col = first_col + OW - 1;
    beside[kw] = static_cast<unsigned char>((first_col < 0 || first_col >= s.W ? 1 : 0) |
                                            (last_col < 0 || last_col >= s.W ? 2 : 0));
    any |= beside[kw];
  }
  if (!any) return;
  row_edges_.resize(static_cast<size_t>(3 * (K + 1)));
  unsigned char* const first = row_edges_.data();
  unsigned char* const last = first + (K + 1);
  unsigned char* const only = last + (K + 1);
  int64_t k = 0;
  for (int64_t c = 0; c < s.cin_per_group(); ++c)  // the taps (c, kh, kw) in K's order
    for (int64_t kh = 0; kh < s.KH; ++kh)
      for (int64_t kw = 0; kw < s.KW; ++kw, ++k) {
        const unsigned char bits = beside[from_forward_ ? s.KW - 1 - kw : kw];
        first[k] = bits & 1, last[k] = bits & 2, only[k] = bits;
      }
  first[K] = any & 1, last[K] = any & 2, only[K] = any;
}

void PreparedConv2d::set_image_floats() {
  const Conv2dShape& s = s_;
  images_ = {value_floats(1, s.C_in, s.H, s.W, layouts_.input),
             value_floats(1, s.C_out, s.out_h(), s.out_w(), layouts_.output),
             value_floats(1, s.C_out, s.out_h(), s.out_w(), layouts_.residual)};
}

bool PreparedConv2d::winograd(const Conv2dShape& s) { return use_winograd(s); }

int64_t PreparedConv2d::winograd_tile(const Conv2dShape& s) { return pick_winograd_tile(s); }

bool PreparedConv2d::row_tiles(const Conv2dShape& s) {
  const ConvTileKernel& kern = conv_tile_kernel();
  return !use_winograd(s) && row_tile_channels(s, kern.nr, kern.vw, false) > 0;
}

bool PreparedConv2d::takes_channel_blocks(const Conv2dShape& s) {
  // The depthwise path reads up to depthwise_slack floats past a block: within kBlockSlack vectors.
  const ConvTileKernel& kern = conv_tile_kernel();
  const int64_t vw = kern.vw;
  return (!use_winograd(s) && row_tile_channels(s, kern.nr, vw, true) > 0) ||
         (use_depthwise_vectors(s, vw, true) && depthwise_slack(s, vw) <= kBlockSlack * vw);
}

void PreparedConv2d::set_layouts(const Conv2dLayouts& layouts) {
  const Conv2dShape& s = s_;
  for (const ChannelBlocks* b : {&layouts.input, &layouts.output, &layouts.residual})
    check_halos(*b, "PreparedConv2d");
  if (layouts.any() && !takes_channel_blocks(s))
    value_error(
        "PreparedConv2d: channel blocks need a convolution on the row-tile or the "
        "depthwise channel-vector path (conv2d_takes_channel_blocks), got one of ",
        s.C_in, " -> ", s.C_out, " channels, ", s.KH, "x", s.KW, " stride ", s.stride_w, " on ",
        s.H, "x", s.W, " in ", s.groups, " group(s)");
  const ChannelBlocks& in = layouts.input;
  if (in.on() && (in.halo_h < s.pad_h || in.halo_w < s.pad_w))
    value_error("PreparedConv2d: the input's halo (", in.halo_h, ", ", in.halo_w,
                ") must cover the padding (", s.pad_h, ", ", s.pad_w, ")");
  if (from_forward_ && layouts.any())
    value_error(
        "PreparedConv2d: channel blocks are for the inference plan's convolutions, "
        "not one built from forward weights");
  layouts_ = layouts;
  set_image_floats();
  // The depthwise path reads its input's block as its padded plane (no tap table).
  if (channel_vectors_ || !in.on()) return;
  // Tap (c, kh, kw) of output pixel (0, 0) reads image pixel (kh * dil_h - pad_h, kw * dil_w -
  // pad_w), lane c % vw of block c / vw.
  const int64_t vw = channel_block_width();
  tap_offset_.clear();
  for (int64_t c = 0; c < s.C_in; ++c)
    for (int64_t kh = 0; kh < s.KH; ++kh)
      for (int64_t kw = 0; kw < s.KW; ++kw)
        tap_offset_.push_back(block_at(in, s.C_in, s.H, s.W, 0, c / vw, kh * s.dil_h - s.pad_h,
                                       kw * s.dil_w - s.pad_w) +
                              c % vw);
}

bool PreparedConv2d::packs_panels(const Conv2dShape& s) {
  const ConvTileKernel& kern = conv_tile_kernel();
  return !use_winograd(s) && row_tile_channels(s, kern.nr, kern.vw, false) == 0 &&
         !use_wide(s, kern.mr, kern.nr) && !is_depthwise(s);
}

// The convolution then max pool p, band by band (the plan's step for a stem: ResNet's 7x7 stride-2
// convolution, whose 64 x 112 x 112 output per image is 3.2 MB, and its 3x3 stride-2 pool). A task is
// a band of pool output rows of one image: the convolution's rows it reads are computed, every
// channel, into the thread's band buffer (at most 64 K floats, in L2) by the packed path's loops, and
// pooled from there into y; the rows shared with the band before (a 3x3 stride-2 window's first row
// is the last row of the window above) are carried over when the same thread computed that band.
// The threads take runs of consecutive bands, so a thread recomputes at most one shared row a run.
void PreparedConv2d::forward_max_pool(float* y, const float* x, const Conv2dEpilogue& e,
                                      const MaxPoolBands& pool) const {
  const Conv2dShape& s = s_;
  const Pool2dShape& p = pool.shape();
  const int64_t OH = s.out_h(), OW = s.out_w(), P = OH * OW, K = s.col_rows();
  if (!packs_panels() || e.residual || e.gate != Conv2dGate::None || p.N != s.N || p.C != s.C_out ||
      p.H != OH || p.W != OW)
    value_error(
        "PreparedConv2d.forward_max_pool: expected a convolution on the packed path without a "
        "residual or gate and a pool of its output [",
        s.N, ", ", s.C_out, ", ", OH, ", ", OW, "], got a pool of [", p.N, ", ", p.C, ", ", p.H,
        ", ", p.W, "]");
  if (s.N == 0) return;
  const ConvTileKernel& kern = conv_tile_kernel();
  const InputLayout l = input_layout(s, true);
  const int64_t PH = p.out_h(), PW = p.out_w();
  const int64_t cin_g = s.cin_per_group(), cout_g = s.cout_per_group();
  const int64_t nr = kern.nr, mr = kern.mr, depth = slice_depth(K);
  const int64_t weight_panels = (cout_g + mr - 1) / mr, matrix = weight_panels * mr * K;
  // Pool rows a band: as many as keep the band's convolution rows within 64 K floats (256 KB: the
  // band, the input copy and the weights share a core's L2), fewer where the threads would
  // otherwise get no band of a single image.
  const int threads = omp_get_max_threads();
  const bool parallel = threads > 1 && s.N * s.C_out * P * K >= (int64_t(1) << 18);
  auto band_rows = [&](int64_t b) {  // the most convolution rows a band of b pool rows reads
    int64_t most = 0;
    for (int64_t ph = 0; ph < PH; ph += b) {
      int64_t first, last;
      pool.input_rows(ph, std::min(PH, ph + b), first, last);
      most = std::max(most, last - first);
    }
    return most;
  };
  int64_t band = PH;
  while (band > 1 && s.C_out * band_rows(band) * OW > (int64_t(1) << 16)) band = (band + 1) / 2;
  while (parallel && band > 1 && s.N * ((PH + band - 1) / band) < 2 * threads)
    band = (band + 1) / 2;
  const int64_t bands = (PH + band - 1) / band, rows_max = band_rows(band);
  const int64_t ldb = rows_max * OW;  // floats a channel in the band buffer
  // A thread's band state: its packed panel, band buffer and runs, and the rows the buffer holds
  // ([held_lo, held_hi) of image held_n).
  struct Bands {
    float* panel = nullptr;
    float* buffer = nullptr;
    std::vector<int64_t> seg;
    int64_t held_n = -1, held_lo = 0, held_hi = 0;
  };
  static thread_local Scratch panel_scratch, band_scratch;
  auto ready = [&](Bands& st) {
    st.panel = panel_scratch.get(static_cast<size_t>(depth * nr));
    st.buffer = band_scratch.get(static_cast<size_t>(s.C_out * ldb));
    st.seg.resize(static_cast<size_t>(3 * nr));
  };
  // Band b of image n (of the batch), whose input copy is xq_n: its convolution rows into the
  // buffer (row r at (r - lo) * OW; the rows shared with the band before kept when this thread
  // computed that band), then pooled into y.
  auto band_task = [&](Bands& st, const float* xq_n, int64_t n, int64_t b) {
    const int64_t ph0 = b * band, ph1 = std::min(PH, ph0 + band);
    int64_t lo, hi;
    pool.input_rows(ph0, ph1, lo, hi);
    int64_t from = lo;  // the first row to compute
    float* const buffer = st.buffer;
    if (st.held_n == n && st.held_lo <= lo && lo < st.held_hi && st.held_hi <= hi) {
      const int64_t keep = st.held_hi - lo;  // rows shared with the band before: moved to the top
      for (int64_t c = 0; c < s.C_out; ++c)
        std::memmove(buffer + c * ldb, buffer + c * ldb + (lo - st.held_lo) * OW,
                     static_cast<size_t>(keep * OW) * sizeof(float));
      from = st.held_hi;
    }
    for (int64_t g = 0; g < s.groups; ++g) {  // the packed path's loops over this band's pixels
      const float* xq_g = xq_n + g * cin_g * l.channel;
      const float* packed_g = packed_.data() + g * matrix;
      const int64_t q_begin = from * OW, q_end = hi * OW;
      for (int64_t k0 = 0; k0 < K; k0 += depth) {
        const int64_t kc = std::min(depth, K - k0);
        const int mode = (k0 == 0 ? kTileFirst : 0) | (k0 + kc == K ? kTileLast : 0);
        const float* slice = packed_g + k0 * weight_panels * mr;
        for (int64_t q0 = q_begin; q0 < q_end; q0 += nr) {
          const int64_t cols = std::min(nr, q_end - q0);
          const int nseg = panel_runs(st.seg.data(), q0, cols, OW, l.Wq);
          kern.pack(st.panel, xq_g, tap_offset_.data() + k0, kc, st.seg.data(), nseg,
                    static_cast<int>(cols));
          for (int64_t wp = 0; wp < weight_panels; ++wp) {
            const int64_t co = g * cout_g + wp * mr;
            kern.tile(kc, slice + wp * kc * mr, st.panel, buffer + co * ldb + q0 - lo * OW, ldb,
                      static_cast<int>(std::min(mr, cout_g - wp * mr)), static_cast<int>(cols),
                      mode, bias_.data() + co, nullptr, e.clamp_min, e.clamp_max);
          }
        }
      }
    }
    st.held_n = n, st.held_lo = lo, st.held_hi = hi;
    pool.run(y + (n * s.C_out * PH + ph0) * PW, PH * PW, buffer, ldb, lo, hi - lo, s.C_out, ph0,
             ph1);
  };
  // Images in chunks whose input copies fit in about 1 MB (as forward's); where they go round the
  // threads evenly (or 8 times over), each thread takes whole chunks, copies them into its own
  // scratch and runs all their bands alone (as forward does): ResNet-18 at batch 16 has 16 chunks
  // of one image, which otherwise took a copy built by both threads and a barrier each.
  const int64_t chunk =
      l.in_place ? s.N : std::clamp<int64_t>((int64_t(1) << 18) / l.image, 1, s.N);
  const int64_t chunks = (s.N + chunk - 1) / chunk;
  static thread_local Scratch input_scratch;
  ParallelErrors errors;  // see forward_images
  if (parallel && deal_whole_chunks(chunks, threads)) {
#pragma omp parallel
    {
      Bands st;
      errors.run([&] { ready(st); });
#pragma omp for schedule(static)
      for (int64_t c = 0; c < chunks; ++c)
        errors.run([&] {
          if (!st.buffer) return;
          const int64_t n0 = c * chunk, images = std::min(chunk, s.N - n0);
          const float* x_n = x + n0 * s.C_in * s.H * s.W;
          const float* xq = x_n;
          if (!l.in_place) {
            float* own = input_scratch.get(static_cast<size_t>(images * l.image));
            for (int64_t nc = 0; nc < images * s.C_in; ++nc)
              build_channel(own + nc * l.channel, x_n + nc * s.H * s.W, s, l, kern);
            xq = own;
          }
          for (int64_t n = 0; n < images; ++n)
            for (int64_t b = 0; b < bands; ++b) band_task(st, xq + n * l.image, n0 + n, b);
        });
    }
    errors.rethrow();
    return;
  }
  for (int64_t n0 = 0; n0 < s.N; n0 += chunk) {
    const int64_t images = std::min(chunk, s.N - n0);
    const float* x_n = x + n0 * s.C_in * s.H * s.W;
    const float* xq = x_n;
    float* xq_built = nullptr;
    if (!l.in_place)
      errors.run([&] { xq = xq_built = input_scratch.get(static_cast<size_t>(images * l.image)); });
    if (errors.failed()) break;
#pragma omp parallel if (parallel)
    {
      if (xq_built) build_images_shared(xq_built, x_n, images, s, l, kern, threads);
      Bands st;
      errors.run([&] { ready(st); });
      // Runs of consecutive bands, in order: thread t takes the t-th share.
#pragma omp for schedule(static)
      for (int64_t task = 0; task < images * bands; ++task)
        if (st.buffer)
          errors.run(
              [&] { band_task(st, xq + task / bands * l.image, n0 + task / bands, task % bands); });
    }
    errors.rethrow();
  }
  errors.rethrow();
}

// The channel-vector path (row_tile_channels) for N images of the batch, x, y and residual pointing at
// the first: each image's y[C_out, OH, OW] by row tiles of pixels x nr channels, accumulated over
// the K slices in a per-task buffer t[pixel][channel] that the epilogue turns back into NCHW, or
// stores as it is into channel blocks (layouts_.output; the halo beside each row zeroed too); with
// one K slice and the output in blocks, the tiles store their sums there themselves. Tasks
// (image, run of channel panels, run of output rows): the threads split the channels first where
// the weights outweigh the image (each streams its own share of them once), the rows otherwise.
// Loops per task: K slices > channel panels (a 256 x nr slice, 32 KB, stays in L1) > rows > tiles.
void PreparedConv2d::forward_row_tiles(float* y, const float* x, const float* residual, int64_t N,
                                       const Conv2dEpilogue& e) const {
  const Conv2dShape& s = s_;
  const ConvTileKernel& kern = conv_tile_kernel();
  const InputLayout l = input_layout(s, false);
  const int64_t OH = s.out_h(), OW = s.out_w(), P = OH * OW, K = s.col_rows();
  const int64_t nr = row_nr_, panels = (s.C_out + nr - 1) / nr, depth = slice_depth(K);
  const int vectors = static_cast<int>(nr / kern.vw);
  const int64_t row_pixels = kern.row_pixels * kern.nr / nr;  // one vector: twice the pixels
  const int threads = omp_get_max_threads();
  const bool parallel = threads > 1 && N * s.C_out * P * K >= (int64_t(1) << 18);
  const int64_t want = parallel ? 4 * threads : 1;
  // The output rows of all N images, one after another, are split into runs: a run may span images,
  // so a batch of 7x7 images shares each slice of the weights.
  const int64_t R = N * OH;
  // The input: the padded copy below, or x itself in place (no padding, or channel blocks, whose
  // halo is the padding: ChannelBlocks). x_image, x_row: floats an image and a padded row of what
  // the tiles read; unit: floats a pixel.
  const ChannelBlocks& in_blocks = layouts_.input;
  const int64_t vw = kern.vw, unit = in_blocks.on() ? vw : 1;
  const bool copied = !l.in_place && !in_blocks.on();
  const int64_t x_image = in_blocks.on() ? images_.x : l.image;
  const int64_t x_row = in_blocks.on() ? (s.W + 2 * in_blocks.halo_w) * vw : l.Wq;
  // Every run of rows streams the weights of its channels once, every run of channels reads the
  // whole input copy once. Where the weights are more than the image (batch 1) each thread takes its
  // share of the channels; otherwise the split that streams least for the tasks wanted. 512 -> 512
  // at 7x7, batch 16 (9.4 MB of weights, 2.7 MB of input) split by rows only streamed the weights 8
  // times over at 2 threads. Weights of at most 512 KB stay in each core's L2 from one run of rows
  // to the next, so they are split by rows only, each thread reading its own rows of the input once:
  // split by channels too, each thread read the whole copy, and with it more than a core's L2
  // (64 -> 128 3x3 stride 2 at 56x56, batch 1, 2 threads: 295 KB of weights, an 861 KB copy) took
  // 0.74 ms in one process in two and 0.56 in the other, as the pages fell in the cache; by rows
  // 0.54 in every one.
  int64_t channel_runs = 1;
  const double weights = double(K) * double(panels * nr), input = double(N) * double(x_image);
  if (s.C_out > N * P) {
    while (channel_runs < panels && channel_runs < want) ++channel_runs;
  } else if (weights > double(kWeightsInL2)) {
    double least = 0.0;
    for (int64_t c = 1; c <= std::min(panels, want); ++c) {
      const double streamed = double((want + c - 1) / c) * weights + double(c) * input;
      if (c == 1 || streamed < least) least = streamed, channel_runs = c;
    }
  }
  // Run cr is panels [panels * cr / channel_runs, panels * (cr + 1) / channel_runs): lengths that
  // differ by one at most, so the threads' shares (whole runs, in order) do too. Runs of one length
  // gave EfficientNet's 192 -> 1152 at 7x7 (36 panels, 8 runs) 5 + 5 + 5 + 5 panels to one thread
  // and 5 + 5 + 5 + 1 to the other. channel_run: the longest.
  const int64_t channel_run = (panels + channel_runs - 1) / channel_runs;
  // The taps each output row multiplies: a row whose window reaches above or below the image skips
  // the taps of the kernel rows that read padding there (their products are zero), the first and
  // last rows of a 7x7 image with a 3x3 window a third of them. window[oh] = {lo, hi}: the taps
  // [lo, hi) of each channel's period (row-major (kh, kw); turned for forward weights, whose tap t
  // reads the input of taps - 1 - t). A window with no tap inside the image (padding past the
  // kernel) keeps every tap: its sums are zeros either way.
  const int taps = static_cast<int>(s.KH * s.KW);
  std::vector<std::pair<int, int>> window(static_cast<size_t>(OH), {0, taps});
  for (int64_t oh = 0; oh < OH; ++oh) {
    const int64_t top = oh * s.stride_h - s.pad_h;  // the input row kernel row 0 reads
    const int64_t a = top >= 0 ? 0 : (-top + s.dil_h - 1) / s.dil_h;
    const int64_t b = top > s.H - 1 ? 0 : std::min(s.KH, (s.H - 1 - top) / s.dil_h + 1);
    if (a < b)
      window[oh] = from_forward_ ? std::pair<int, int>(taps - b * s.KW, taps - a * s.KW)
                                 : std::pair<int, int>(a * s.KW, b * s.KW);
  }
  // Each row's window as a class number (rows of one class pair up), and the classes' count.
  std::vector<int> window_class(static_cast<size_t>(OH));
  int classes = 0;
  for (int64_t oh = 0; oh < OH; ++oh) {
    int64_t same = 0;
    while (window[same] != window[oh]) ++same;
    window_class[oh] = same == oh ? classes++ : window_class[same];
  }
  // Rows of at most half a tile go two at a time (one tile: OW pixels each), a pair two rows of the
  // same window, nearest first: a task's rows in order, each paired with the last unpaired one of its
  // window (the interior rows of a 7x7 image 1 + 2, 3 + 4, 5 + the next image's 1; its first row
  // with the next image's first). A lone row runs one row of the tile: 512 -> 512 at 7x7, batch 16,
  // 1 thread, ran 4.5% faster with its first and last rows alone and the rest paired in order, and
  // 9% faster paired by window. The pairs go in the order of their second rows.
  const bool pair_rows = 2 * OW <= row_pixels;
  // Rows per task: enough tasks, and a buffer of at most 256 K floats (1 MB: on one thread, 512 ->
  // 512 at 7x7 batch 16 then streams its weights twice instead of 7 times, 56-61 -> 49 ms). Where
  // the weights are one slice and stay in L2 anyway, 16 K floats (about one row): long runs saved
  // nothing there, and the buffer went to memory and back between the tiles and the epilogue (16 ->
  // 96 at 112x112, 1 thread, in blocks: 565 -> 535 us).
  const bool one_slice = K <= depth && weights <= double(kWeightsInL2);
  // Sums that are final in their one K slice go straight from the tiles' registers into an output
  // in channel blocks with the epilogue (RowTileEpilogue), not through the buffer t and store_rows'
  // copy: a 1x1 expansion of few input channels spends as long on that copy as on its products.
  const ChannelBlocks &out_blocks = layouts_.output, &res_blocks = layouts_.residual;
  const bool direct = out_blocks.on() && K <= depth && (!residual || res_blocks.on());
  const int64_t ybs = block_floats(out_blocks, OH, OW), rbs = block_floats(res_blocks, OH, OW);
  // The tiles storing their sums themselves (direct) use no buffer: as long runs as give the tasks
  // wanted, which the threads then take in a fixed order (for_tasks): thread t computes the same
  // band of rows of every block on every call, the band the next layer's thread t reads (those
  // split their rows alike). Runs of one row (the 16 K-float buffer's, 24 -> 144 at 56x56) made 56
  // tasks, past kInOrderTasks a thread, taken first come, first served: the two cores' rows
  // interleaved differently on each call, and each read its input from, and wrote its output over,
  // lines the other core held (Intel Xeon, 2 threads, 2026-12-07: that layer 150 -> 102 us, one
  // thread 190 us either way).
  const int64_t buffer = one_slice ? (int64_t(1) << 14) : (int64_t(1) << 18);
  int64_t row_run =
      direct ? R : std::max<int64_t>(1, std::min(R, buffer / (OW * channel_run * nr)));
  while (row_run > 1 && channel_runs * ((R + row_run - 1) / row_run) < want)
    row_run = (row_run + 1) / 2;
  if (pair_rows && row_run % 2 == 1 && row_run < R) ++row_run;  // runs of whole pairs
  const int64_t row_runs = (R + row_run - 1) / row_run, tasks = channel_runs * row_runs;
  // Each output row in near-equal tiles of at most row_pixels: 28 as 14 + 14, 32 as 11 + 11 + 10.
  const int64_t row_tiles = (OW + row_pixels - 1) / row_pixels;

  // The padded copy of the input. Where the tasks split the rows only, each thread pads the input
  // rows its own tasks read, into a copy of its own, just before it reads them: copied by channel
  // beforehand, each thread read the rows the other had written, and wrote, on the next call, rows
  // the other had read: 16 -> 16 3x3 at 32x32, batch 1, 2 threads, the copy took half as long as
  // the row tiles themselves in a profile; now 59 -> 42 us a call (in a slow minute), and ResNet-20
  // at batch 1 5% less time. Where tasks split the channels too, every task reads every row, and
  // the threads build one copy together first; so they do for a copy past 1 MB (one image larger
  // than a chunk, see forward), which a copy per thread would hold once per thread for good.
  const bool own_rows = channel_runs == 1 && copied && N * l.image <= (int64_t(1) << 18);
  static thread_local Scratch input_scratch;
  float* xq_built = nullptr;
  if (copied && !own_rows) xq_built = input_scratch.get(static_cast<size_t>(N * l.image));
  // Padded rows [i0, i1) of every channel of image n, in `copy` (the layout has no phases).
  auto pad_image_rows = [&](float* copy, int64_t n, int64_t i0, int64_t i1) {
    for (int64_t c = 0; c < s.C_in; ++c)
      build_phase_rows(copy + n * l.image + c * l.channel, x + (n * s.C_in + c) * s.H * s.W, s, l,
                       kern, 0, i0, i1);
  };
  const int64_t window_h = (s.KH - 1) * s.dil_h + 1;  // padded rows one output row reads
  ParallelErrors errors;                              // see forward_images
#pragma omp parallel if (parallel)
  {
    if (xq_built) {
#pragma omp for schedule(static)
      for (int64_t nc = 0; nc < N * s.C_in; ++nc)
        build_channel(xq_built + nc * l.channel, x + nc * s.H * s.W, s, l, kern);
    }
    static thread_local Scratch buffer_scratch, own_scratch;
    const int64_t ldt = channel_run * nr;
    float* t = nullptr;
    float* own = nullptr;
    std::vector<std::array<int64_t, 2>> jobs;  // a task's row jobs: {row, paired row or -1}
    std::vector<int64_t> unpaired;             // per window class: a row waiting for its pair
    errors.run([&] {
      jobs.reserve(static_cast<size_t>(row_run));
      unpaired.assign(static_cast<size_t>(classes), -1);
      t = buffer_scratch.get(static_cast<size_t>(direct ? 1 : row_run * OW * ldt));
      if (own_rows) own = own_scratch.get(static_cast<size_t>(N * l.image));
    });
    const float* xq = own_rows ? own : xq_built ? xq_built : x;
    // The padded rows this thread has built in this call: [built_lo, built_hi) of image built_n
    // (its tasks come in increasing order, so the next one usually needs the rows after these).
    int64_t built_n = -1, built_lo = 0, built_hi = 0;
    for_tasks(tasks, tasks <= kInOrderTasks * threads, [&](int64_t task) {  // see kInOrderTasks
      if (!t || (own_rows && !own)) return;  // no scratch: the error is raised after the region
      const int64_t rr = task % row_runs, cr = task / row_runs;
      const int64_t r0 = rr * row_run, r1 = std::min(R, r0 + row_run);
      const int64_t cp0 = panels * cr / channel_runs, cp1 = panels * (cr + 1) / channel_runs;
      if (own_rows)
        for (int64_t n = r0 / OH; n * OH < r1; ++n) {  // the padded rows the task reads of image n
          const int64_t oh0 = std::max(r0, n * OH) - n * OH;
          const int64_t oh1 = std::min(r1, (n + 1) * OH) - n * OH;
          const int64_t lo = oh0 * s.stride_h;
          const int64_t hi = std::min(l.Hq, (oh1 - 1) * s.stride_h + window_h);
          if (n == built_n && built_lo <= lo && lo <= built_hi) {
            if (hi > built_hi) pad_image_rows(own, n, built_hi, hi);
            built_hi = std::max(built_hi, hi);
          } else {
            pad_image_rows(own, n, lo, hi);
            built_n = n, built_lo = lo, built_hi = hi;
          }
        }
      // The task's row jobs: {first row, second row or -1}.
      jobs.clear();
      for (int64_t r = r0; r < r1; ++r) {
        if (!pair_rows) {
          jobs.push_back({r, -1});
          continue;
        }
        int64_t& waiting = unpaired[static_cast<size_t>(window_class[r % OH])];
        if (waiting >= r0) jobs.push_back({waiting, r}), waiting = -1;
        else waiting = r;
      }
      for (int64_t& waiting : unpaired) {
        if (waiting >= r0) jobs.push_back({waiting, -1});
        waiting = -1;
      }
      auto row_at = [&](int64_t r) { return r / OH * x_image + r % OH * s.stride_h * x_row; };
      // The edge products a row's tile leaves out (ConvTileKernel::row_tile's edge) from tap k0 on:
      // its first, last or only tile's, where any; none for the others.
      auto edge_of = [&](int64_t tile, int64_t k0) -> const unsigned char* {
        const int64_t kind = row_tiles == 1 ? 2 : tile == 0 ? 0 : tile == row_tiles - 1 ? 1 : -1;
        return kind >= 0 && !row_edges_.empty() && row_edges_[kind * (K + 1) + K]
                   ? row_edges_.data() + kind * (K + 1) + k0
                   : nullptr;
      };
      for (int64_t k0 = 0; k0 < K; k0 += depth) {
        const int64_t kc = std::min(depth, K - k0);
        const float* slice = packed_.data() + k0 * panels * nr;
        const int phase = static_cast<int>(k0 % taps);
        // The weights this task multiplies after panel cp of this slice, panel cp + 1 or the next
        // slice's first, prefetched by the first tile of the panel's first row job only. Every tile
        // prefetched the next panel of the slice, whether this task multiplies it or not, 16 times
        // over for a 14x14 image (Intel Xeon, AMX machine, 2026-12-07, four layers in a row, batch
        // 1, 2 threads: 512 -> 512 at 7x7 3.55 -> 2.99 ms, 256 -> 256 at 14x14 3.11 -> 2.95;
        // onnxruntime 3.3-3.5 and 2.7-2.8). Prefetched into L1, 7x7 at 1 thread was 15% slower.
        const int64_t next_kc = std::min(depth, K - k0 - depth);
        for (int64_t cp = cp0; cp < cp1; ++cp) {
          const float* next = cp + 1 < cp1 ? slice + (cp + 1) * kc * nr
                              : k0 + depth < K
                                  ? packed_.data() + (k0 + depth) * panels * nr + cp0 * next_kc * nr
                                  : nullptr;
          bool first_job = true;
          for (const auto& [r, r2] : jobs) {
            const auto [lo, hi] = window[r % OH];
            // Whether the slice holds a tap of the window (one of a channel's period always does),
            // and whether it is the row's first such slice: its sums start there.
            if (kc < taps && !(phase < hi && lo < phase + kc) && !(lo + taps < phase + kc))
              continue;
            const bool first = k0 <= lo;
            const int64_t at = row_at(r), ldx = r2 < 0 ? 0 : row_at(r2) - at;
            const int64_t ldr = r2 < 0 ? 0 : (r2 - r) * OW * ldt;
            RowTileEpilogue epi{};
            if (direct) {  // rows r and r2 of blocks cp * nr / vw on, in the output and residual
              const int64_t b = cp * nr / vw;
              const int64_t y_at = block_at(out_blocks, s.C_out, OH, OW, r / OH, b, r % OH, 0);
              const int64_t r_at = block_at(res_blocks, s.C_out, OH, OW, r / OH, b, r % OH, 0);
              epi = {
                  y + y_at,
                  r2 < 0 ? 0 : block_at(out_blocks, s.C_out, OH, OW, r2 / OH, b, r2 % OH, 0) - y_at,
                  ybs,
                  bias_.data() + cp * nr,
                  residual ? residual + r_at : nullptr,
                  r2 < 0 ? 0 : block_at(res_blocks, s.C_out, OH, OW, r2 / OH, b, r2 % OH, 0) - r_at,
                  rbs,
                  e.clamp_min,
                  e.clamp_max,
                  static_cast<int>(std::min(nr, s.C_out - cp * nr))};
            }
            // The row's tiles: those of one width that leave no product out at the edges go in one
            // call (ConvTileKernel::row_tile's tiles).
            for (int64_t tile = 0, count; tile < row_tiles; tile += count) {
              const int64_t ow0 = OW * tile / row_tiles, width = OW * (tile + 1) / row_tiles - ow0;
              const unsigned char* edge = edge_of(tile, k0);
              count = 1;
              while (!edge && tile + count < row_tiles && !edge_of(tile + count, k0) &&
                     OW * (tile + count + 1) / row_tiles - OW * (tile + count) / row_tiles == width)
                ++count;
              RowTileEpilogue at_tile = epi;
              if (direct) {
                at_tile.y += ow0 * vw;
                if (at_tile.residual) at_tile.residual += ow0 * vw;
              }
              kern.row_tile(s.C_out - cp * nr <= vw ? 1 : vectors,
                            static_cast<int>(s.stride_w * unit), r2 < 0 ? 1 : 2,
                            static_cast<int>(width), static_cast<int>(count), kc,
                            xq + at + ow0 * s.stride_w * unit, ldx, tap_offset_.data() + k0,
                            slice + cp * kc * nr, t + ((r - r0) * OW + ow0) * ldt + (cp - cp0) * nr,
                            ldr, ldt, RowTaps{taps, phase, lo, hi}, first, edge,
                            direct ? &at_tile : nullptr, first_job && tile == 0 ? next : nullptr);
            }
            first_job = false;
          }
        }
      }
      // The epilogue, one image's rows at a time.
      const int64_t c0 = cp0 * nr, channels = std::min(s.C_out, cp1 * nr) - c0;
      for (int64_t r = r0, end; r < r1; r = end) {
        const int64_t n = r / OH;
        end = std::min(r1, (n + 1) * OH);
        store_rows(kern, y, t + (r - r0) * OW * ldt, ldt, residual, n, r % OH, end - r, c0,
                   channels, e, direct);
      }
    });
  }
  errors.rethrow();
}

// Rows [oh0, oh0 + rows) of image n from a task's sums t (pixel rows of ldt floats, channels c0..c0
// + channels), with bias, residual and clamp: back into NCHW planes (the transpose), or into channel
// blocks as they are, with the halo beside each row (above and below the image's first and last
// rows) zeroed. A residual of the other layout is added to the sums first. stored: the row tiles
// have stored the rows in channel blocks themselves (RowTileEpilogue): the gate and halo only.
void PreparedConv2d::store_rows(const ConvTileKernel& kern, float* y, float* t, int64_t ldt,
                                const float* residual, int64_t n, int64_t oh0, int64_t rows,
                                int64_t c0, int64_t channels, const Conv2dEpilogue& e,
                                bool stored) const {
  const Conv2dShape& s = s_;
  const int64_t OH = s.out_h(), OW = s.out_w(), P = OH * OW, vw = kern.vw;
  const ChannelBlocks &out_blocks = layouts_.output, &res_blocks = layouts_.residual;
  // A block's floats, in the output and in the residual, where they are channel blocks.
  const int64_t ybs = block_floats(out_blocks, OH, OW), rbs = block_floats(res_blocks, OH, OW);
  const bool res_in_blocks = residual && res_blocks.on();
  const int64_t b0 = c0 / vw;
  if (!out_blocks.on()) {
    const int64_t at = (n * s.C_out + c0) * P + oh0 * OW;
    if (res_in_blocks)
      for (int64_t i = 0; i < rows; ++i)
        kern.add_residual_blocks(
            t + i * OW * ldt, ldt,
            residual + block_at(res_blocks, s.C_out, OH, OW, n, b0, oh0 + i, 0), rbs, OW, channels);
    kern.row_tile_store(y + at, P, t, ldt, rows * OW, channels, bias_.data() + c0,
                        residual && !res_in_blocks ? residual + at : nullptr, e.clamp_min,
                        e.clamp_max);
    if (e.gate != Conv2dGate::None)  // while the rows are in cache
      for (int64_t c = 0; c < channels; ++c) gate_in_place(y + at + c * P, rows * OW, e.gate);
    return;
  }
  const int64_t blocks = (channels + vw - 1) / vw;
  const int64_t hh = out_blocks.halo_h, hw = out_blocks.halo_w, wp = OW + 2 * hw;
  for (int64_t i = 0; i < rows; ++i) {
    const int64_t oh = oh0 + i;
    float* const tr = t + i * OW * ldt;
    const float* res = nullptr;
    if (res_in_blocks) res = residual + block_at(res_blocks, s.C_out, OH, OW, n, b0, oh, 0);
    else if (residual && !stored)
      kern.add_residual_planes(tr, ldt, residual + (n * s.C_out + c0) * P + oh * OW, P, OW,
                               channels);
    float* const yr = y + block_at(out_blocks, s.C_out, OH, OW, n, b0, oh, 0);
    if (!stored)
      kern.row_tile_store_blocks(yr, ybs, tr, ldt, OW, channels, bias_.data() + c0, res, rbs,
                                 e.clamp_min, e.clamp_max);
    for (int64_t b = 0; b < blocks; ++b) {
      float* const row = yr + b * ybs;  // pixel (oh, 0) of block b0 + b
      if (e.gate != Conv2dGate::None) gate_in_place(row, OW * vw, e.gate);  // lanes past C_out: 0
      std::fill(row - hw * vw, row, 0.0f);
      std::fill(row + OW * vw, row + (OW + hw) * vw, 0.0f);
      float* const plane = row - ((oh + hh) * wp + hw) * vw;
      if (oh == 0) std::fill(plane, plane + hh * wp * vw, 0.0f);
      if (oh == OH - 1)
        std::fill(plane + (hh + OH) * wp * vw, plane + (2 * hh + OH) * wp * vw, 0.0f);
    }
  }
}

// The wide path (use_wide) for N images of the batch, x, y and residual pointing at the first. The
// GEMM's columns are the output pixels on the padded width, q = oh * Wq + ow for ow < Wq, so tap k
// of column q reads xq[koff[k] + q] and a panel of nr columns is row k of B at xq + koff[k] + q0;
// columns with ow >= OW are computed and dropped. Tasks: (image, run of pixel panels, run of weight
// panels), as forward_images; each product goes to a per-thread [mr][nr] tile, then to y. The tasks
// go in a fixed order (for_tasks), so a thread computes the images whose copy it built and writes
// the outputs it wrote in the last call: first come, half the copy a thread read had been written by
// the other core. LeNet-5's 1 -> 6 5x5 on 28x28 at batch 64, 2 threads (AMD EPYC VM, 2026-12-07):
// 160 -> 122 us (one thread: 242), and its training step 3.7 -> 3.2 ms in the minutes when the
// machine's two vCPUs took 0.7 us instead of 0.2 to see each other's writes.
void PreparedConv2d::forward_wide(float* y, const float* x, const float* residual, int64_t N,
                                  const Conv2dEpilogue& e) const {
  const Conv2dShape& s = s_;
  const ConvTileKernel& kern = conv_tile_kernel();
  const InputLayout l = wide_layout(s);
  const int64_t OH = s.out_h(), OW = s.out_w(), P = OH * OW, K = s.col_rows(), Wq = l.Wq;
  const int64_t nr = kern.nr, mr = kern.mr, depth = slice_depth(K);
  const int64_t columns = (OH - 1) * Wq + OW;  // the last row's dropped columns are never needed
  const int64_t pixel_panels = (columns + nr - 1) / nr, weight_panels = (s.C_out + mr - 1) / mr;
  const int threads = omp_get_max_threads();
  const bool parallel = threads > 1 && N * s.C_out * P * K >= (int64_t(1) << 18);
  const int64_t want = parallel ? 4 * threads : 1;
  const int64_t pixel_run = pixel_run_for(pixel_panels, N, want);
  const int64_t pixel_runs = (pixel_panels + pixel_run - 1) / pixel_run;
  const int64_t weight_runs = N * pixel_runs < want ? weight_panels : 1;
  const int64_t tasks = N * pixel_runs * weight_runs;
  // The tile adds only the bias; the copy out adds the residual, then clamps.
  constexpr float inf = std::numeric_limits<float>::infinity();

  static thread_local Scratch input_scratch;
  // Slack past the last image: the last panel's rows are read as whole vectors (zeros, so no
  // denormal or NaN garbage slows the dropped columns down).
  float* xq = input_scratch.get(static_cast<size_t>(N * l.image + nr));
  std::fill(xq + N * l.image, xq + N * l.image + nr, 0.0f);
  ParallelErrors errors;  // see forward_images
#pragma omp parallel if (parallel)
  {
#pragma omp for schedule(static)
    for (int64_t nc = 0; nc < N * s.C_in; ++nc)
      build_channel(xq + nc * l.channel, x + nc * s.H * s.W, s, l, kern);
    static thread_local Scratch tile_scratch;
    float* t = nullptr;
    errors.run([&] { t = tile_scratch.get(static_cast<size_t>(mr * nr)); });
    for_tasks(tasks, true, [&](int64_t task) {
      if (!t) return;  // no scratch: the error is raised after the region
      const int64_t wr = task % weight_runs, pr = task / weight_runs % pixel_runs;
      const int64_t n = task / (weight_runs * pixel_runs);
      const int64_t w_begin = weight_runs == 1 ? 0 : wr;
      const int64_t w_end = weight_runs == 1 ? weight_panels : wr + 1;
      const int64_t p_end = std::min(pixel_panels, (pr + 1) * pixel_run);
      for (int64_t pp = pr * pixel_run; pp < p_end; ++pp) {
        const int64_t q0 = pp * nr, cols = std::min(nr, columns - q0);
        for (int64_t wp = w_begin; wp < w_end; ++wp) {
          const int64_t co = wp * mr, rows = std::min(mr, s.C_out - co);
          for (int64_t k0 = 0; k0 < K; k0 += depth) {
            const int64_t kc = std::min(depth, K - k0);
            const int mode = (k0 == 0 ? kTileFirst : 0) | (k0 + kc == K ? kTileLast : 0);
            kern.tile_direct(kc, packed_.data() + k0 * weight_panels * mr + wp * kc * mr,
                             xq + n * l.image + q0, tap_offset_.data() + k0, t, nr,
                             static_cast<int>(rows), static_cast<int>(cols), mode,
                             bias_.data() + co, -inf, inf);
          }
          const int64_t out0 = (n * s.C_out + co) * P;
          kern.wide_store(y + out0, P, t, nr, static_cast<int>(rows), q0, cols, Wq, OW,
                          residual ? residual + out0 : nullptr, e.clamp_min, e.clamp_max);
        }
      }
    });
  }
  errors.rethrow();
}

// The channel-vector depthwise path (use_depthwise_vectors) for N images: per task (image, block of
// vw channels), the block's input transposed into a padded [Hq][Wq][vw] copy in L1/L2 (or, in
// channel blocks, that block itself: its halo is the padding), the taps summed with vw channels a
// vector, and the sums stored by the row tiles' epilogue (store_rows: bias, residual, clamp; back
// into planes, or as they are into channel blocks).
void PreparedConv2d::forward_depthwise_vectors(float* y, const float* x, const float* residual,
                                               int64_t N, const Conv2dEpilogue& e) const {
  const Conv2dShape& s = s_;
  const ConvTileKernel& kern = conv_tile_kernel();
  const int64_t vw = kern.vw, blocks = (s.C_out + vw - 1) / vw, K = s.KH * s.KW;
  const int64_t OH = s.out_h(), OW = s.out_w(), P = OH * OW, plane = s.H * s.W;
  const int64_t hq = s.H + 2 * s.pad_h, wq = s.W + 2 * s.pad_w, slack = depthwise_slack(s, vw);
  const ChannelBlocks &in_blocks = layouts_.input, &out_blocks = layouts_.output,
                      &res_blocks = layouts_.residual;
  const int threads = omp_get_max_threads();
  const bool parallel = threads > 1 && N * s.C_out * P * K >= (int64_t(1) << 16);
  // Tasks: (image, run of output rows, block), in that order. An input in blocks is read in place,
  // so the rows of a block split where the blocks are few for the threads (MobileNetV2's 144
  // channels at 56x56 are 9 blocks, 5 for one thread and 4 for the other), and then into a band a
  // thread at least: thread t takes band t of every block, the rows that the row tiles before it
  // computed on its core (they split rows: forward_row_tiles) and that the ones after it read
  // there. 2 threads, batch 1, 2026-12-07: MobileNetV2 0.97 of the time, EfficientNet-B0 0.99;
  // bands where the blocks were many too (72 at 7x7) made EfficientNet 3% slower. A transposed copy
  // is made once a task, whole.
  const int64_t want = parallel ? 8 * threads : 1;
  const int64_t bands = parallel ? (threads + N - 1) / N : 1;
  const int64_t runs = in_blocks.on() && N * blocks < want
                           ? std::clamp<int64_t>(std::max(bands, want / (N * blocks)), 1, OH)
                           : 1;
  const int64_t row_run = (OH + runs - 1) / runs, row_runs = (OH + row_run - 1) / row_run;
  // An output in blocks takes the sums from the registers (RowTileEpilogue), as the row tiles do;
  // store_rows then gates and zeroes the halo. 144 at 56x56 wrote 800 KB of sums and read them
  // back.
  const bool direct = out_blocks.on() && (!residual || res_blocks.on());
  const int64_t ybs = block_floats(out_blocks, OH, OW), rbs = block_floats(res_blocks, OH, OW);
  ParallelErrors errors;  // see forward_images
#pragma omp parallel if (parallel)
  {
    static thread_local Scratch input_scratch, sum_scratch;
    float *xt = nullptr, *t = nullptr;
    errors.run([&] {
      if (!in_blocks.on()) xt = input_scratch.get(static_cast<size_t>(hq * wq * vw + slack));
      t = sum_scratch.get(static_cast<size_t>(row_run * OW * vw));  // store_rows' pointer too
    });
#pragma omp for schedule(static)
    for (int64_t task = 0; task < N * blocks * row_runs; ++task) {
      if (!t || (!xt && !in_blocks.on())) continue;  // no scratch: raised after the region
      const int64_t n = task / (blocks * row_runs), b = task % blocks;
      const int64_t oh0 = task / blocks % row_runs * row_run, oh1 = std::min(OH, oh0 + row_run);
      const int64_t c0 = b * vw;
      const int channels = static_cast<int>(std::min(vw, s.C_out - c0));
      // The padded plane of these channels, a vector a pixel: the input's own block (its halo
      // covers the padding), or a transposed copy.
      const float* src = xt;
      int64_t ld = wq;
      if (in_blocks.on()) {
        src = x + block_at(in_blocks, s.C_in, s.H, s.W, n, b, -s.pad_h, -s.pad_w);
        ld = s.W + 2 * in_blocks.halo_w;
      } else {
        kern.to_channel_vectors(xt, x + (n * s.C_in + c0) * plane, plane, channels, s.H, s.W,
                                s.pad_h, s.pad_w, hq, wq, slack);
      }
      RowTileEpilogue epi{};
      if (direct) {
        const int64_t wp = OW + 2 * out_blocks.halo_w, rp = OW + 2 * res_blocks.halo_w;
        epi = {y + block_at(out_blocks, s.C_out, OH, OW, n, b, oh0, 0),
               wp * vw,
               ybs,
               bias_.data() + c0,
               residual ? residual + block_at(res_blocks, s.C_out, OH, OW, n, b, oh0, 0) : nullptr,
               rp * vw,
               rbs,
               e.clamp_min,
               e.clamp_max,
               channels};
      }
      kern.depthwise_vectors(
          t, src, ld, oh0, oh1, OW, static_cast<int>(s.stride_h), static_cast<int>(s.stride_w),
          static_cast<int>(s.dil_h), static_cast<int>(s.dil_w), static_cast<int>(s.KH),
          static_cast<int>(s.KW), packed_.data() + c0 * K, direct ? &epi : nullptr);
      store_rows(kern, y, t, vw, residual, n, oh0, oh1 - oh0, c0, channels, e, direct);
    }
  }
  errors.rethrow();
}

}  // namespace pycnn::cpu
