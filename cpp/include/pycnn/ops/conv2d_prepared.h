// conv2d_prepared: an inference 2-D convolution on the CPU whose weights and input shape are known
// in advance (the inference plan builds one per conv node and input shape).
//
//   input    x        [N, C_in, H, W]              NCHW float32
//   weight   w        [C_out, C_in / groups, KH, KW] (packed at construction; the caller may free it)
//   bias     b        [C_out] or null               (copied at construction)
//   residual r        [N, C_out, OH, OW] or null    (per call, in the epilogue)
//   output   y        [N, C_out, OH, OW]  = clamp(conv(x, w) + b + r, clamp_min, clamp_max)
//
// The epilogue is applied where the output is stored, so bias, residual and activation cost no
// extra pass over memory. forward is const and thread-safe: its scratch is per call or
// thread_local. Threads: OpenMP, omp_get_max_threads() of the calling thread (a call from inside a
// parallel region runs on that one thread). How: conv2d_prepared.cpp (implicit GEMM, Winograd
// F(2x2, 3x3) for 3x3 stride-1 layers with enough channels and tiles, row tiles with the output
// channels along the vectors for smaller images, a "wide" GEMM that reads the padded input in place
// for layers with few output channels, a depthwise kernel).
#pragma once

#include <cstdint>
#include <limits>
#include <vector>

#include "pycnn/device.h"
#include "pycnn/ops/conv2d.h"

namespace pycnn::cpu {

class MaxPoolBands;     // pycnn/ops/max_pool2d.h
struct ConvTileKernel;  // conv2d_prepared_kernels.h

// An activation after the clamp that is not one: x * sigmoid(x) (SiLU) or x * relu6(x + 3) / 6
// (HardSwish). Both keep 0 at 0, so a value in channel blocks keeps its zero halo and lanes.
enum class Conv2dGate { None, Silu, HardSwish };

// What the plan fuses into the convolution's store: y = gate(clamp(conv(x, w) + b + residual, lo,
// hi)).
struct Conv2dEpilogue {
  const float* residual =
      nullptr;  // [N, C_out, OH, OW], added after the bias (may alias nothing else)
  float clamp_min = -std::numeric_limits<float>::infinity();  // ReLU: (0, inf); ReLU6/Clip: (0, 6)
  float clamp_max = std::numeric_limits<float>::infinity();
  Conv2dGate gate = Conv2dGate::None;  // over each chunk of images once stored, while in cache
};

// A value [N, C, H, W] kept in channel blocks between the inference plan's convolutions that take
// them (takes_channel_blocks; onnxruntime's NCHWc, padded): [N][ceil(C / vw)][H + 2 * halo_h]
// [W + 2 * halo_w][vw] with vw = channel_block_width() (the instruction set's vector: 16 floats with
// AVX-512, 8 with AVX2, 4 portable), pixel (h, w) of channel c of image n at (((n * blocks + c / vw) * (H + 2 * halo_h) + h +
// halo_h) * (W + 2 * halo_w) + w + halo_w) * vw + c % vw. The halo and the lanes past C are zero, so
// a consumer whose padding is at most the halo reads its padded input in place: no copy, and one
// pixel's channels are one vector for the producer's store (no transpose). halo_h < 0: plain NCHW.
constexpr int64_t kMaxHalo = 64;    // the widest halo a value in channel blocks may have
constexpr int64_t kBlockSlack = 8;  // vectors after a value in channel blocks that readers may read
struct ChannelBlocks {
  int64_t halo_h = -1, halo_w = -1;
  bool on() const { return halo_h >= 0; }
};
int64_t channel_block_width();
// Floats of a value [N, C, H, W] in layout b (N * C * H * W for NCHW; in channel blocks, with
// kBlockSlack vectors after the last block, which the depthwise kernel may read and no one writes);
// ValueError past 2^60.
int64_t channel_blocks_floats(int64_t N, int64_t C, int64_t H, int64_t W, const ChannelBlocks& b);

// The layouts of a convolution's input, output and residual (PreparedConv2d's constructor).
struct Conv2dLayouts {
  ChannelBlocks input, output, residual;
  bool any() const { return input.on() || output.on() || residual.on(); }
};

class PreparedConv2d {
 public:
  // w [C_out, C_in/groups, KH, KW], b [C_out] or null; both copied/packed now (the caller may free
  // them). s is the full shape including N, H, W (a plan is built per input shape); validates s
  // (ValueError).
  // layouts: where forward reads x and writes y and the residual (NCHW by default; channel blocks
  // only for a shape that takes them, takes_channel_blocks, whose input halo covers its padding:
  // ValueError otherwise). The path is chosen for them: in blocks, layers whose NCHW path would be
  // another take the row-tile or the depthwise channel-vector path (conv2d_prepared.cpp).
  PreparedConv2d(const float* w, const float* b, const Conv2dShape& s,
                 const Conv2dLayouts& layouts = {});
  // Weights given as the forward convolution's whose input gradient this one computes (conv2d's
  // backward): w_fwd [C_in, C_out, KH, KW] of this shape's channels (one group), this convolution's
  // weight (o, c, kh, kw) being w_fwd[c, o, KH - 1 - kh, KW - 1 - kw]. Packed from w_fwd in one pass:
  // the turn is folded into the taps' input offsets (or the Winograd filters), where a transposed
  // copy first cost a 512 -> 512 3x3 layer's input gradient two more passes over its 9.4 MB of
  // weights (and zeroing it) on every training call.
  struct FromForwardWeights {};
  PreparedConv2d(const float* w_fwd, const Conv2dShape& s, FromForwardWeights);
  // y [N, C_out, OH, OW] from x [N, C_in, H, W], NCHW float32 both; y overlaps neither x nor the
  // residual. const and thread-safe: two threads may call forward on one object at once (scratch is
  // per call or thread_local).
  void forward(float* y, const float* x, const Conv2dEpilogue& e = {}) const;
  // y = max_pool(forward(x, e)) for `pool`, a max pool of this convolution's output, without the
  // convolution's output ever stored whole (bands of it in each thread's scratch: the inference
  // plan's step for a stem convolution and the pool after it). Only for convolutions on the packed
  // path (packs_panels()) and without a residual: ValueError otherwise.
  void forward_max_pool(float* y, const float* x, const Conv2dEpilogue& e,
                        const MaxPoolBands& pool) const;
  const Conv2dLayouts& layouts() const { return layouts_; }
  // True where forward takes the row-tile path (output channels along the vectors: 3x3 and 1x1
  // layers of small images, 1x1 layers with few outputs; see conv2d_prepared.cpp).
  bool row_tiles() const { return row_tiles_; }
  static bool row_tiles(const Conv2dShape& s);  // the same for any shape (one not built yet)
  // The shapes that take channel blocks (the constructor's layouts): those of the row-tile path
  // (in blocks also 1x1 layers of large images), and depthwise layers at strides up to 2.
  static bool takes_channel_blocks(const Conv2dShape& s);
  // True where forward packs the input into panels for the tile kernel (no Winograd, row tiles, wide
  // or depthwise path): the 3-channel stems, strided layers with few input channels.
  bool packs_panels() const;
  static bool packs_panels(const Conv2dShape& s);  // the same for any shape (one not built yet)
  // True where forward runs as Winograd (3x3 stride-1 layers with enough channels and tiles; see
  // use_winograd in conv2d_prepared.cpp), and the side of its output tiles: F(2x2, 3x3) or F(4x4,
  // 3x3) (winograd_tile there), 0 where it does not.
  static bool winograd(const Conv2dShape& s);
  static int64_t winograd_tile(const Conv2dShape& s);
  const Conv2dShape& shape() const { return s_; }

