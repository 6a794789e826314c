// Argument checks shared by every op's binding. Each names the op and the argument, what was
// expected and what came, and throws (ValueError / TypeError in Python); kernels below the bindings
// can then trust their inputs.
#pragma once

#include <nanobind/nanobind.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/vector.h>

#include <optional>
#include <string>
#include <vector>

#include "pycnn/check.h"
#include "pycnn/tensor.h"

namespace pycnn {

namespace nb = nanobind;

inline void require_dtype(const Tensor& t, DType dtype, const char* op, const char* arg) {
  if (!t.defined()) value_error(op, ": ", arg, " is an undefined tensor");
  if (t.dtype() != dtype)
    type_error(op, ": expected ", arg, " to be ", dtype_name(dtype), ", got ",
               dtype_name(t.dtype()));
}

inline void require_float(const Tensor& t, const char* op, const char* arg) {
  require_dtype(t, DType::Float32, op, arg);
}

// Also for a shape that comes without its tensor (a backward's input_shape, a shape rule's query).
inline void require_ndim(const Shape& shape, int ndim, const char* op, const char* arg,
                         const char* layout) {
  if (static_cast<int>(shape.size()) != ndim)
    value_error(op, ": expected ", arg, " to be ", ndim, "-d ", layout, ", got shape ",
                shape_str(shape));
}

inline void require_ndim(const Tensor& t, int ndim, const char* op, const char* arg,
                         const char* layout) {
  require_ndim(t.shape(), ndim, op, arg, layout);
}

inline void require_shape(const Tensor& t, const Shape& shape, const char* op, const char* arg) {
  if (t.shape() != shape)
    value_error(op, ": expected ", arg, " of shape ", shape_str(shape), ", got ",
                shape_str(t.shape()));
}

inline void require_same_device(const Tensor& a, const Tensor& b, const char* op, const char* arg_a,
                                const char* arg_b) {
  if (a.device() != b.device())
    value_error(op, ": expected ", arg_a, " and ", arg_b, " on the same device, got ",
                device_name(a.device()), " and ", device_name(b.device()));
}

// A tensor that rides along with a parameter (its gradient, an optimizer state buffer): float32, the
// parameter's shape, on its device.
inline void require_like_param(const Tensor& t, const Tensor& param, const char* op,
                               const char* arg) {
  require_float(t, op, arg);
  require_shape(t, param.shape(), op, arg);
  require_same_device(param, t, op, "param", arg);
}

// A loss's input and target (mse_loss, the pointwise losses): float32, one device, the same shape
// (pycnn does not broadcast them), and a reduction code 0 none, 1 mean, 2 sum.
inline void require_loss_operands(const Tensor& x, const Tensor& t, int64_t reduction,
                                  const char* op) {
  require_float(x, op, "input");
  require_float(t, op, "target");
  require_same_device(x, t, op, "input", "target");
  if (x.shape() != t.shape())
    value_error(op, ": expected input and target of the same shape, got input ",
                shape_str(x.shape()), " and target ", shape_str(t.shape()),
                " (pycnn does not broadcast a loss's operands)");
  if (reduction < 0 || reduction > 2)
    value_error(op, ": unknown reduction code ", reduction, " (0 none, 1 mean, 2 sum)");
}

// A loss backward's grad_output checked against the loss's shape (x's with reduction None, a scalar
// otherwise), and its (dx, dt), each allocated like x where asked for.
inline std::tuple<std::optional<Tensor>, std::optional<Tensor>> loss_gradients(
    const Tensor& dloss, const Tensor& x, bool per_element, bool need_dx, bool need_dt,
    const char* op) {
  require_float(dloss, op, "grad_output");
  require_shape(dloss, per_element ? x.shape() : Shape{}, op, "grad_output");
  require_same_device(dloss, x, op, "grad_output", "input");
  std::optional<Tensor> dx, dt;
  if (need_dx) dx = Tensor::empty(x.shape(), DType::Float32, x.device());
  if (need_dt) dt = Tensor::empty(x.shape(), DType::Float32, x.device());
  return {dx, dt};
}

inline Device parse_device(const std::string& name) {
  if (name == "cpu") return Device::CPU;
  if (name == "cuda" || name == "cuda:0") return Device::CUDA;
  value_error("device: expected 'cpu' or 'cuda', got '", name, "'");
}

inline DType parse_dtype(const std::string& name) {
  if (name == "float32") return DType::Float32;
  if (name == "int64") return DType::Int64;
  type_error("dtype: expected 'float32' or 'int64', got '", name, "'");
}

// A pair (h, w) from Python: two ints, each checked later by the op's shape struct.
using Pair = std::tuple<int64_t, int64_t>;

// Binding entry points of each op file, called from module.cpp.
void bind_tensor(nb::module_& m);
void bind_gemm(nb::module_& m);
void bind_conv2d(nb::module_& m);
void bind_conv2d_prepared(nb::module_& m);
void bind_linear(nb::module_& m);
void bind_elementwise(nb::module_& m);
void bind_max_pool2d(nb::module_& m);
void bind_avg_pool2d(nb::module_& m);
void bind_adaptive_avg_pool2d(nb::module_& m);
void bind_batch_norm(nb::module_& m);
void bind_local_response_norm(nb::module_& m);
void bind_dropout(nb::module_& m);
void bind_cat(nb::module_& m);
void bind_relu(nb::module_& m);
void bind_leaky_relu(nb::module_& m);
void bind_elu(nb::module_& m);
void bind_gelu(nb::module_& m);
void bind_silu(nb::module_& m);
void bind_softplus(nb::module_& m);
void bind_sigmoid(nb::module_& m);
void bind_tanh(nb::module_& m);
void bind_clip(nb::module_& m);
void bind_prelu(nb::module_& m);
void bind_softmax(nb::module_& m);
void bind_log_softmax(nb::module_& m);
void bind_cross_entropy(nb::module_& m);
void bind_mse_loss(nb::module_& m);
void bind_pointwise_loss(nb::module_& m);
void bind_sgd(nb::module_& m);
void bind_adam(nb::module_& m);
void bind_rmsprop(nb::module_& m);
void bind_shape_rules(nb::module_& m);
void bind_inference_plan(nb::module_& m);

}  // namespace pycnn
