// The binding of an elementwise activation, written once: the tensor checks, the allocation and the
// CPU/CUDA dispatch of y = f(x; params) over a tensor of any shape (the kernels see flat arrays of
// n floats) and of its backward, which reads grad_output and the forward's saved input or output.
// Each cpp/bindings/<op>.cpp states only what is its own: the name, which tensor the backward
// reads, the parameters and the four launchers.
//
//   _C.<op>_forward(input, *params)                       -> output, same shape
//   _C.<op>_backward(grad_output, input|output, *params)  -> grad_input, overwritten (=)
//
// Messages name the op as "<op>" (forward) or "<op> backward", the argument, what was expected and
// what came.
#pragma once

#include <string>
#include <tuple>
#include <type_traits>

#include "common.h"

namespace pycnn {

template <typename... Params>
struct UnaryActivation {
  using Forward = void (*)(float* y, const float* x, Params..., int64_t n);
  using Backward = void (*)(float* dx, const float* dy, const float* saved, Params..., int64_t n);

  // The CUDA launchers come through PYCNN_CUDA_LAUNCHER: null in a build without CUDA.
  constexpr UnaryActivation(const char* name, const char* saved, Forward cpu_forward,
                            Forward cuda_forward, Backward cpu_backward, Backward cuda_backward)
      : name(name),
        saved(saved),
        cpu_forward(cpu_forward),
        cuda_forward(cuda_forward),
        cpu_backward(cpu_backward),
        cuda_backward(cuda_backward) {}

  const char* name;   // "relu": _C.relu_forward, _C.relu_backward, and every message
  const char* saved;  // "input" or "output": the tensor the backward reads beside grad_output
  Forward cpu_forward, cuda_forward;
  Backward cpu_backward, cuda_backward;
};

// Runs the launcher for `device`; asking for CUDA in a build without it raises, naming `op`.
template <typename Launcher, typename... Args>
void launch_on(Device device, const char* op, Launcher cpu, Launcher cuda, Args... args) {
  if (device == Device::CPU) return cpu(args...);
  if (!cuda) throw_no_cuda(op);
  cuda(args...);
}

// kernel_params(label) -> std::tuple<Params...>: the launchers' parameters from the Python
// arguments. It runs after the tensor checks, so a wrong tensor is reported before a wrong
// parameter (gelu's approximate string), as when each op checked its own.
template <typename... Params, typename KernelParams>
Tensor unary_activation_forward(const UnaryActivation<Params...>& op, const Tensor& x,
                                KernelParams kernel_params) {
  require_float(x, op.name, "input");
  const std::tuple<Params...> params = kernel_params(op.name);
  Tensor y = Tensor::empty(x.shape(), DType::Float32, x.device());
  if (x.numel() == 0) return y;
  std::apply(
      [&](Params... p) {
        launch_on(x.device(), op.name, op.cpu_forward, op.cuda_forward, y.f32(), x.f32(), p...,
                  x.numel());
      },
      params);
  return y;
}

// saved: the forward's input or output, as op.saved says.
template <typename... Params, typename KernelParams>
Tensor unary_activation_backward(const UnaryActivation<Params...>& op, const Tensor& dy,
                                 const Tensor& saved, KernelParams kernel_params) {
  const std::string label = std::string(op.name) + " backward";
  require_float(dy, label.c_str(), "grad_output");
  require_float(saved, label.c_str(), op.saved);
  require_shape(dy, saved.shape(), label.c_str(), "grad_output");
  require_same_device(dy, saved, label.c_str(), "grad_output", op.saved);
  const std::tuple<Params...> params = kernel_params(label.c_str());
  Tensor dx = Tensor::empty(saved.shape(), DType::Float32, saved.device());
  if (dy.numel() == 0) return dx;
  std::apply(
      [&](Params... p) {
        launch_on(dy.device(), op.name, op.cpu_backward, op.cuda_backward, dx.f32(), dy.f32(),
                  saved.f32(), p..., dy.numel());
      },
      params);
  return dx;
}

// Each float parameter arrives from Python as a float (a C++ double), narrowed for the kernels.
template <typename Param>
using PythonFloat = std::conditional_t<std::is_same_v<Param, float>, double, Param>;

// Registers _C.<op>_forward and _C.<op>_backward for an activation whose parameters are all floats,
// named in Python by param_names (elu: "alpha").
template <typename... Params, typename... Names>
void bind_unary_activation(nb::module_& m, const UnaryActivation<Params...>& op,
                           Names... param_names) {
  static_assert((std::is_same_v<Params, float> && ...), "bind_unary_activation: float parameters");
  static_assert(sizeof...(Names) == sizeof...(Params),
                "bind_unary_activation: one name a parameter");
  m.def((std::string(op.name) + "_forward").c_str(),
        [op](const Tensor& x, PythonFloat<Params>... p) {
          return unary_activation_forward(
              op, x, [&](const char*) { return std::tuple<Params...>(static_cast<Params>(p)...); });
        },
        nb::arg("input"), nb::arg(param_names)...);
  m.def((std::string(op.name) + "_backward").c_str(),
        [op](const Tensor& dy, const Tensor& saved, PythonFloat<Params>... p) {
          return unary_activation_backward(op, dy, saved, [&](const char*) {
            return std::tuple<Params...>(static_cast<Params>(p)...);
          });
        },
        nb::arg("grad_output"), nb::arg(op.saved), nb::arg(param_names)...);
}

}  // namespace pycnn