 private:
  void forward_row_tiles(float* y, const float* x, const float* residual, int64_t N,
                         const Conv2dEpilogue& e) const;
  void forward_wide(float* y, const float* x, const float* residual, int64_t N,
                    const Conv2dEpilogue& e) const;
  void forward_depthwise_vectors(float* y, const float* x, const float* residual, int64_t N,
                                 const Conv2dEpilogue& e) const;
  void store_rows(const ConvTileKernel& kern, float* y, float* t, int64_t ldt,
                  const float* residual, int64_t n, int64_t oh0, int64_t rows, int64_t c0,
                  int64_t channels, const Conv2dEpilogue& e, bool stored = false) const;
  void prepare(const float* w, const float* b, bool from_forward, bool blocks);
  void set_layouts(const Conv2dLayouts& layouts);  // the constructor's layouts, checked
  void pack_winograd_filters(const float* w, bool from_forward, int64_t mr, int64_t panels,
                             int64_t depth);
  void set_image_floats();  // images_ from s_ and layouts_
  void set_row_edges();     // row_edges_ from s_ and from_forward_ (conv2d_prepared.cpp)
  Conv2dShape s_;
  UninitializedVector<float> packed_;  // the weights, packed once (see conv2d_prepared.cpp)
  std::vector<float> bias_;            // [C_out]; zeros when there is no bias
  int64_t winograd_ = 0;  // 3x3 stride 1: Winograd F(m x m, 3x3)'s m, 2 or 4 (conv2d_prepared.cpp)
  bool row_tiles_ = false;           // output channels in vectors (conv2d_prepared.cpp)
  int64_t row_nr_ = 0;               // and a panel's channels there: nr, or one vector
  bool wide_ = false;                // panels read straight from the padded input (ditto)
  bool channel_vectors_ = false;     // depthwise with channels along the vectors (ditto)
  std::vector<int64_t> tap_offset_;  // per (c, kh, kw) of a group: where its tap reads the input
  std::vector<unsigned char> row_edges_;  // row tiles: per (tile kind, k) the end pixels it skips
  Conv2dLayouts layouts_;                 // NCHW unless the constructor was told otherwise
  struct {
    int64_t x, y, residual;  // floats an image of each, in its layout (set_image_floats)
  } images_{};
  bool from_forward_ = false;  // built from forward weights (FromForwardWeights)
};

}  // namespace pycnn::cpu
