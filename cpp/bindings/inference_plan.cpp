// InferencePlan binding: _C.InferencePlan(arena_floats), one add_<op>(...) per kind of step, and
// run(arena, begin, end), which releases the GIL. Every offset is a float index into the arena and
// is checked against the arena's size when the step is added; every shape is checked by the op's
// shape struct, so a hostile call raises ValueError instead of reading outside the arena. Weights
// are copied into the step (the caller may drop its arrays).
#include "pycnn/inference_plan.h"

#include <nanobind/ndarray.h>
#include <nanobind/stl/string.h>
#include <omp.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <memory>
#include <utility>

#include "common.h"
#include "pycnn/ops/adaptive_avg_pool2d.h"
#include "pycnn/ops/avg_pool2d.h"
#include "pycnn/ops/cat.h"
#include "pycnn/ops/channel_blocks.h"
#include "pycnn/ops/clip.h"
#include "pycnn/ops/conv2d.h"
#include "pycnn/ops/conv2d_prepared.h"
#include "pycnn/ops/elementwise.h"
#include "pycnn/ops/elu.h"
#include "pycnn/ops/gelu.h"
#include "pycnn/ops/hardswish.h"
#include "pycnn/ops/leaky_relu.h"
#include "pycnn/ops/linear.h"
#include "pycnn/ops/local_response_norm.h"
#include "pycnn/ops/log_softmax.h"
#include "pycnn/ops/max_pool2d.h"
#include "pycnn/ops/prelu.h"
#include "pycnn/ops/relu.h"
#include "pycnn/ops/sigmoid.h"
#include "pycnn/ops/silu.h"
#include "pycnn/ops/softmax.h"
#include "pycnn/ops/softplus.h"
#include "pycnn/ops/strided_copy.h"
#include "pycnn/ops/tanh.h"
#include "pycnn/thread_governor.h"

namespace pycnn {

namespace {

using Floats = std::shared_ptr<const std::vector<float>>;
using Array = nb::ndarray<const float, nb::c_contig, nb::device::cpu>;
using Arena = nb::ndarray<float, nb::ndim<1>, nb::c_contig, nb::device::cpu>;
using Seconds = nb::ndarray<double, nb::ndim<1>, nb::c_contig, nb::device::cpu>;
using Dims = std::vector<int64_t>;

// The element count of dims, refused past 2^60 (a wrapped product would pass the arena's range check
// with a small count and the step would then run far outside the arena).
int64_t product(const Dims& dims) { return numel_of(dims, "InferencePlan"); }

// A copy of `a`, which must hold `count` floats (null when `a` is absent and `optional`).
Floats copy_array(const std::optional<Array>& a, int64_t count, const char* what) {
  if (!a) return nullptr;
  if (static_cast<int64_t>(a->size()) != count)
    value_error("InferencePlan: expected ", what, " to hold ", count, " floats, got ", a->size());
  return std::make_shared<const std::vector<float>>(a->data(), a->data() + a->size());
}

const float* data(const Floats& f) { return f ? f->data() : nullptr; }

struct Plan {
  using Step = InferencePlan::Step;
  InferencePlan plan;
  explicit Plan(int64_t arena_floats) : plan(arena_floats) {}

  void range(int64_t offset, int64_t count, const char* what) const {
    plan.check_range(offset, count, what);
  }

  static Conv2dShape conv_shape(const Dims& input, const Dims& weight, Pair stride, Pair padding,
                                Pair dilation, int64_t groups, const char* op) {
    require_ndim(input, 4, op, "input_shape", "(N, C, H, W)");
    if (weight.size() != 4) value_error(op, ": expected a 4-d weight");
    Conv2dShape s{input[0], input[1], input[2], input[3], weight[0], weight[2], weight[3]};
    std::tie(s.stride_h, s.stride_w) = stride;
    std::tie(s.pad_h, s.pad_w) = padding;
    std::tie(s.dil_h, s.dil_w) = dilation;
    s.groups = groups;
    s.validate();
    if (weight[1] != s.cin_per_group())
      value_error(op, ": weight has ", weight[1], " input channels, the input ", s.cin_per_group(),
                  " per group");
    return s;
  }

  static Dims dims_of(const Array& a) {
    Dims d;
    for (size_t i = 0; i < a.ndim(); ++i) d.push_back(int64_t(a.shape(i)));
    return d;
  }

  static cpu::ChannelBlocks blocks_of(const std::optional<Pair>& halo,
                                      const char* op = "InferencePlan.add_conv2d") {
    cpu::ChannelBlocks b;
    if (halo) {
      std::tie(b.halo_h, b.halo_w) = *halo;
      if (b.halo_h < 0 || b.halo_w < 0)
        value_error(op, ": expected a halo of at least (0, 0), got (", b.halo_h, ", ", b.halo_w,
                    ")");
    }
    return b;
  }

