// The inference plan's ops on values kept in channel blocks (cpu::ChannelBlocks, conv2d_prepared.h)
// other than the convolutions: the two halves of a squeeze-and-excitation block (MobileNetV3's,
// EfficientNet's), so that the depthwise layer before it, the block and the 1x1 projection after
// it all stay in blocks (onnxruntime runs them in its NCHWc too). Without them the depthwise layer
// wrote NCHW planes for the pool and the Mul, and the projection read them back a channel plane at
// a time.
//
//   channel_blocks_mean:  y [N, C] = the mean of each channel's H x W plane of x (a global average
//                         pool; y is [N, C, 1, 1] in NCHW)
//   channel_blocks_scale: y = x * s[n, c] for every pixel of channel c of image n (a Mul by a
//                         [N, C, 1, 1] or [1, C, 1, 1] scale); x and y in the same layout, y may be
//                         x. The halo stays zero, the lanes past C too.
#pragma once

#include <cstdint>

#include "pycnn/ops/conv2d_prepared.h"

namespace pycnn::cpu {

// x: N images of [C, H, W] in channel blocks b.
void channel_blocks_mean(float* y, const float* x, int64_t N, int64_t C, int64_t H, int64_t W,
                         const ChannelBlocks& b);

// s: scale_images (1 or N) rows of C floats; the images of x past the first share its row when
// scale_images is 1.
void channel_blocks_scale(float* y, const float* x, const float* s, int64_t scale_images, int64_t N,
                          int64_t C, int64_t H, int64_t W, const ChannelBlocks& b);

}  // namespace pycnn::cpu
