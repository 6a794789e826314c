// linear: fully connected layer, y = x @ w^T + b, as torch.nn.functional.linear.
//
//   input  x [N, in]   (leading dimensions flattened into N by the binding)
//   weight w [out, in]
//   bias   b [out] (may be null)
//   output y [N, out]
//
// Accumulation contract: dw += , db += ; dx = .
#pragma once

#include <cstdint>

namespace pycnn {

struct LinearShape {
  int64_t N, in_features, out_features;
};

namespace cpu {
void linear_forward(float* y, const float* x, const float* w, const float* b, const LinearShape& s);
// The inference plan's form: the weight packed once by linear_pack_weight into
// linear_packed_floats(s) floats: w transposed with its rows zero-padded to whole blocks of
// outputs, so a batch of a few rows runs along the outputs in vectors (no per-output horizontal
// sum) and larger batches use the gemm on the same layout; or, for a large weight and a batch of a
// few rows, w as it is (see packs_transposed in linear.cpp).
int64_t linear_packed_floats(const LinearShape& s);
void linear_pack_weight(float* wp, const float* w, const LinearShape& s);
void linear_forward_packed(float* y, const float* x, const float* wp, const float* b,
                           const LinearShape& s);
void linear_backward(float* dx, float* dw, float* db, const float* dy, const float* x,
                     const float* w, const LinearShape& s);
}  // namespace cpu

namespace cuda {
void linear_forward(float* y, const float* x, const float* w, const float* b, const LinearShape& s);
void linear_backward(float* dx, float* dw, float* db, const float* dy, const float* x,
                     const float* w, const LinearShape& s);
}  // namespace cuda

}  // namespace pycnn