  // The (N, C, H, W) of a value in channel blocks: ValueError unless 4-d with positive sizes.
  static std::array<int64_t, 4> blocks_shape(const Dims& shape, const char* op) {
    require_ndim(shape, 4, op, "input_shape", "(N, C, H, W)");
    if (product(shape) <= 0)
      value_error(op, ": expected positive sizes, got input ", shape_str(shape));
    return {shape[0], shape[1], shape[2], shape[3]};
  }

  // input_blocks, output_blocks, residual_blocks: None (NCHW) or the halo (h, w) of a value kept
  // in channel blocks (cpu::ChannelBlocks), for convolutions that take them only
  // (conv2d_takes_channel_blocks). gate: "silu" or "hardswish" after the clamp (cpu::Conv2dGate),
  // "" for none.
  void add_conv2d(const std::string& name, int64_t y, int64_t x, const Array& weight,
                  const std::optional<Array>& bias, const Dims& input, Pair stride, Pair padding,
                  Pair dilation, int64_t groups, int64_t residual, float lo, float hi,
                  const std::optional<Pair>& input_blocks, const std::optional<Pair>& output_blocks,
                  const std::optional<Pair>& residual_blocks, const std::string& gate) {
    cpu::Conv2dGate g = cpu::Conv2dGate::None;
    if (gate == "silu") g = cpu::Conv2dGate::Silu;
    else if (gate == "hardswish") g = cpu::Conv2dGate::HardSwish;
    else if (!gate.empty())
      value_error("InferencePlan.add_conv2d: unknown gate '", gate,
                  "' (expected '', 'silu' or 'hardswish')");
    const Conv2dShape s = conv_shape(input, dims_of(weight), stride, padding, dilation, groups,
                                     "InferencePlan.add_conv2d");
    cpu::Conv2dLayouts layouts{blocks_of(input_blocks), blocks_of(output_blocks),
                               blocks_of(residual_blocks)};
    if (residual < 0) layouts.residual = {};
    const int64_t OH = s.out_h(), OW = s.out_w();
    range(x, cpu::channel_blocks_floats(s.N, s.C_in, s.H, s.W, layouts.input), "conv2d input");
    range(y, cpu::channel_blocks_floats(s.N, s.C_out, OH, OW, layouts.output), "conv2d output");
    if (residual >= 0)
      range(residual, cpu::channel_blocks_floats(s.N, s.C_out, OH, OW, layouts.residual),
            "conv2d residual");
    Floats b = copy_array(bias, s.C_out, "bias");
    // Weights packed once, here; the step is shared by every run and thread (forward is const).
    auto conv = std::make_shared<const cpu::PreparedConv2d>(weight.data(), data(b), s, layouts);
    plan.add(name, [=](float* a) {
      cpu::Conv2dEpilogue e;
      e.residual = residual >= 0 ? a + residual : nullptr;
      e.clamp_min = lo;
      e.clamp_max = hi;
      e.gate = g;
      conv->forward(a + y, a + x, e);
    });
  }

  // y = max_pool(clamp(conv(x) + bias, lo, hi)) in one step (PreparedConv2d::forward_max_pool): the
  // convolution must take the packed path (conv2d_packs_panels), ValueError otherwise.
  void add_conv2d_max_pool(const std::string& name, int64_t y, int64_t x, const Array& weight,
                           const std::optional<Array>& bias, const Dims& input, Pair stride,
                           Pair padding, Pair dilation, int64_t groups, float lo, float hi,
                           Pair kernel, Pair pool_stride, Pair pool_padding, Pair pool_dilation,
                           bool ceil_mode) {
    const char* op = "InferencePlan.add_conv2d_max_pool";
    const Conv2dShape s = conv_shape(input, dims_of(weight), stride, padding, dilation, groups, op);
    if (!cpu::PreparedConv2d::packs_panels(s))
      value_error(op, ": the convolution does not take the packed path (conv2d_packs_panels)");
    const Pool2dShape p = pool_shape({s.N, s.C_out, s.out_h(), s.out_w()}, kernel, pool_stride,
                                     pool_padding, pool_dilation, ceil_mode, op);
    range(x, product({s.N, s.C_in, s.H, s.W}), "conv2d input");
    range(y, product({p.N, p.C, p.out_h(), p.out_w()}), "max_pool2d output");
    Floats b = copy_array(bias, s.C_out, "bias");
    auto conv = std::make_shared<const cpu::PreparedConv2d>(weight.data(), data(b), s);
    auto pool = std::make_shared<const cpu::MaxPoolBands>(p);
    plan.add(name, [=](float* a) {
      cpu::Conv2dEpilogue e;
      e.clamp_min = lo;
      e.clamp_max = hi;
      conv->forward_max_pool(a + y, a + x, e, *pool);
    });
  }

