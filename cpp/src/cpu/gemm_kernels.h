// The per-instruction-set gemm kernels (gemm_avx512.cpp, gemm_avx2.cpp, gemm_portable.cpp), as seen
// by gemm.cpp: the tile they compute and the macro-kernel over packed panels.
#pragma once

#include <cstdint>

namespace pycnn::cpu {

struct GemmKernel {
  int mr;  // rows of an A panel
  int nr;  // columns of a B panel
  int vw;  // floats per vector (nr is two vectors)
  // C[rows, cols] (+)= A panels (kc x mr each, packed; or with lda != 0 a row-major A read in
  // place) times B panels (kc x nr each, panel q at Bp + q * b_panel, rows ldbp apart)
  void (*macro)(int64_t kc, const float* Ap, int64_t lda, int64_t rows, const float* Bp,
                int64_t b_panel, int64_t ldbp, int64_t cols, float* C, int64_t ldc,
                bool accumulate);
  // The same with B panels one vector (vw columns) wide: for products with at most vw columns,
  // which a panel of nr would fill half with padding.
  void (*macro_narrow)(int64_t kc, const float* Ap, int64_t lda, int64_t rows, const float* Bp,
                       int64_t b_panel, int64_t ldbp, int64_t cols, float* C, int64_t ldc,
                       bool accumulate);
  // The same as macro, C's full tiles stored past the caches (not accumulating; C's rows aligned to
  // a vector): a large C written once.
  void (*macro_stream)(int64_t kc, const float* Ap, int64_t lda, int64_t rows, const float* Bp,
                       int64_t b_panel, int64_t ldbp, int64_t cols, float* C, int64_t ldc,
                       bool accumulate);
  // C[m, n] (+)= A[m, :] . B[n, :] (both row-major, K long) for m < M <= 4, n in [n0, n1).
  void (*dot_rows)(const float* A, int64_t lda, int M, const float* B, int64_t ldb, int64_t K,
                   int64_t n0, int64_t n1, float* C, int64_t ldc, bool accumulate);
  // d[k * ldd + c] (+)= X[c * ld + k] for c < cols, k < kc, and (not accumulating) zero for cols <=
  // c < width: a transpose in registers (a gathering pack's panel: ldd = width; C = T^T).
  void (*transpose_rows)(float* d, int64_t ldd, const float* X, int64_t ld, int64_t cols,
                         int64_t width, int64_t kc, bool accumulate);
  const char* isa;
};

GemmKernel gemm_kernel_avx512();
GemmKernel gemm_kernel_avx2();
GemmKernel gemm_kernel_portable();

}  // namespace pycnn::cpu
