// Single-precision matrix multiply on the GPU: the engine under conv2d and linear on CUDA.
//
//   C[M, N] = op(A)[M, K] * op(B)[K, N]        (accumulate == false)
//   C[M, N] += op(A)[M, K] * op(B)[K, N]       (accumulate == true)
//
// Row-major throughout, the same contract as cpu::gemm (pycnn/gemm.h): op(A) is A (stored M x K, row
// stride lda) or, with trans_a, A^T (A stored K x M); likewise B. Pointers are device pointers; the
// work is queued on pycnn::cuda::stream(). The kernel (cpp/src/cuda/gemm_mainloop.cuh) tiles C in
// shared memory with an 8 x 8 register tile per thread; with set_allow_tf32(true) it runs on the tensor
// cores in TF32 (10-bit mantissa products, FP32 sums: about 1e-3 relative error instead of 1e-6),
// like torch.backends.cuda.matmul.allow_tf32.
#pragma once

#include <cstdint>

namespace pycnn::cuda {

void gemm(float* C, int64_t ldc, const float* A, int64_t lda, const float* B, int64_t ldb,
          int64_t M, int64_t N, int64_t K, bool trans_a, bool trans_b, bool accumulate);

// The same with a bias added to every row: C[m, n] (+)= ... + bias[n] (linear's forward).
void gemm_bias(float* C, int64_t ldc, const float* A, int64_t lda, const float* B, int64_t ldb,
               int64_t M, int64_t N, int64_t K, bool trans_a, bool trans_b, bool accumulate,
               const float* bias);

// TF32 tensor cores for every GPU matrix product (gemm, conv2d, linear); off by default.
void set_allow_tf32(bool allow);
bool allow_tf32();

}  // namespace pycnn::cuda
