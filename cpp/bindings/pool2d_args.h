// The Pool2dShape of a max_pool2d or avg_pool2d call, from the arguments as Python passes them:
// one place that checks the rank and fills the struct, for both bindings.
#pragma once

#include "common.h"
#include "pycnn/ops/pool2d.h"

namespace pycnn {

inline Pool2dShape pool2d_shape(const char* op, const Shape& input_shape, Pair kernel_size,
                                Pair stride, Pair padding, Pair dilation, bool ceil_mode) {
  if (input_shape.size() != 4)
    value_error(op, ": expected input to be 4-d (N, C, H, W), got shape ", shape_str(input_shape));
  Pool2dShape s;
  s.N = input_shape[0], s.C = input_shape[1], s.H = input_shape[2], s.W = input_shape[3];
  std::tie(s.KH, s.KW) = kernel_size;
  std::tie(s.stride_h, s.stride_w) = stride;
  std::tie(s.pad_h, s.pad_w) = padding;
  std::tie(s.dil_h, s.dil_w) = dilation;
  s.ceil_mode = ceil_mode;
  s.validate(op);
  return s;
}

}  // namespace pycnn
