// A grow-only, 64-byte aligned scratch buffer. Kernels keep one per thread (thread_local) so the
// im2col and packing buffers are reused across calls instead of being mapped and faulted in again
// for every small layer.
#pragma once

#include <cstddef>

#include "pycnn/device.h"

namespace pycnn::cpu {

struct Scratch {
  float* data = nullptr;
  size_t capacity = 0;
  float* get(size_t floats) {
    if (floats > capacity) {
      cpu::release(data);
      data = nullptr;
      capacity = 0;
      data = static_cast<float*>(cpu::allocate(floats * sizeof(float)));
      capacity = floats;
    }
    return data;
  }
  Scratch() = default;
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  ~Scratch() { cpu::release(data); }
};

}  // namespace pycnn::cpu
