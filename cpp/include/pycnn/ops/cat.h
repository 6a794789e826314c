// cat: concatenation along one dimension, as torch.cat.
//
// Every tensor is viewed as [outer, size_k, inner] (outer: the product of the dimensions before
// `dim`, inner: those after); the output is [outer, sum_k size_k, inner] and input k lands at
// offset sum_{j<k} size_j along the middle axis.
//   forward  y = cat(x_0, ..., x_{K-1})
//   backward dx_k = the slice of dy that x_k filled (overwritten, =; a null dx_k is skipped)
#pragma once

#include <cstdint>
#include <vector>

namespace pycnn {

struct CatShape {
  int64_t outer, inner;
  std::vector<int64_t> sizes;  // size_k along dim, one per input
  int64_t total() const {
    int64_t t = 0;
    for (int64_t v : sizes) t += v;
    return t;
  }
};

namespace cpu {
void cat_forward(float* y, const std::vector<const float*>& xs, const CatShape& s);
void cat_backward(const std::vector<float*>& dxs, const float* dy, const CatShape& s);
}  // namespace cpu

namespace cuda {
void cat_forward(float* y, const std::vector<const float*>& xs, const CatShape& s);
void cat_backward(const std::vector<float*>& dxs, const float* dy, const CatShape& s);
}  // namespace cuda

}  // namespace pycnn
