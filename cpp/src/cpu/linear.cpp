// linear on the CPU: three calls of the packed sgemm.
//   forward  y[N, out]  = x[N, in] @ w[out, in]^T (+ b broadcast over rows)
//   backward dx[N, in]  = dy[N, out] @ w[out, in]
//            dw[out, in] += dy^T[out, N] @ x[N, in]
//            db[out]     += column sums of dy
#include "pycnn/ops/linear.h"

#include "pycnn/gemm.h"

namespace pycnn::cpu {

void linear_forward(float* y, const float* x, const float* w, const float* b,
                    const LinearShape& s) {
  const int64_t N = s.N, I = s.in_features, O = s.out_features;
  if (b) {  // start from the bias and accumulate the product onto it
    for (int64_t n = 0; n < N; ++n)
      for (int64_t o = 0; o < O; ++o) y[n * O + o] = b[o];
  }
  gemm(y, O, x, I, w, I, N, O, I, false, true, b != nullptr);
}

void linear_backward(float* dx, float* dw, float* db, const float* dy, const float* x,
                     const float* w, const LinearShape& s) {
  const int64_t N = s.N, I = s.in_features, O = s.out_features;
  if (dx) gemm(dx, I, dy, O, w, I, N, I, O, false, false, false);
  if (dw) gemm(dw, I, dy, O, x, I, O, I, N, true, false, true);
  if (db) {
    for (int64_t n = 0; n < N; ++n)
      for (int64_t o = 0; o < O; ++o) db[o] += dy[n * O + o];
  }
}

}  // namespace pycnn::cpu