  // y[N, out] = x[N, in] @ weight[out, in]^T + bias.
  void add_linear(const std::string& name, int64_t y, int64_t x, const Array& weight,
                  const std::optional<Array>& bias, int64_t batch) {
    if (weight.ndim() != 2 || batch < 0)
      value_error("InferencePlan.add_linear: expected a 2-d weight");
    LinearShape s{batch, int64_t(weight.shape(1)), int64_t(weight.shape(0))};
    range(x, product({s.N, s.in_features}), "linear input");
    range(y, product({s.N, s.out_features}), "linear output");
    if (static_cast<int64_t>(weight.size()) != product({s.in_features, s.out_features}))
      value_error("InferencePlan.add_linear: expected a contiguous 2-d weight");
    auto packed =
        std::make_shared<std::vector<float>>(static_cast<size_t>(cpu::linear_packed_floats(s)));
    cpu::linear_pack_weight(packed->data(), weight.data(), s);
    Floats w = std::move(packed), b = copy_array(bias, s.out_features, "bias");
    plan.add(name,
             [=](float* a) { cpu::linear_forward_packed(a + y, a + x, w->data(), data(b), s); });
  }

  static Pool2dShape pool_shape(const Dims& input, Pair kernel, Pair stride, Pair padding,
                                Pair dilation, bool ceil_mode, const char* op) {
    require_ndim(input, 4, op, "input_shape", "(N, C, H, W)");
    Pool2dShape s{input[0], input[1], input[2], input[3], std::get<0>(kernel), std::get<1>(kernel)};
    std::tie(s.stride_h, s.stride_w) = stride;
    std::tie(s.pad_h, s.pad_w) = padding;
    std::tie(s.dil_h, s.dil_w) = dilation;
    s.ceil_mode = ceil_mode;
    s.validate(op);
    return s;
  }

  void add_max_pool2d(const std::string& name, int64_t y, int64_t x, const Dims& input, Pair kernel,
                      Pair stride, Pair padding, Pair dilation, bool ceil_mode) {
    Pool2dShape s = pool_shape(input, kernel, stride, padding, dilation, ceil_mode,
                               "InferencePlan.add_max_pool2d");
    range(x, product(input), "max_pool2d input");
    range(y, product({s.N, s.C, s.out_h(), s.out_w()}), "max_pool2d output");
    plan.add(name, [=](float* a) { cpu::max_pool2d_forward_values(a + y, a + x, s); });
  }

  void add_avg_pool2d(const std::string& name, int64_t y, int64_t x, const Dims& input, Pair kernel,
                      Pair stride, Pair padding, bool ceil_mode, bool count_include_pad) {
    Pool2dShape s = pool_shape(input, kernel, stride, padding, {1, 1}, ceil_mode,
                               "InferencePlan.add_avg_pool2d");
    range(x, product(input), "avg_pool2d input");
    range(y, product({s.N, s.C, s.out_h(), s.out_w()}), "avg_pool2d output");
    AvgPool2dOptions o{count_include_pad, 0};
    plan.add(name, [=](float* a) { cpu::avg_pool2d_forward(a + y, a + x, s, o); });
  }

  void add_adaptive_avg_pool2d(const std::string& name, int64_t y, int64_t x, const Dims& input,
                               Pair output_size) {
    require_ndim(input, 4, "InferencePlan.add_adaptive_avg_pool2d", "input_shape", "(N, C, H, W)");
    AdaptivePool2dShape s{
        input[0], input[1], input[2], input[3], std::get<0>(output_size), std::get<1>(output_size)};
    if (product(input) <= 0 || s.OH <= 0 || s.OW <= 0)
      value_error("InferencePlan.add_adaptive_avg_pool2d: expected positive sizes, got input ",
                  shape_str(input), " and output (", s.OH, ", ", s.OW, ")");
    range(x, product(input), "adaptive_avg_pool2d input");
    range(y, product({s.N, s.C, s.OH, s.OW}), "adaptive_avg_pool2d output");
    plan.add(name, [=](float* a) { cpu::adaptive_avg_pool2d_forward(a + y, a + x, s); });
  }

