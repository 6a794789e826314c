// The plan's squeeze-and-excitation ops on channel blocks (pycnn/ops/channel_blocks.h). Both are
// one pass over the value, a block's pixel one vector of vw = channel_block_width() channels: plain
// loops over the lanes, cloned per instruction set.
#include "pycnn/ops/channel_blocks.h"

#include <omp.h>

#include <algorithm>

#include "parallel.h"
#include "pycnn/vector_math.h"
#include "scratch.h"

namespace pycnn::cpu {

namespace {

constexpr int kMaxLanes = 16;  // the widest block (AVX-512)

// The sums of the H rows of W pixels of one block (rows `row` floats apart, pixel (0, 0) at p),
// lane by lane, into sum[0, VW): float lanes per row, added into double sums, so the mean of a
// 112 x 112 plane keeps float's precision.
template <int VW>
void block_sums(double* sum, const float* p, int64_t row, int64_t W, int64_t H) {
  for (int64_t h = 0; h < H; ++h, p += row) {
    float lanes[VW] = {};
    for (int64_t w = 0; w < W; ++w)
#pragma omp simd
      for (int l = 0; l < VW; ++l) lanes[l] += p[w * VW + l];
    for (int l = 0; l < VW; ++l) sum[l] += lanes[l];
  }
}

template <int VW>
void scale_pixels(float* y, const float* x, const float* s, int64_t pixels) {
  for (int64_t i = 0; i < pixels * VW; i += VW)
#pragma omp simd
    for (int l = 0; l < VW; ++l) y[i + l] = x[i + l] * s[l];
}

// The kernels for the block width (the instruction set's vector), cloned per instruction set.
PYCNN_VECTOR_CLONES void block_sums(double* sum, const float* p, int64_t row, int64_t W, int64_t H,
                                    int64_t vw) {
  if (vw == 16) block_sums<16>(sum, p, row, W, H);
  else if (vw == 8) block_sums<8>(sum, p, row, W, H);
  else block_sums<4>(sum, p, row, W, H);
}

PYCNN_VECTOR_CLONES void scale_pixels(float* y, const float* x, const float* s, int64_t pixels,
                                      int64_t vw) {
  if (vw == 16) scale_pixels<16>(y, x, s, pixels);
  else if (vw == 8) scale_pixels<8>(y, x, s, pixels);
  else scale_pixels<4>(y, x, s, pixels);
}

}  // namespace

void channel_blocks_mean(float* y, const float* x, int64_t N, int64_t C, int64_t H, int64_t W,
                         const ChannelBlocks& b) {
  const int64_t vw = channel_block_width(), blocks = (C + vw - 1) / vw;
  const int64_t row = (W + 2 * b.halo_w) * vw, plane = (H + 2 * b.halo_h) * row;
  const int64_t lead = b.halo_h * row + b.halo_w * vw;  // pixel (0, 0) from the block's start
  const double inv = 1.0 / static_cast<double>(H * W);
  // One task a block: a few thousand vectors each, too little to split further. The threads take
  // the blocks in order from 8 K floats on, far below the elementwise ops' threshold: the value's
  // producer is usually a 1x1 layer of more outputs than pixels (MobileNetV2's last, 320 -> 1280
  // at 7x7), whose threads split the channels in order too, so each core averages what it wrote;
  // one thread read half of it from the other core (2 threads: 13.5 us, 1 thread 5.2; now 6.7).
#pragma omp parallel for schedule(static) if (N * blocks > 1 && N * C * H * W >= (1 << 13))
  for (int64_t nb = 0; nb < N * blocks; ++nb) {
    double sum[kMaxLanes] = {};
    block_sums(sum, x + nb * plane + lead, row, W, H, vw);
    const int64_t n = nb / blocks, c0 = nb % blocks * vw;
    for (int64_t l = 0; l < vw && c0 + l < C; ++l)
      y[n * C + c0 + l] = static_cast<float>(sum[l] * inv);
  }
}

void channel_blocks_scale(float* y, const float* x, const float* s, int64_t scale_images, int64_t N,
                          int64_t C, int64_t H, int64_t W, const ChannelBlocks& b) {
  const int64_t vw = channel_block_width(), blocks = (C + vw - 1) / vw;
  const int64_t hp = H + 2 * b.halo_h, row = (W + 2 * b.halo_w) * vw, plane = hp * row;
  const int64_t side = b.halo_w * vw;  // the halo's floats at each end of an image row
  // Each image's block scales, the lanes past C zero (x's floats there are zero: they stay so), in
  // the calling thread's scratch: no allocation per squeeze-and-excitation block.
  static thread_local Scratch lanes_scratch;
  float* const lanes = lanes_scratch.get(static_cast<size_t>(scale_images * blocks * vw));
  for (int64_t n = 0; n < scale_images; ++n) {
    float* const row = lanes + n * blocks * vw;
    std::copy(s + n * C, s + (n + 1) * C, row);
    std::fill(row + C, row + blocks * vw, 0.0f);
  }
  // The threads split each block's rows, the halo's included (thread t takes the same band of every
  // block), as the 1x1 projection reading y splits its output rows: each core then reads the rows
  // it scaled from its own cache (split by blocks, each read half its rows from the other core's).
  // The halo is not scaled (a scale of inf or NaN would put NaN in the padding the next
  // convolution reads): zeros into y's where y is not x.
  parallel_range(
      N * hp,
      [&](int64_t begin, int64_t end) {
        for (int64_t r = begin; r < end; ++r) {
          const int64_t n = r / hp, h = r % hp;
          const float* scale = lanes + (scale_images == 1 ? 0 : n * blocks * vw);
          const bool halo = h < b.halo_h || h >= H + b.halo_h;
          for (int64_t k = 0; k < blocks; ++k) {
            const int64_t at = (n * blocks + k) * plane + h * row;
            if (halo) {
              if (y != x) std::fill(y + at, y + at + row, 0.0f);
              continue;
            }
            if (y != x && side) {
              std::fill(y + at, y + at + side, 0.0f);
              std::fill(y + at + row - side, y + at + row, 0.0f);
            }
            scale_pixels(y + at + side, x + at + side, scale + k * vw, W, vw);
          }
        }
      },
      std::max<int64_t>(1, kElementwiseParallel / (blocks * row)));
}

}  // namespace pycnn::cpu
