// Errors for pycnn's C++ core.
//
// Library code never aborts, asserts or exits: every check throws one of these, and the nanobind
// module turns them into Python exceptions (ValueError for std::invalid_argument, TypeError for
// pycnn::TypeError, RuntimeError for pycnn::RuntimeError). Messages name the op, the argument,
// what was expected and what came.
#pragma once

#include <cstdint>
#include <cstdio>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

namespace pycnn {

// A wrong dtype or kind of argument (becomes Python's TypeError).
class TypeError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A failure of the machine rather than of the arguments: out of memory, a CUDA error.
class RuntimeError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Message text is built with std::to_string and snprintf rather than iostreams: formatting a number
// through an ostream goes through the process's locale facets, and a process that also loads the
// CUDA driver and PyTorch was seen to crash there (H200, 2026-11-28). Plain formatting cannot.
inline void append_part(std::string& out, const std::string& part) { out += part; }
inline void append_part(std::string& out, const char* part) { out += part ? part : "(null)"; }
inline void append_part(std::string& out, char part) { out += part; }
inline void append_part(std::string& out, bool part) { out += part ? "true" : "false"; }
template <typename T>
std::enable_if_t<std::is_integral_v<T>> append_part(std::string& out, T part) {
  out += std::to_string(part);
}
template <typename T>
std::enable_if_t<std::is_floating_point_v<T>> append_part(std::string& out, T part) {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%g", static_cast<double>(part));
  out += buffer;
}

template <typename... Parts>
std::string concat(const Parts&... parts) {
  std::string out;
  (append_part(out, parts), ...);
  return out;
}

// "(2, 3, 5)": the Python spelling, so messages read like the caller's own code.
inline std::string shape_str(const std::vector<int64_t>& shape) {
  std::string out = "(";
  for (size_t i = 0; i < shape.size(); ++i) out += (i ? ", " : "") + std::to_string(shape[i]);
  if (shape.size() == 1) out += ",";
  return out + ")";
}

template <typename... Parts>
[[noreturn]] void value_error(const Parts&... parts) {
  throw std::invalid_argument(concat(parts...));
}

template <typename... Parts>
[[noreturn]] void type_error(const Parts&... parts) {
  throw TypeError(concat(parts...));
}

template <typename... Parts>
[[noreturn]] void runtime_error(const Parts&... parts) {
  throw RuntimeError(concat(parts...));
}

// Sizes, kernels, strides, paddings and dilations (and window-like sizes such as LRN's) are at most
// 2^31 - 1, so pool2d_out_size's formula cannot overflow int64 (dilation * (kernel - 1) < 2^62) whatever a caller passes: padding 2^63 - 1 wrapped
// the sum round to a valid-looking output size, and the kernels then read far outside the input.
constexpr int64_t kMaxWindowArgument = (int64_t(1) << 31) - 1;

struct WindowArgument {
  const char* name;
  int64_t value;
};

// Raises ValueError, naming `op` and the argument, for a value over kMaxWindowArgument.
inline void check_window_bounds(const char* op, std::initializer_list<WindowArgument> arguments) {
  for (const WindowArgument& a : arguments)
    if (a.value > kMaxWindowArgument)
      value_error(op, ": ", a.name, " must be below 2^31, got ", a.value);
}

}  // namespace pycnn
