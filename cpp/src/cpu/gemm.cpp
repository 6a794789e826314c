// Blocked, packed, multi-threaded sgemm (see pycnn/gemm.h for the contract).
//
// For each slice of KC along K: pack op(B) into column panels and op(A) into row panels (zero
// padded), then split the (row block, column block) grid over the threads; each task runs the
// macro-kernel, which keeps an A block in L2 and one B panel in L1 while the micro-kernel's
// accumulators stay in registers. The first slice stores (or accumulates, if asked), later slices
// accumulate.
#include "pycnn/gemm.h"

#include <omp.h>

#include <algorithm>
#include <vector>

#include "gemm_kernels.h"
#include "scratch.h"
#include "pycnn/check.h"
#include "pycnn/device.h"

namespace pycnn::cpu {

namespace {

constexpr int64_t KC = 256;  // depth of a packed slice: an 8 x 256 A panel is 8 KB
constexpr int64_t MC = 192;  // rows per task: the A block (192 x 256 floats, 192 KB) stays in L2
constexpr int64_t NC = 256;  // columns per task

const GemmKernel& kernel() {
  static const GemmKernel chosen = [] {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return gemm_kernel_avx512();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return gemm_kernel_avx2();
    return gemm_kernel_portable();
  }();
  return chosen;
}

// Ap[panel][k][r] = op(A)(row0 + panel*mr + r, k0 + k), zero beyond M.
void pack_a(float* Ap, const float* A, int64_t lda, bool trans_a, int64_t M, int64_t k0, int64_t kc,
            int mr, bool parallel) {
  int64_t panels = (M + mr - 1) / mr;
#pragma omp parallel for if (parallel && panels > 1) schedule(static)
  for (int64_t p = 0; p < panels; ++p) {
    float* dst = Ap + p * kc * mr;
    int64_t i0 = p * mr;
    int rows = static_cast<int>(std::min<int64_t>(mr, M - i0));
    if (trans_a) {  // A stored K x M: a row of the panel is contiguous in memory
      for (int64_t k = 0; k < kc; ++k) {
        const float* src = A + (k0 + k) * lda + i0;
        for (int r = 0; r < rows; ++r) dst[k * mr + r] = src[r];
        for (int r = rows; r < mr; ++r) dst[k * mr + r] = 0.0f;
      }
    } else {
      for (int r = 0; r < rows; ++r) {
        const float* src = A + (i0 + r) * lda + k0;
        for (int64_t k = 0; k < kc; ++k) dst[k * mr + r] = src[k];
      }
      for (int r = rows; r < mr; ++r)
        for (int64_t k = 0; k < kc; ++k) dst[k * mr + r] = 0.0f;
    }
  }
}

// Bp[panel][k][c] = op(B)(k0 + k, panel*nr + c), zero beyond N.
void pack_b(float* Bp, const float* B, int64_t ldb, bool trans_b, int64_t N, int64_t k0, int64_t kc,
            int nr, bool parallel) {
  int64_t panels = (N + nr - 1) / nr;
#pragma omp parallel for if (parallel && panels > 1) schedule(static)
  for (int64_t p = 0; p < panels; ++p) {
    float* dst = Bp + p * kc * nr;
    int64_t j0 = p * nr;
    int cols = static_cast<int>(std::min<int64_t>(nr, N - j0));
    if (!trans_b) {  // B stored K x N: a row of the panel is contiguous in memory
      for (int64_t k = 0; k < kc; ++k) {
        const float* src = B + (k0 + k) * ldb + j0;
        for (int c = 0; c < cols; ++c) dst[k * nr + c] = src[c];
        for (int c = cols; c < nr; ++c) dst[k * nr + c] = 0.0f;
      }
    } else {
      for (int c = 0; c < cols; ++c) {
        const float* src = B + (j0 + c) * ldb + k0;
        for (int64_t k = 0; k < kc; ++k) dst[k * nr + c] = src[k];
      }
      for (int c = cols; c < nr; ++c)
        for (int64_t k = 0; k < kc; ++k) dst[k * nr + c] = 0.0f;
    }
  }
}

}  // namespace

const char* gemm_isa() { return kernel().isa; }

void gemm(float* C, int64_t ldc, const float* A, int64_t lda, const float* B, int64_t ldb, int64_t M,
          int64_t N, int64_t K, bool trans_a, bool trans_b, bool accumulate, bool parallel) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {
    if (!accumulate)
      for (int64_t i = 0; i < M; ++i) std::fill(C + i * ldc, C + i * ldc + N, 0.0f);
    return;
  }
  const GemmKernel& kern = kernel();
  const int64_t m_panels = (M + kern.mr - 1) / kern.mr;
  const int64_t n_panels = (N + kern.nr - 1) / kern.nr;
  const int64_t kc_max = std::min(K, KC);
  static thread_local Scratch a_scratch, b_scratch;
  float* Ap = a_scratch.get(static_cast<size_t>(m_panels * kern.mr * kc_max));
  float* Bp = b_scratch.get(static_cast<size_t>(n_panels * kern.nr * kc_max));
  // Threads pay off only when there is enough arithmetic to share (about 2 MFLOP).
  const bool threads = parallel && omp_get_max_threads() > 1 && M * N * K > (1 << 20);
  const int64_t m_tasks = (M + MC - 1) / MC, n_tasks = (N + NC - 1) / NC;

  for (int64_t k0 = 0; k0 < K; k0 += KC) {
    const int64_t kc = std::min(KC, K - k0);
    const bool acc = accumulate || k0 > 0;
    pack_a(Ap, A, lda, trans_a, M, k0, kc, kern.mr, threads);
    pack_b(Bp, B, ldb, trans_b, N, k0, kc, kern.nr, threads);
#pragma omp parallel for collapse(2) if (threads) schedule(static)
    for (int64_t ti = 0; ti < m_tasks; ++ti)
      for (int64_t tj = 0; tj < n_tasks; ++tj) {
        const int64_t i0 = ti * MC, j0 = tj * NC;
        kern.macro(kc, Ap + (i0 / kern.mr) * kc * kern.mr, std::min(MC, M - i0),
                   Bp + (j0 / kern.nr) * kc * kern.nr, std::min(NC, N - j0), C + i0 * ldc + j0,
                   ldc, acc);
      }
  }
}

void gemm_reference(float* C, int64_t ldc, const float* A, int64_t lda, const float* B, int64_t ldb,
                    int64_t M, int64_t N, int64_t K, bool trans_a, bool trans_b, bool accumulate) {
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      double sum = 0.0;
      for (int64_t k = 0; k < K; ++k) {
        float a = trans_a ? A[k * lda + i] : A[i * lda + k];
        float b = trans_b ? B[j * ldb + k] : B[k * ldb + j];
        sum += static_cast<double>(a) * b;
      }
      C[i * ldc + j] = static_cast<float>(accumulate ? C[i * ldc + j] + sum : sum);
    }
}

}  // namespace pycnn::cpu
