// The shape structs of conv2d and the 2-d pools from the arguments as Python passes them: the rank
// checks, the struct filled in, its validate(). One path for the ops' bindings (conv2d.cpp,
// max_pool2d.cpp, avg_pool2d.cpp) and for the shape queries in shape_rules.cpp, so a shape that a
// query accepts is one the op accepts, with the same messages.
#pragma once

#include "common.h"
#include "pycnn/ops/conv2d.h"
#include "pycnn/ops/pool2d.h"

namespace pycnn {

// op names the pool in messages: "max_pool2d" or "avg_pool2d" (whose dilation is (1, 1)).
inline Pool2dShape pool2d_shape(const char* op, const Shape& input_shape, Pair kernel_size,
                                Pair stride, Pair padding, Pair dilation, bool ceil_mode) {
  require_ndim(input_shape, 4, op, "input", "(N, C, H, W)");
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

inline Shape pool2d_output_shape(const Pool2dShape& s) { return {s.N, s.C, s.out_h(), s.out_w()}; }

// Also checks that the weight's input channels times groups match the input's channels.
inline Conv2dShape conv2d_shape(const Shape& input_shape, const Shape& weight_shape, Pair stride,
                                Pair padding, Pair dilation, int64_t groups) {
  require_ndim(input_shape, 4, "conv2d", "input", "(N, C, H, W)");
  require_ndim(weight_shape, 4, "conv2d", "weight", "(C_out, C_in/groups, KH, KW)");
  Conv2dShape s;
  s.N = input_shape[0], s.C_in = input_shape[1], s.H = input_shape[2], s.W = input_shape[3];
  s.C_out = weight_shape[0], s.KH = weight_shape[2], s.KW = weight_shape[3];
  std::tie(s.stride_h, s.stride_w) = stride;
  std::tie(s.pad_h, s.pad_w) = padding;
  std::tie(s.dil_h, s.dil_w) = dilation;
  s.groups = groups;
  s.validate();
  if (weight_shape[1] * groups != s.C_in)
    value_error("conv2d: weight of shape ", shape_str(weight_shape), " with groups=", groups,
                " expects input with ", weight_shape[1] * groups, " channels, got input of shape ",
                shape_str(input_shape));
  return s;
}

inline Shape conv2d_output_shape(const Conv2dShape& s) {
  return {s.N, s.C_out, s.out_h(), s.out_w()};
}

}  // namespace pycnn
