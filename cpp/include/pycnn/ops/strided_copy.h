// strided_copy: a view of x (shape, strides in floats of any sign, offset) copied into a contiguous
// y, the inference plan's Transpose (the input's strides permuted) and Slice (the starts as the
// offset, the steps times the strides):
//
//   y[i_0, ..., i_{d-1}] = x[offset + sum_k i_k * strides[k]]     (y row-major in `shape`)
//
// The plan runs on the CPU only (pycnn/inference/lowering.py), and training slices and permutes
// through the Tensor's own ops, so there is no backward and no CUDA twin.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

namespace pycnn::cpu {

// The lowest and highest float of x the view reads, relative to x (offset included); (0, -1) for
// an empty shape. ValueError for negative sizes or a reach past 2^62.
std::pair<int64_t, int64_t> strided_reach(const std::vector<int64_t>& shape,
                                          const std::vector<int64_t>& strides, int64_t offset);
void strided_copy(float* y, const float* x, const std::vector<int64_t>& shape,
                  const std::vector<int64_t>& strides, int64_t offset);

}  // namespace pycnn::cpu
