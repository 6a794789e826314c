// The per-instruction-set tile kernels of conv2d_prepared (conv2d_prepared_avx512.cpp, _avx2.cpp,
// _portable.cpp), as seen by conv2d_prepared.cpp and by conv2d.cpp's backward (the weight gradient
// kernels, and the input copy they share with the forward kernels).
#pragma once

#include <cstdint>
#include <vector>

#include "pycnn/ops/conv2d.h"

namespace pycnn::cpu {

// Bits of ConvTileKernel::tile's `mode`.
constexpr int kTileFirst = 1;  // the first K slice: C is overwritten, not accumulated into
constexpr int kTileLast = 2;   // the last K slice: the epilogue runs as C is stored

// The distance to keep between matrices of n floats that a kernel reads or writes at the same
// offset in turn (Winograd's 16 transform points: V and M in conv2d_prepared.cpp, U and V of the
// weight gradient in conv2d.cpp): n rounded up to whole cache lines, plus one where that is
// an even count, so the 16 lines fall in 16 different sets of the L1 (64 lines of 4 KB) and do not
// evict each other (V's were 8 KB apart for 64 channels x 32 tiles: every input transform wrote 16
// lines into one 8-way set). Measured (AMD EPYC VM, 2026-12-07): ResNet-18's 64 -> 64 at 56x56,
// batch 1, 1 thread 1.415 -> 1.240 ms, 2 threads 0.737 -> 0.644; batch 16, 1 thread, 64 at 56x56
// 25.1 -> 23.4 ms, 128 at 28x28 21.1 -> 19.6, 256 at 14x14 20.0 -> 18.2, AlexNet's 384 -> 256 at
// 13x13 29.3 -> 27.2.
inline int64_t apart(int64_t n) {
  const int64_t lines = (n + 15) / 16;
  return (lines % 2 == 0 ? lines + 1 : lines) * 16;
}

// The taps a row tile multiplies (ConvTileKernel::row_tile): k, counted from the slice's first, is
// one where (phase + k) % period is in [lo, hi). A row of outputs whose window reaches into the
// padding above or below the image skips the taps that read only padding rows there.
struct RowTaps {
  int period;  // taps a channel (KH * KW)
  int phase;   // position of the slice's first k among its channel's taps
  int lo, hi;  // the window, 0 <= lo < hi <= period (all taps: 0, period)
};

// The row tile's epilogue where its sums are final (one K slice) and its output is in channel
// blocks (ConvTileKernel::row_tile): pixel i of row r, vector v of the panel goes to y[r * ldr + i *
// vw + v * ldv] as clamp(sum + bias[v * vw + l] + residual[r * rldr + i * vw + v * rldv + l], lo,
// hi), zero in the lanes l with v * vw + l >= channels (residual, in channel blocks, may be null).
struct RowTileEpilogue {
  float* y;
  int64_t ldr, ldv;
  const float* bias;
  const float* residual;
  int64_t rldr, rldv;
  float lo, hi;
  int channels;  // of the panel, at most its vectors * vw
};

struct ConvTileKernel {
  int mr;  // rows (output channels) of a packed weight panel
  int nr;  // columns (output pixels) of a packed input panel
  // C[rows, cols] (+)= A[rows, kc] * B[kc, cols], A a packed weight panel (element (i, k) at
  // A[k * mr + i]), B a packed input panel (element (k, j) at B[k * nr + j], zero padded to nr).
  // With kTileLast, the store is y = clamp(acc + bias[i] + residual[i * ldc + j], lo, hi)
  // (residual may be null).
  void (*tile)(int64_t kc, const float* A, const float* B, float* C, int64_t ldc, int rows,
               int cols, int mode, const float* bias, const float* residual, float lo, float hi);
  // tile with B read straight from the input copy: row k of the panel is x + koff[k] (whole
  // vectors: x + koff[k] + NR - 1 must be readable), no residual. The wide path (conv2d_prepared.cpp).
  void (*tile_direct)(int64_t kc, const float* A, const float* x, const int64_t* koff, float* C,
                      int64_t ldc, int rows, int cols, int mode, const float* bias, float lo,
                      float hi);
  // Packs one input panel: B[k, dst + j] = x[koff[k] + src + j] for j < len, for each column run
  // seg = {dst, len, src} (nseg of them, covering columns [0, cols)), zero beyond cols.
  void (*pack)(float* B, const float* x, const int64_t* koff, int64_t kc, const int64_t* seg,
               int nseg, int cols);
  // One channel of a depthwise convolution: y[oh, ow] = clamp(sum_t w[t] * src[t][oh * wq + ow] +
  // bias + residual[oh, ow], lo, hi) for y [OH, OW] (residual may be null).
  void (*depthwise_plane)(float* y, int64_t OH, int64_t OW, const float* const* src, int64_t wq,
                          const float* w, int taps, float bias, const float* residual, float lo,
                          float hi);
  // One row of a stride phase of the padded input: row[j] = src[j * stride] for lo <= j < hi, zero
  // for the rest of [0, width).
  void (*phase_row)(float* row, int64_t width, const float* src, int64_t lo, int64_t hi,
                    int64_t stride);
  // Every column phase of one row of the padded input at a stride of sw (2 or 4): dst[b * plane + j]
  // = src[j * sw + b - pw] for j < width where that column lies in [0, W), zero elsewhere (src null:
  // a padding row, all zero). One pass over the row where phase_row takes it sw times.
  void (*phase_split_row)(float* dst, int64_t plane, int64_t width, const float* src, int64_t W,
                          int64_t pw, int sw);
  // Rows [i0, i1) of a padded plane without stride phases (wq floats a row): plane[i * wq + j] =
  // x[(i - ph) * W + j - pw] inside the image, zero elsewhere.
  void (*pad_rows)(float* plane, const float* x, int64_t H, int64_t W, int64_t ph, int64_t pw,
                   int64_t wq, int64_t i0, int64_t i1);
  // Rows [i0, i1) of row phase a of one channel's column copies (InputLayout::column_copies: sh
  // row phases, ow floats a row, planes `plane` floats apart): row i of kernel column kw's plane
  // holds x[(i * sh + a - ph) * W + j * sw + kw * dw - pw] for j < ow, zero outside the image.
  void (*column_copy_rows)(float* dst, int64_t plane, const float* x, int64_t H, int64_t W,
                           int64_t ph, int64_t pw, int64_t sh, int64_t a, int64_t KW, int64_t dw,
                           int64_t sw, int64_t ow, int64_t i0, int64_t i1);
  // Winograd F(2x2, 3x3), see conv2d_prepared.cpp: the input transform of one panel of nr tiles into
  // V[16][channels][nr], its 16 matrices ldv floats apart, and the output transform of
  // M[16][rows][nr] (ldm apart) into y with the epilogue. Tile runs seg = {dst, len, th * wq + tw}
  // as pack's; off16: the 4x4 patch's offsets in a channel.
  void (*winograd_input)(float* V, int64_t ldv, const float* x, const int64_t* off16,
                         int64_t channel, int64_t channels, const int64_t* seg, int nseg, int cols);
  void (*winograd_output)(float* y, int64_t OH, int64_t OW, int64_t wq, const float* M, int64_t ldm,
                          int64_t rows, const int64_t* seg, int nseg, const float* bias,
                          const float* residual, float lo, float hi);
  // The same for Winograd F(4x4, 3x3): V[36][channels][nr] from the 6x6 patches (off36) in the
  // 16 stride-4 phases, M[36][rows][nr] into 4x4 output tiles.
  void (*winograd4_input)(float* V, int64_t ldv, const float* x, const int64_t* off36,
                          int64_t channel, int64_t channels, const int64_t* seg, int nseg,
                          int cols);
  void (*winograd4_output)(float* y, int64_t OH, int64_t OW, int64_t wq, const float* M,
                           int64_t ldm, int64_t rows, const int64_t* seg, int nseg,
                           const float* bias, const float* residual, float lo, float hi);
  // The channel-vector path (conv2d_prepared.cpp): out[r * ldr + i * ldo + j] (+)= sum_k
  // x[koff[k] + r * ldx + i * step] * W[k * c + j] for `rows` (1 or 2) runs of `pixels` pixels i
  // (step: the stride, 1 or 2, in planes; vw or 2 * vw in channel blocks) and c = vectors * vw
  // channels j (vectors: nr / vw, or 1), W a packed panel of c output channels (element (k, j) at
  // W[k * c + j]), over the k of the slice that `taps` takes; `first` overwrites out. rows * pixels
  // is at most row_pixels * nr / c. edge (null where no product is left out; used at step 1 or vw):
  // per k of the slice, which pixels of each row leave its product out as it reads only padding,
  // bit 0 the first pixel, bit 1 the last. epi (not null: the slice is the only one and first is
  // true): the sums go through the epilogue straight into channel blocks, not to out. next (may be
  // null): the kc x c weights the caller multiplies after these, prefetched into L2 meanwhile.
  // tiles: that many tiles of `pixels` pixels side by side along the rows in one call (x, out and
  // the epilogue's pointers moving on by a tile's pixels; edge applies to each, next is fetched
  // during the first).
  void (*row_tile)(int vectors, int step, int rows, int pixels, int tiles, int64_t kc,
                   const float* x, int64_t ldx, const int64_t* koff, const float* W, float* out,
                   int64_t ldr, int64_t ldo, RowTaps taps, bool first, const unsigned char* edge,
                   const RowTileEpilogue* epi, const float* next);
  // Its epilogue, back to NCHW: y[c * ldy + p] = clamp(t[p * ldt + c] + bias[c] + residual[c * ldy
  // + p], lo, hi) for p < pixels, c < channels (residual may be null; t's rows are whole vectors).
  void (*row_tile_store)(float* y, int64_t ldy, const float* t, int64_t ldt, int64_t pixels,
                         int64_t channels, const float* bias, const float* residual, float lo,
                         float hi);
  // Its epilogue into channel blocks (ChannelBlocks, conv2d_prepared.h), for `pixels` consecutive
  // pixels of one output row: y[b * ybs + p * vw + l] = clamp(t[p * ldt + b * vw + l] + bias[c] +
  // residual[b * rbs + p * vw + l], lo, hi) for c = b * vw + l < channels, zero in the lanes past
  // them (residual, in channel blocks too, may be null).
  void (*row_tile_store_blocks)(float* y, int64_t ybs, const float* t, int64_t ldt, int64_t pixels,
                                int64_t channels, const float* bias, const float* residual,
                                int64_t rbs, float lo, float hi);
  // A residual of the other layout added to the sums first: t[p * ldt + c] += residual[c * ldr + p]
  // (planes), or += residual[b * rbs + p * vw + c % vw] with b = c / vw (channel blocks).
  void (*add_residual_planes)(float* t, int64_t ldt, const float* residual, int64_t ldr,
                              int64_t pixels, int64_t channels);
  void (*add_residual_blocks)(float* t, int64_t ldt, const float* residual, int64_t rbs,
                              int64_t pixels, int64_t channels);
  // The wide path's copy out (conv2d_prepared.cpp): t[i * ldt + j], column q0 + j of a grid with
  // rows wq apart, to y[i * ldy + r * ow + c] = clamp(t + residual[same], lo, hi) where c < ow, for
  // rows i < rows and the cols columns of the panel (residual may be null).
  void (*wide_store)(float* y, int64_t ldy, const float* t, int64_t ldt, int rows, int64_t q0,
                     int64_t cols, int64_t wq, int64_t ow, const float* residual, float lo,
                     float hi);
  // The channel-vector depthwise path (conv2d_prepared.cpp): `vw` channels of the input transposed
  // into xt [hq][wq][vw] with zero padding (ph, pw) and `slack` zeroed floats after it; then the
  // sums t[((oh - oh0) * OW + ow) * vw + c] of each output pixel's taps for the rows [oh0, oh1),
  // weights wv [KH * KW][vw]; with epi (its vector 0 only: ldv, rldv unused) through the epilogue
  // into channel blocks instead.
  void (*to_channel_vectors)(float* xt, const float* x, int64_t plane, int channels, int64_t H,
                             int64_t W, int64_t ph, int64_t pw, int64_t hq, int64_t wq,
                             int64_t slack);
  void (*depthwise_vectors)(float* t, const float* xt, int64_t wq, int64_t oh0, int64_t oh1,
                            int64_t OW, int sh, int sw, int dh, int dw, int KH, int KW,
                            const float* wv, const RowTileEpilogue* epi);
  // conv2d's weight gradient (conv2d.cpp, backward): out[r * ldo + j * VW + c] (+)= sum over
  // images i and output pixels (oh, ow) of dy[i * dy_step + r * ldd + oh * OW + ow] times column j
  // of the input copy xt at that pixel, for rows <= wg_rows output channels and cols <= wg_cols
  // columns; `first` overwrites out. Two layouts of the copy:
  //  - pixels false: channel vectors (xt from to_channel_vectors), column j a tap of VW input
  //    channels, xt[coff[j] + i * xt_step + oh * row_step + ow * col_step + c];
  //  - pixels true, for layers with few input channels: pixels along the vectors, column j one
  //    (channel, kh, kw) tap of the stride-phase copy of the input (input_layout), xt[coff[j] + i *
  //    xt_step + oh * row_step + ow] for the pixels with ow = c mod VW: VW partial sums a column
  //    for the caller to add up; col_step must be 1.
  void (*weight_grad_tile)(bool pixels, int rows, int cols, const float* dy, int64_t ldd,
                           const float* xt, const int64_t* coff, int64_t images, int64_t dy_step,
                           int64_t xt_step, int64_t OH, int64_t OW, int64_t row_step,
                           int64_t col_step, float* out, int64_t ldo, bool first);
  // conv2d's Winograd weight gradient (conv2d.cpp, weight_grad_winograd): the input transform of
  // the TW tiles of a tile row from the channel-vector copy xt (rows wq pixels apart, the tile row's
  // first patch row at xt): v[xi * ldv + tw * vw + c] = (B^T d B)[xi / 4][xi % 4] for the 4x4 patch
  // d of tile tw, vw channels c a vector.
  void (*winograd_grad_input)(float* v, int64_t ldv, const float* xt, int64_t wq, int64_t TW);
  // And its transform of dy: u[xi * ldu + t] = (A g_t A^T)[xi / 4][xi % 4] for the TW tiles t of a
  // tile row, g_t = [d0[2t] d0[2t + 1]; d1[2t] d1[2t + 1]] (the tile row's two rows of dy, OW floats
  // each, zero past them; d1 null past dy), vw tiles a vector.
  void (*winograd_grad_dy)(float* u, int64_t ldu, const float* d0, const float* d1, int64_t OW,
                           int64_t TW);
  // The same for Winograd F(3x3, 4x4): 6x6 patches (six patch rows at xt, 4 TW + 2 pixels used of
  // each), v[xi * ldv + tw * vw + c] for xi < 36; dy's four rows d[0..3] of the tile row (null past
  // dy), u[xi * ldu + t] = (A g_t A^T)[xi / 6][xi % 6] for its 4x4 blocks g_t.
  void (*winograd4_grad_input)(float* v, int64_t ldv, const float* xt, int64_t wq, int64_t TW);
  void (*winograd4_grad_dy)(float* u, int64_t ldu, const float* const* d, int64_t OW, int64_t TW);
  // A weight panel packed: dst[k * width + i] = a[i * lda + k] for rows i < rows <= width and
  // k < kc, and 0 in columns rows..width (every float of the panel is written). VW x VW blocks
  // transposed in registers.
  void (*pack_panel)(float* dst, const float* a, int64_t lda, int rows, int64_t kc, int width);
  // conv2d's col2im (conv2d.cpp, backward) at stride 1 without dilation, when a padded row of the
  // input fits one vector (W + 2 * pw <= vw): dx[c][h][w] += the sum over taps (kh, kw) of
  // dcol[((c * KH + kh) * KW + kw) * ld + (h + ph - kh) * OW + (w + pw - kw)] over the output
  // pixels that exist, for C channels of H x W.
  void (*col2im_short_rows)(float* dx, const float* dcol, int64_t ld, int64_t C, int64_t H,
                            int64_t W, int64_t KH, int64_t KW, int64_t OH, int64_t OW, int64_t ph,
                            int64_t pw);
  int row_pixels;  // the most pixels one row tile of nr channels holds in registers
  int wg_rows;     // weight_grad_tile's most output channels
  int wg_cols;     // and columns
  int vw;          // floats per vector
  const char* isa;
};

// Where the per-call copy of the input keeps each image (see conv2d_prepared.cpp's file comment).
struct InputLayout {
  bool in_place;           // no padding and stride 1: xq is x
  int64_t SH, SW, Hq, Wq;  // phases per axis and each phase plane's size
  int64_t channel, image;  // floats per channel (all its phases) and per image
  // Column copies (column_copies_layout; conv2d.cpp's weight gradient): a plane per kernel column
  // kw and row phase a, Hq rows of Wq = OW pixels, pixel (i, j) the padded input's (i * SH + a,
  // j * stride_w + kw * dil_w); SW = 1. Output row oh then follows row oh - 1 in every tap's plane,
  // so a tap's pixels of a whole image (or band of rows) are one run, where the phase planes' rows
  // of OW pixels Wq apart cut them at every row's end (10 of every 16 lanes loaded on LeNet-5's
  // second layer). KW times the padded copy's floats.
  bool column_copies = false;
  // Bit a (b) set when some tap reads phase row a (column b): a 1x1 stride-2 convolution reads a
  // quarter of the padded image, and only that quarter is copied. Phases past 63 are always copied.
  uint64_t row_phases = ~uint64_t(0), col_phases = ~uint64_t(0);
  bool reads(int64_t a, int64_t b) const {
    return (a >= 64 || (row_phases >> a & 1)) && (b >= 64 || (col_phases >> b & 1));
  }
};

// The layout of a convolution's input copy (with phases: per stride; false for the channel-vector
// path, whose row tiles read strided pixels themselves and whose copy only pads), each channel of
// it built from x's plane, and where tap (c, kh, kw) of output pixel (0, 0) reads it. Defined in
// conv2d_prepared.cpp; conv2d.cpp's weight gradient reads the same copy.
InputLayout input_layout(const Conv2dShape& s, bool phases = true);
// The column copies (InputLayout::column_copies), and whether they pay: where the copy is at most 8
// padded inputs and an image's pixels in runs of `lanes` take at least a tenth fewer steps than
// `steps` (the other layout's), the caller's kernel wasting fewer lanes on the rows' ends.
InputLayout column_copies_layout(const Conv2dShape& s);
bool column_copies_pay(const Conv2dShape& s, int64_t lanes, int64_t steps);
void build_channel(float* dst, const float* x_c, const Conv2dShape& s, const InputLayout& l,
                   const ConvTileKernel& kern);
// Rows [i0, i1) of row phase a of that channel (build_channel is every row of every phase).
void build_phase_rows(float* dst, const float* x_c, const Conv2dShape& s, const InputLayout& l,
                      const ConvTileKernel& kern, int64_t a, int64_t i0, int64_t i1);
int64_t tap_offset(const Conv2dShape& s, const InputLayout& l, int64_t c, int64_t kh, int64_t kw);
// tap_offset of every tap of a group, in im2col's row order k = (c * KH + kh) * KW + kw.
std::vector<int64_t> tap_offsets(const Conv2dShape& s, const InputLayout& l);

// The kernels for the instruction set the gemm runs (gemm_isa() honours PYCNN_GEMM_ISA, so the
// tests can run each one).
const ConvTileKernel& conv_tile_kernel();

ConvTileKernel conv_tile_kernel_avx512();
ConvTileKernel conv_tile_kernel_avx2();
ConvTileKernel conv_tile_kernel_portable();

}  // namespace pycnn::cpu