  // A squeeze-and-excitation block's halves on a value x [N, C, H, W] kept in channel blocks of
  // this halo (cpu::channel_blocks_mean, cpu::channel_blocks_scale): y [N, C, 1, 1] (NCHW) its
  // global average pool; or y = x * s, s [scale_images, C, 1, 1] (scale_images 1 or N) in the
  // arena, y in x's layout (may be x).
  void add_channel_blocks_mean(const std::string& name, int64_t y, int64_t x, const Dims& input,
                               Pair halo) {
    const char* op = "InferencePlan.add_channel_blocks_mean";
    const auto [N, C, H, W] = blocks_shape(input, op);
    const cpu::ChannelBlocks b = blocks_of(halo, op);
    range(x, cpu::channel_blocks_floats(N, C, H, W, b), "channel_blocks_mean input");
    range(y, N * C, "channel_blocks_mean output");
    plan.add(name, [=](float* a) { cpu::channel_blocks_mean(a + y, a + x, N, C, H, W, b); });
  }

  void add_channel_blocks_scale(const std::string& name, int64_t y, int64_t x, int64_t scale,
                                int64_t scale_images, const Dims& input, Pair halo) {
    const char* op = "InferencePlan.add_channel_blocks_scale";
    const auto [N, C, H, W] = blocks_shape(input, op);
    if (scale_images != 1 && scale_images != N)
      value_error(op, ": expected the scale for 1 or ", N, " images, got ", scale_images);
    const cpu::ChannelBlocks b = blocks_of(halo, op);
    const int64_t floats = cpu::channel_blocks_floats(N, C, H, W, b);
    range(x, floats, "channel_blocks_scale input");
    range(y, floats, "channel_blocks_scale output");
    range(scale, scale_images * C, "channel_blocks_scale scale");
    plan.add(name, [=](float* a) {
      cpu::channel_blocks_scale(a + y, a + x, a + scale, scale_images, N, C, H, W, b);
    });
  }

  // An elementwise activation over n floats; alpha and beta are its parameters (clip's bounds,
  // leaky_relu's slope, elu's alpha, softplus's beta and threshold, gelu's tanh flag).
  void add_unary(const std::string& name, const std::string& kind, int64_t y, int64_t x, int64_t n,
                 float alpha, float beta) {
    range(x, n, "activation input");
    range(y, n, "activation output");
    Step step;
    if (kind == "relu") step = [=](float* a) { cpu::relu_forward(a + y, a + x, n); };
    else if (kind == "clip")
      step = [=](float* a) { cpu::clip_forward(a + y, a + x, alpha, beta, n); };
    else if (kind == "leaky_relu")
      step = [=](float* a) { cpu::leaky_relu_forward(a + y, a + x, alpha, n); };
    else if (kind == "sigmoid") step = [=](float* a) { cpu::sigmoid_forward(a + y, a + x, n); };
    else if (kind == "tanh") step = [=](float* a) { cpu::tanh_forward(a + y, a + x, n); };
    else if (kind == "elu") step = [=](float* a) { cpu::elu_forward(a + y, a + x, alpha, n); };
    else if (kind == "gelu")
      step = [=](float* a) { cpu::gelu_forward(a + y, a + x, alpha != 0.0f, n); };
    else if (kind == "silu") step = [=](float* a) { cpu::silu_forward(a + y, a + x, n); };
    else if (kind == "hardswish") step = [=](float* a) { cpu::hardswish_forward(a + y, a + x, n); };
    else if (kind == "hardsigmoid")
      step = [=](float* a) { cpu::hardsigmoid_forward(a + y, a + x, alpha, beta, n); };
    else if (kind == "softplus")
      step = [=](float* a) { cpu::softplus_forward(a + y, a + x, alpha, beta, n); };
    else
      value_error("InferencePlan.add_unary: unknown activation '", kind,
                  "' (expected relu, clip, leaky_relu, sigmoid, tanh, elu, gelu, silu, softplus, ",
                  "hardswish, hardsigmoid)");
    plan.add(name, step);
  }

