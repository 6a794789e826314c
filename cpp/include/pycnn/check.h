// Errors for pycnn's C++ core.
//
// Library code never aborts, asserts or exits: every check throws one of these, and the nanobind
// module turns them into Python exceptions (ValueError for std::invalid_argument, TypeError for
// pycnn::TypeError, RuntimeError for pycnn::RuntimeError). Messages name the op, the argument,
// what was expected and what came.
#pragma once

#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>
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

template <typename... Parts>
std::string concat(const Parts&... parts) {
  std::ostringstream out;
  (out << ... << parts);
  return out.str();
}

// "(2, 3, 5)": the Python spelling, so messages read like the caller's own code.
inline std::string shape_str(const std::vector<int64_t>& shape) {
  std::ostringstream out;
  out << "(";
  for (size_t i = 0; i < shape.size(); ++i) out << (i ? ", " : "") << shape[i];
  if (shape.size() == 1) out << ",";
  out << ")";
  return out.str();
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

}  // namespace pycnn
