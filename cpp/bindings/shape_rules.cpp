// Shape rules as _C functions, so Python layers, shape inference and the ONNX importer and exporter
// ask the C++ rule (pool2d.h, conv2d.h) instead of writing the formula again:
//
//   pool_output_size(size, kernel, pad_begin, pad_end, stride, dilation, ceil_mode) -> int
//   conv_output_size(size, kernel, pad_begin, pad_end, stride, dilation) -> int
//       one axis; the padding split before and after the input as ONNX pads it (PyTorch: equal)
//   pool2d_output_shape(input_shape, kernel_size, stride, padding, dilation, ceil_mode,
//                       op="max_pool2d") -> [N, C, OH, OW]
//   conv2d_output_shape(input_shape, weight_shape, stride, padding, dilation, groups)
//       -> [N, C_out, OH, OW]
//       the whole check of max_pool2d/avg_pool2d/conv2d (shape_rules.h), with the ops' messages
//
// Bad arguments raise ValueError naming the function, the argument, what was expected and what
// came.
#include "shape_rules.h"

#include <nanobind/stl/string.h>

namespace pycnn {

// The one-axis checks both sizes share. PyTorch's extra pool rule, padding at most half the kernel,
// is pool2d_output_shape's, not this one's: ONNX pads may be larger.
static void check_window(const char* op, int64_t size, int64_t kernel, int64_t pad_begin,
                         int64_t pad_end, int64_t stride, int64_t dilation) {
  if (size <= 0) value_error(op, ": size must be positive, got ", size);
  if (kernel <= 0) value_error(op, ": kernel must be positive, got ", kernel);
  if (stride <= 0) value_error(op, ": stride must be positive, got ", stride);
  if (dilation <= 0) value_error(op, ": dilation must be positive, got ", dilation);
  if (pad_begin < 0 || pad_end < 0)
    value_error(op, ": pads must be non-negative, got pad_begin=", pad_begin,
                " and pad_end=", pad_end);
  check_window_bounds(op, {{"size", size},
                           {"kernel", kernel},
                           {"pad_begin", pad_begin},
                           {"pad_end", pad_end},
                           {"stride", stride},
                           {"dilation", dilation}});
}

static int64_t require_fits(const char* op, int64_t out, int64_t size, int64_t kernel,
                            int64_t pad_begin, int64_t pad_end, int64_t dilation) {
  if (out <= 0)
    value_error(op, ": kernel ", kernel, " with dilation ", dilation, " (extent ",
                dilation * (kernel - 1) + 1, ") does not fit the input size ", size, " padded by (",
                pad_begin, ", ", pad_end, "): output size would be ", out);
  return out;
}

static int64_t pool_output_size(int64_t size, int64_t kernel, int64_t pad_begin, int64_t pad_end,
                                int64_t stride, int64_t dilation, bool ceil_mode) {
  const char* op = "pool_output_size";
  check_window(op, size, kernel, pad_begin, pad_end, stride, dilation);
  const int64_t out =
      pool2d_out_size(size, kernel, pad_begin, pad_end, stride, dilation, ceil_mode);
  return require_fits(op, out, size, kernel, pad_begin, pad_end, dilation);
}

static int64_t conv_output_size(int64_t size, int64_t kernel, int64_t pad_begin, int64_t pad_end,
                                int64_t stride, int64_t dilation) {
  const char* op = "conv_output_size";
  check_window(op, size, kernel, pad_begin, pad_end, stride, dilation);
  const int64_t out = conv2d_out_size(size, kernel, pad_begin, pad_end, stride, dilation);
  return require_fits(op, out, size, kernel, pad_begin, pad_end, dilation);
}

void bind_shape_rules(nb::module_& m) {
  m.def("pool_output_size", &pool_output_size, nb::arg("size"), nb::arg("kernel"),
        nb::arg("pad_begin"), nb::arg("pad_end"), nb::arg("stride"), nb::arg("dilation"),
        nb::arg("ceil_mode"),
        "Output length of a max/avg pool along one axis: floor or ceil((size + pad_begin + pad_end "
        "- dilation*(kernel-1) - 1) / stride) + 1, less one with ceil_mode when the last window "
        "would start at or past size + pad_begin (PyTorch's rule).");
  m.def("conv_output_size", &conv_output_size, nb::arg("size"), nb::arg("kernel"),
        nb::arg("pad_begin"), nb::arg("pad_end"), nb::arg("stride"), nb::arg("dilation"),
        "Output length of a convolution along one axis: floor((size + pad_begin + pad_end - "
        "dilation*(kernel-1) - 1) / stride) + 1.");
  m.def(
      "pool2d_output_shape",
      [](const Shape& input_shape, Pair kernel_size, Pair stride, Pair padding, Pair dilation,
         bool ceil_mode, const std::string& op) {
        return pool2d_output_shape(pool2d_shape(op.c_str(), input_shape, kernel_size, stride,
                                                padding, dilation, ceil_mode));
      },
      nb::arg("input_shape"), nb::arg("kernel_size"), nb::arg("stride"), nb::arg("padding"),
      nb::arg("dilation"), nb::arg("ceil_mode"), nb::arg("op") = "max_pool2d",
      "[N, C, OH, OW] of max_pool2d (or, with op='avg_pool2d' and dilation (1, 1), avg_pool2d) "
      "on an input of shape (N, C, H, W); raises the op's own ValueError, naming op.");
  m.def(
      "conv2d_output_shape",
      [](const Shape& input_shape, const Shape& weight_shape, Pair stride, Pair padding,
         Pair dilation, int64_t groups) {
        return conv2d_output_shape(
            conv2d_shape(input_shape, weight_shape, stride, padding, dilation, groups));
      },
      nb::arg("input_shape"), nb::arg("weight_shape"), nb::arg("stride"), nb::arg("padding"),
      nb::arg("dilation"), nb::arg("groups"),
      "[N, C_out, OH, OW] of conv2d on an input (N, C_in, H, W) with a weight (C_out, "
      "C_in/groups, KH, KW); raises conv2d's own ValueError.");
}

}  // namespace pycnn