  // out = a (op) b with broadcasting; an operand is an arena offset, or a constant when its array
  // is given (offset ignored).
  void add_binary(const std::string& name, const std::string& op, int64_t out, int64_t a,
                  const Dims& a_shape, const std::optional<Array>& a_const, int64_t b,
                  const Dims& b_shape, const std::optional<Array>& b_const) {
    static const std::pair<const char*, BinaryOp> ops[] = {{"add", BinaryOp::Add},
                                                           {"sub", BinaryOp::Sub},
                                                           {"mul", BinaryOp::Mul},
                                                           {"div", BinaryOp::Div}};
    const auto* found = std::find_if(std::begin(ops), std::end(ops),
                                     [&](const auto& entry) { return op == entry.first; });
    if (found == std::end(ops))
      value_error("InferencePlan.add_binary: unknown op '", op, "' (expected add, sub, mul, div)");
    const BinaryOp kind = found->second;
    BroadcastShape s = BroadcastShape::make(a_shape, b_shape, "InferencePlan.add_binary");
    Floats ca = copy_array(a_const, product(a_shape), "the constant a");
    Floats cb = copy_array(b_const, product(b_shape), "the constant b");
    if (!ca) range(a, product(a_shape), "binary operand a");
    if (!cb) range(b, product(b_shape), "binary operand b");
    range(out, product(s.out), "binary output");
    plan.add(name, [=](float* arena) {
      cpu::binary_forward(arena + out, ca ? ca->data() : arena + a, cb ? cb->data() : arena + b,
                          kind, s);
    });
  }

  // Inputs are arena offsets, or constants where `consts` holds an array (offset ignored).
  void add_cat(const std::string& name, int64_t y, const Dims& xs,
               const std::vector<std::optional<Array>>& consts, int64_t outer, int64_t inner,
               const Dims& sizes) {
    if (xs.size() != sizes.size() || xs.size() != consts.size() || xs.empty() || outer < 0 ||
        inner < 0)
      value_error("InferencePlan.add_cat: expected one offset, constant and size per input, got ",
                  xs.size(), ", ", consts.size(), " and ", sizes.size());
    CatShape s{outer, inner, sizes};
    std::vector<Floats> constants;
    for (size_t k = 0; k < xs.size(); ++k) {
      const int64_t count = product({outer, sizes[k], inner});
      constants.push_back(copy_array(consts[k], count, "a constant input"));
      if (!constants.back()) range(xs[k], count, "cat input");
    }
    int64_t total = 0;  // s.total(), summed without overflow: each size passed product above
    for (int64_t d : sizes) {
      if (d > (int64_t(1) << 60) - total)
        value_error("InferencePlan.add_cat: the sizes ", shape_str(sizes), " sum past 2^60");
      total += d;
    }
    range(y, product({outer, total, inner}), "cat output");
    plan.add(name, [=](float* a) {
      std::vector<const float*> inputs;
      for (size_t k = 0; k < xs.size(); ++k)
        inputs.push_back(constants[k] ? constants[k]->data() : a + xs[k]);
      cpu::cat_forward(a + y, inputs, s);
    });
  }

  void add_softmax(const std::string& name, int64_t y, int64_t x, const Dims& shape, int64_t dim,
                   bool log) {
    SoftmaxShape s = SoftmaxShape::make(shape, dim, "InferencePlan.add_softmax");
    range(x, product(shape), "softmax input");
    range(y, product(shape), "softmax output");
    if (log) plan.add(name, [=](float* a) { cpu::log_softmax_forward(a + y, a + x, s); });
    else plan.add(name, [=](float* a) { cpu::softmax_forward(a + y, a + x, s); });
  }

  // y[n, c, i] = clamp(x[n, c, i] * scale[c] + shift[c], lo, hi): batch norm in eval mode, folded
  // to one multiply-add per value, with its activation.
  void add_channel_affine(const std::string& name, int64_t y, int64_t x, const Array& scale,
                          const Array& shift, int64_t batch, int64_t inner, float lo, float hi) {
    const int64_t C = scale.size();
    if (batch < 0 || inner < 0 || C <= 0)
      value_error("InferencePlan.add_channel_affine: expected non-negative sizes");
    Floats sc = copy_array(scale, C, "scale"), sh = copy_array(shift, C, "shift");
    range(x, product({batch, C, inner}), "channel_affine input");
    range(y, product({batch, C, inner}), "channel_affine output");
    plan.add(name, [=](float* a) {
#pragma omp parallel for if (batch * C * inner > (1 << 16)) schedule(static)
      for (int64_t p = 0; p < batch * C; ++p) {
        const float m = (*sc)[p % C], t = (*sh)[p % C];
        const float* src = a + x + p * inner;
        float* dst = a + y + p * inner;
        for (int64_t i = 0; i < inner; ++i) dst[i] = std::min(std::max(src[i] * m + t, lo), hi);
      }
    });
  }

  // y = x > 0 ? x : slope[c] * x over x viewed as [outer, channels, inner].
  void add_prelu(const std::string& name, int64_t y, int64_t x, const Array& slope, int64_t outer,
                 int64_t inner) {
    const int64_t channels = slope.size();
    if (outer < 0 || inner < 0 || channels <= 0)
      value_error("InferencePlan.add_prelu: expected non-negative sizes and a slope");
    PreluShape s{outer, channels, inner};
    Floats w = copy_array(slope, channels, "slope");
    range(x, product({outer, channels, inner}), "prelu input");
    range(y, product({outer, channels, inner}), "prelu output");
    plan.add(name, [=](float* a) { cpu::prelu_forward(a + y, a + x, w->data(), s); });
  }

