// Single-precision matrix multiply for the CPU: the engine under conv2d and linear.
//
//   C[M, N] = op(A)[M, K] * op(B)[K, N]        (accumulate == false)
//   C[M, N] += op(A)[M, K] * op(B)[K, N]       (accumulate == true)
//
// Row-major throughout. op(A) is A (stored M x K, row stride lda) or, with trans_a, A^T (A stored
// K x M). Likewise B. The fast path packs B into column panels and A into row panels of the
// micro-kernel's width (the BLIS/Goto scheme), so the inner loop streams contiguous memory; the
// micro-kernel is compiled once per instruction set (AVX-512, AVX2+FMA, portable) and chosen at run
// time, so one build runs everywhere. OpenMP splits the blocks over the cores unless `parallel` is
// false (callers that already parallelise over images pass false).
#pragma once

#include <cstdint>

namespace pycnn::cpu {

void gemm(float* C, int64_t ldc, const float* A, int64_t lda, const float* B, int64_t ldb,
          int64_t M, int64_t N, int64_t K, bool trans_a, bool trans_b, bool accumulate,
          bool parallel = true);

// Up to this many rows M (and K >= 64), a product with B^T (trans_b: B stored [N, K], a fully
// connected layer's weight) runs as dot products that stream each row of B once.
constexpr int64_t kGemmDotRows = 4;

// op(A) packed once for many products with the same A (a conv layer's weights against every chunk
// of columns of every image: packing them per product cost as much as packing the columns).
// pack_a fills packed_a_floats(M, K) floats; gemm_packed_a then computes C (+)= op(A) * op(B) exactly
// as gemm would, reading the packed A in place of A (several threads may share one packed A).
int64_t packed_a_floats(int64_t M, int64_t K);
void pack_a(float* Ap, const float* A, int64_t lda, int64_t M, int64_t K, bool trans_a,
            bool parallel = true);
void gemm_packed_a(float* C, int64_t ldc, const float* Ap, const float* B, int64_t ldb, int64_t M,
                   int64_t N, int64_t K, bool trans_b, bool accumulate, bool parallel = true);

// The plain triple loop, in double accumulation: the reference the fast path is checked against.
void gemm_reference(float* C, int64_t ldc, const float* A, int64_t lda, const float* B, int64_t ldb,
                    int64_t M, int64_t N, int64_t K, bool trans_a, bool trans_b, bool accumulate);

// Which micro-kernel gemm() runs on this machine: "avx512", "avx2" or "portable".
const char* gemm_isa();

}  // namespace pycnn::cpu
