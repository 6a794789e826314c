// The gemm micro-kernel compiled for avx2 (flags set per file in CMakeLists.txt); gemm.cpp picks
// the widest one the processor supports at run time. Tile: 6 rows x 16 columns.
#include <cstdint>

#include "gemm_kernels.h"

namespace {
#define MR 6
#define NV 2
#define VW 8
#include "gemm_microkernel.inc"
}  // namespace

namespace pycnn::cpu {
static void macro_kernel_avx2(int64_t kc, const float* Ap, int64_t lda, int64_t rows,
                              const float* Bp, int64_t b_panel, int64_t ldbp, int64_t cols,
                              float* C, int64_t ldc, bool accumulate) {
  macro_kernel(kc, Ap, lda, rows, Bp, b_panel, ldbp, cols, C, ldc, accumulate);
}
static void dot_rows_avx2(const float* A, int64_t lda, int M, const float* B, int64_t ldb,
                          int64_t K, int64_t n0, int64_t n1, float* C, int64_t ldc,
                          bool accumulate) {
  dot_rows(A, lda, M, B, ldb, K, n0, n1, C, ldc, accumulate);
}
GemmKernel gemm_kernel_avx2() { return {MR, NR, macro_kernel_avx2, dot_rows_avx2, "avx2"}; }
}  // namespace pycnn::cpu