  void add_local_response_norm(const std::string& name, int64_t y, int64_t x, const Dims& shape,
                               int64_t size, int64_t before, float alpha, float beta, float k) {
    if (shape.size() < 2 || size <= 0 || before < 0 || before >= size)
      value_error(
          "InferencePlan.add_local_response_norm: expected a rank >= 2 input and 0 <= before < "
          "size");
    const int64_t inner = product(Dims(shape.begin() + 2, shape.end()));
    product(shape);  // refuses a shape whose count overflows
    LocalResponseNormShape s{shape[0], shape[1], inner, size, before, alpha, beta, k};
    range(x, product(shape), "local_response_norm input");
    range(y, product(shape), "local_response_norm output");
    plan.add(name, [=](float* a) {
      thread_local std::vector<float> scale;  // saved for backward by the kernel; unused here
      scale.resize(s.N * s.C * s.inner);
      cpu::local_response_norm_forward(a + y, scale.data(), a + x, s);
    });
  }

  // y (contiguous, `shape`) = the view of the value at x (x_floats of it) with `strides` and
  // `offset` (cpu::strided_copy): Transpose and Slice. ValueError where the view reads outside it.
  void add_strided_copy(const std::string& name, int64_t y, int64_t x, int64_t x_floats,
                        const Dims& shape, const Dims& strides, int64_t offset) {
    const auto [lo, hi] = cpu::strided_reach(shape, strides, offset);
    range(x, x_floats, "strided copy input");
    if (lo <= hi && (lo < 0 || hi >= x_floats))
      value_error("InferencePlan.add_strided_copy: the view reads floats [", lo, ", ", hi,
                  "] of an input of ", x_floats);
    const int64_t n = lo <= hi ? product(shape) : 0;
    range(y, n, "strided copy output");
    plan.add(name, [=](float* a) { cpu::strided_copy(a + y, a + x, shape, strides, offset); });
  }

  void add_copy(const std::string& name, int64_t y, int64_t x, int64_t n) {
    range(x, n, "copy input");
    range(y, n, "copy output");
    plan.add(name, [=](float* a) { std::copy(a + x, a + x + n, a + y); });
  }

  void run(Arena arena, int64_t begin, int64_t end, int threads, std::optional<Seconds> seconds) {
    if (static_cast<int64_t>(arena.size()) < plan.arena_floats())
      value_error("InferencePlan.run: expected an arena of at least ", plan.arena_floats(),
                  " floats, got ", arena.size());
    if (begin < 0 || end > plan.size() || begin > end)  // before end - begin, which could overflow
      value_error("InferencePlan.run: expected 0 <= begin <= end <= ", plan.size(), ", got [",
                  begin, ", ", end, ")");
    if (seconds && static_cast<int64_t>(seconds->size()) != end - begin)
      value_error("InferencePlan.run: expected `seconds` to hold end - begin = ", end - begin,
                  " float64 values, got ", seconds->size());
    float* a = arena.data();
    double* times = seconds ? seconds->data() : nullptr;
    nb::gil_scoped_release release;
    // The team the caller asked for (not OpenMP's setting, which the governor may hold at one
    // thread), restored after a run with its own `threads`: restoring OpenMP's raw setting undid a
    // release the governor made during the run and left the thread at one thread for good.
    const int before = cpu::requested_threads();
    if (threads > 0) cpu::set_requested_threads(threads);  // governs too
    else cpu::govern_threads();
    try {
      plan.run(a, begin, end, times);
    } catch (...) {
      if (threads > 0) cpu::set_requested_threads(before);
      throw;
    }
    if (threads > 0) cpu::set_requested_threads(before);
  }
};

}  // namespace

// m.<name>(input_shape, weight_shape, stride, padding, dilation, groups): which path the plan's
// convolution of that shape takes, as `rule` says (PreparedConv2d's static shape rules).
template <typename R, R (*rule)(const Conv2dShape&)>
void def_conv_rule(nb::module_& m, const char* name, const char* doc) {
  m.def(
      name,
      [name](const Dims& input, const Dims& weight, Pair stride, Pair padding, Pair dilation,
             int64_t groups) {
        return rule(Plan::conv_shape(input, weight, stride, padding, dilation, groups, name));
      },
      nb::arg("input_shape"), nb::arg("weight_shape"), nb::arg("stride"), nb::arg("padding"),
      nb::arg("dilation"), nb::arg("groups"), doc);
}

template <bool (*rule)(const Conv2dShape&)>
void def_conv_path(nb::module_& m, const char* name, const char* doc) {
  def_conv_rule<bool, rule>(m, name, doc);
}

void bind_inference_plan(nb::module_& m) {
  def_conv_path<&cpu::PreparedConv2d::packs_panels>(
      m, "conv2d_packs_panels",
      "Whether the plan's convolution of this shape packs its input into panels (no Winograd, row "
      "tiles, wide or depthwise path): the convolutions add_conv2d_max_pool takes.");
  def_conv_path<&cpu::PreparedConv2d::row_tiles>(
      m, "conv2d_row_tiles",
      "Whether the plan's convolution of this shape takes the row-tile path (output channels along "
      "the vectors and pixels broadcast, no packing).");
  def_conv_path<&cpu::PreparedConv2d::winograd>(
      m, "conv2d_winograd",
      "Whether the plan's convolution of this shape (and conv2d's forward) runs as Winograd F(2x2, "
      "3x3) or F(4x4, 3x3), its panels of output tiles running on across the images of a batch.");
  def_conv_rule<int64_t, &cpu::PreparedConv2d::winograd_tile>(
      m, "conv2d_winograd_tile",
      "The side of the Winograd output tiles the plan's convolution of this shape computes: 2 for "
      "F(2x2, 3x3), 4 for F(4x4, 3x3), 0 where it does not run as Winograd.");
  def_conv_path<&cpu::PreparedConv2d::takes_channel_blocks>(
      m, "conv2d_takes_channel_blocks",
      "Whether the plan's convolution of this shape may read and write channel blocks (its input, "
      "output and residual): the row-tile path, and small or strided depthwise layers.");
  def_conv_path<&cpu::conv2d_winograd_weight_grad>(
      m, "conv2d_winograd_weight_grad",
      "Whether conv2d's backward of this shape sums the weight gradient by Winograd F(3x3, 2x2) or "
      "F(3x3, 4x4) (3x3 stride-1 layers of 32 channels and more each side, or 16 and more by "
      "F(3x3, "
      "4x4), 64 tiles of 2x2 outputs and more).");
  def_conv_rule<int64_t, &cpu::conv2d_winograd_weight_grad_tile>(
      m, "conv2d_winograd_weight_grad_tile",
      "The side of the blocks of dy conv2d's backward of this shape sums the weight gradient in: 2 "
      "for Winograd F(3x3, 2x2), 4 for F(3x3, 4x4), 0 where it is not Winograd's.");
  def_conv_path<&cpu::conv2d_weight_grad_column_copies>(
      m, "conv2d_weight_grad_column_copies",
      "Whether conv2d's backward of this shape sums the weight gradient with pixels along the "
      "vectors from column copies of the input (a copy per kernel column, each tap's pixels of an "
      "image one run): few input channels and rows short of a whole number of vectors.");
  m.def(
      "channel_blocks_floats",
      [](const Dims& shape, Pair halo) {
        require_ndim(shape, 4, "channel_blocks_floats", "shape", "(N, C, H, W)");
        return cpu::channel_blocks_floats(shape[0], shape[1], shape[2], shape[3],
                                          Plan::blocks_of(halo));
      },
      nb::arg("shape"), nb::arg("halo"),
      "Floats a value of shape (N, C, H, W) takes in channel blocks with this halo (its slack "
      "included).");
  m.def("channel_block_width", &cpu::channel_block_width,
        "Channels a block of the plan's channel-block layout holds (the CPU's vector width in "
        "floats: 16 with AVX-512, 8 with AVX2, 4 portable).");
  nb::class_<Plan>(m, "InferencePlan")
      .def(nb::init<int64_t>(), nb::arg("arena_floats"))
      .def_prop_ro("arena_floats", [](const Plan& p) { return p.plan.arena_floats(); })
      .def("__len__", [](const Plan& p) { return p.plan.size(); })
      .def_prop_ro("step_names", [](const Plan& p) { return p.plan.names(); })
      .def("add_conv2d", &Plan::add_conv2d, nb::arg("name"), nb::arg("y"), nb::arg("x"),
           nb::arg("weight"), nb::arg("bias").none(), nb::arg("input_shape"), nb::arg("stride"),
           nb::arg("padding"), nb::arg("dilation"), nb::arg("groups"), nb::arg("residual"),
           nb::arg("clamp_min"), nb::arg("clamp_max"), nb::arg("input_blocks").none() = nb::none(),
           nb::arg("output_blocks").none() = nb::none(),
           nb::arg("residual_blocks").none() = nb::none(), nb::arg("gate") = "")
      .def("add_conv2d_max_pool", &Plan::add_conv2d_max_pool, nb::arg("name"), nb::arg("y"),
           nb::arg("x"), nb::arg("weight"), nb::arg("bias").none(), nb::arg("input_shape"),
           nb::arg("stride"), nb::arg("padding"), nb::arg("dilation"), nb::arg("groups"),
           nb::arg("clamp_min"), nb::arg("clamp_max"), nb::arg("kernel"), nb::arg("pool_stride"),
           nb::arg("pool_padding"), nb::arg("pool_dilation"), nb::arg("ceil_mode"))
      .def("add_linear", &Plan::add_linear, nb::arg("name"), nb::arg("y"), nb::arg("x"),
           nb::arg("weight"), nb::arg("bias").none(), nb::arg("batch"))
      .def("add_max_pool2d", &Plan::add_max_pool2d, nb::arg("name"), nb::arg("y"), nb::arg("x"),
           nb::arg("input_shape"), nb::arg("kernel"), nb::arg("stride"), nb::arg("padding"),
           nb::arg("dilation"), nb::arg("ceil_mode"))
      .def("add_avg_pool2d", &Plan::add_avg_pool2d, nb::arg("name"), nb::arg("y"), nb::arg("x"),
           nb::arg("input_shape"), nb::arg("kernel"), nb::arg("stride"), nb::arg("padding"),
           nb::arg("ceil_mode"), nb::arg("count_include_pad"))
      .def("add_adaptive_avg_pool2d", &Plan::add_adaptive_avg_pool2d, nb::arg("name"), nb::arg("y"),
           nb::arg("x"), nb::arg("input_shape"), nb::arg("output_size"))
      .def("add_channel_blocks_mean", &Plan::add_channel_blocks_mean, nb::arg("name"), nb::arg("y"),
           nb::arg("x"), nb::arg("input_shape"), nb::arg("halo"))
      .def("add_channel_blocks_scale", &Plan::add_channel_blocks_scale, nb::arg("name"),
           nb::arg("y"), nb::arg("x"), nb::arg("scale"), nb::arg("scale_images"),
           nb::arg("input_shape"), nb::arg("halo"))
      .def("add_strided_copy", &Plan::add_strided_copy, nb::arg("name"), nb::arg("y"), nb::arg("x"),
           nb::arg("x_floats"), nb::arg("shape"), nb::arg("strides"), nb::arg("offset"))
      .def("add_unary", &Plan::add_unary, nb::arg("name"), nb::arg("kind"), nb::arg("y"),
           nb::arg("x"), nb::arg("n"), nb::arg("alpha") = 0.0f, nb::arg("beta") = 0.0f)
      .def("add_binary", &Plan::add_binary, nb::arg("name"), nb::arg("op"), nb::arg("y"),
           nb::arg("a"), nb::arg("a_shape"), nb::arg("a_const").none(), nb::arg("b"),
           nb::arg("b_shape"), nb::arg("b_const").none())
      .def("add_cat", &Plan::add_cat, nb::arg("name"), nb::arg("y"), nb::arg("xs"),
           nb::arg("consts"), nb::arg("outer"), nb::arg("inner"), nb::arg("sizes"))
      .def("add_softmax", &Plan::add_softmax, nb::arg("name"), nb::arg("y"), nb::arg("x"),
           nb::arg("shape"), nb::arg("dim"), nb::arg("log"))
      .def("add_channel_affine", &Plan::add_channel_affine, nb::arg("name"), nb::arg("y"),
           nb::arg("x"), nb::arg("scale"), nb::arg("shift"), nb::arg("batch"), nb::arg("inner"),
           nb::arg("clamp_min"), nb::arg("clamp_max"))
      .def("add_prelu", &Plan::add_prelu, nb::arg("name"), nb::arg("y"), nb::arg("x"),
           nb::arg("slope"), nb::arg("outer"), nb::arg("inner"))
      .def("add_local_response_norm", &Plan::add_local_response_norm, nb::arg("name"), nb::arg("y"),
           nb::arg("x"), nb::arg("shape"), nb::arg("size"), nb::arg("before"), nb::arg("alpha"),
           nb::arg("beta"), nb::arg("k"))
      .def("add_copy", &Plan::add_copy, nb::arg("name"), nb::arg("y"), nb::arg("x"), nb::arg("n"))
      .def("run", &Plan::run, nb::arg("arena"), nb::arg("begin"), nb::arg("end"),
           nb::arg("threads") = 0, nb::arg("seconds").none() = nb::none());
}

}  // namespace pycnn
