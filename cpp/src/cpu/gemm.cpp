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
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "gemm_kernels.h"
#include "pycnn/check.h"
#include "pycnn/device.h"
#include "scratch.h"

namespace pycnn::cpu {

namespace {

constexpr int64_t KC = 256;  // depth of a packed slice: an 8 x 256 A panel is 8 KB
constexpr int64_t MC = 192;  // rows per task: the A block (192 x 256 floats, 192 KB) stays in L2
constexpr int64_t NC = 256;  // columns per task
// gemm_blocked's slice depth where B is read in place (see there).
constexpr int64_t kDirectKC = 16;
// gemm_small_m_trans_b packs all of op(A)^T at once up to this many bytes (it then stays in L2).
constexpr int64_t kWholeAT = int64_t(1) << 20;

// The widest micro-kernel this processor runs, or the one PYCNN_GEMM_ISA names (avx512, avx2 or
// portable: the tests run every kernel this machine supports, including the portable one that
// aarch64 and other non-x86 machines use, through it).
GemmKernel choose_kernel() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  const bool avx512 = __builtin_cpu_supports("avx512f");
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
  const bool avx512 = false, avx2 = false;
#endif
  const char* forced = std::getenv("PYCNN_GEMM_ISA");
  if (forced && *forced) {
    const std::string isa(forced);
    if (isa == "portable") return gemm_kernel_portable();
    if (isa == "avx2" && avx2) return gemm_kernel_avx2();
    if (isa == "avx512" && avx512) return gemm_kernel_avx512();
    value_error("PYCNN_GEMM_ISA=", isa,
                ": expected one this processor supports: ", avx512 ? "avx512, " : "",
                avx2 ? "avx2, " : "", "portable");
  }
  if (avx512) return gemm_kernel_avx512();
  if (avx2) return gemm_kernel_avx2();
  return gemm_kernel_portable();  // any other machine (aarch64: 128-bit NEON vectors)
}

const GemmKernel& kernel() {
  static const GemmKernel chosen = choose_kernel();
  return chosen;
}

// Packs op(X) restricted to k in [k0, k0+kc) into panels of `width` along the other dimension:
//   dst[panel][k][c] = op(X)(panel*width + c, k0 + k), zero beyond `extent`.
// Works for both operands: an A panel holds rows of op(A), a B panel columns of op(B).
// When the stored matrix has k as its row index (A transposed, B not), each source row is contiguous
// across panels, so we stream rows (threads split k); otherwise each panel gathers `width` source
// rows, a vector of k at a time, transposed in registers (GemmKernel::transpose_rows).
void pack(float* dst, const float* X, int64_t ld, bool rows_are_k, int64_t extent, int64_t k0,
          int64_t kc, int width, bool parallel) {
  const int64_t panels = (extent + width - 1) / width;
  const int64_t full = extent / width, tail = extent - full * width;
  if (rows_are_k) {
#pragma omp parallel for if (parallel && kc > 16) schedule(static)
    for (int64_t k = 0; k < kc; ++k) {
      const float* src = X + (k0 + k) * ld;
      for (int64_t p = 0; p < full; ++p) {
        float* d = dst + p * kc * width + k * width;
        const float* sp = src + p * width;
        for (int c = 0; c < width; ++c) d[c] = sp[c];
      }
      if (tail) {  // copy, then zero: a per-element select here was a scalar loop
        float* d = dst + full * kc * width + k * width;
        std::copy(src + full * width, src + full * width + tail, d);
        std::fill(d + tail, d + width, 0.0f);
      }
    }
    return;
  }
  const GemmKernel& kern = kernel();
#pragma omp parallel for if (parallel && panels > 1) schedule(static)
  for (int64_t p = 0; p < panels; ++p)
    kern.transpose_rows(dst + p * kc * width, width, X + p * width * ld + k0, ld,
                        std::min<int64_t>(width, extent - p * width), width, kc, false);
}

}  // namespace

// C[M, N] (+)= op(A)[M, K] * B^T with B stored [N, K] and few rows M: a fully connected layer's
// forward at a batch up to 8 B panels wide (256 with AVX-512), and conv2d's dw (dy times col^T).
// Packing B here would gather every panel with a scalar transpose and use it only M/MR times (fc6
// at batch 32: 62 ms that way, 18 ms this way; batch 128: 92 -> 51 ms), so compute
// C^T[N, M] = B[N, K] * op(A)^T[K, M] instead: the micro-kernel reads B in place as its A operand,
// and only the small op(A) is packed. C^T goes through a scratch buffer and is transposed into C at
// the end.
static void gemm_small_m_trans_b(float* C, int64_t ldc, const float* A, int64_t lda, const float* B,
                                 int64_t ldb, int64_t M, int64_t N, int64_t K, bool trans_a,
                                 bool accumulate, bool threads) {
  const GemmKernel& kern = kernel();
  // Panels of op(A)^T one vector wide where M fits one (a batch of 16 with AVX-512): a panel of nr
  // would be half padding, and the micro-kernel would spend half its multiply-adds on it (AlexNet's
  // fc6 forward at batch 16: 13.0 ms that way, 6.6-7.8 ms in narrow panels).
  const bool narrow = M <= kern.vw && kern.vw < kern.nr;
  const int64_t width = narrow ? kern.vw : kern.nr;
  const auto macro = narrow ? kern.macro_narrow : kern.macro;
  const int64_t full_rows = N / kern.mr * kern.mr;  // rows of B read in place; the rest is packed
  const int64_t kc_max = std::min(K, KC), m_pad = (M + width - 1) / width * width;
  static thread_local Scratch tail_scratch, a_scratch, t_scratch;
  float* tail = tail_scratch.get(static_cast<size_t>(kern.mr * kc_max));
  float* T = t_scratch.get(static_cast<size_t>(N * M));
  // B's last rows (fewer than mr) times op(A)^T's slice k0 (Bs), packed since a panel reads mr rows.
  auto tail_slice = [&](int64_t k0, int64_t kc, const float* Bs) {
    pack(tail, B + full_rows * ldb, ldb, false, N - full_rows, k0, kc, kern.mr, false);
    macro(kc, tail, 0, N - full_rows, Bs, kc * width, width, M, T + full_rows * M, M, k0 > 0);
  };
  // op(A)^T is packed a chunk of K at a time, as much as fits in L2 (all of it for a batch up to 32
  // and K up to 8192), and each panel of mr rows of B runs through the whole chunk before the next.
  // B's rows are then read from start to end (or in chunk-long runs), mr streams at a time, which the
  // hardware prefetcher follows; slice by slice, every row was read as 1 KB pieces 4096 rows apart
  // (AlexNet's fc6 at batch 16: the forward took 82 ms, torch's 50; VGG-16's fc6 at batch 16, 3.2 MB
  // of op(A)^T, 64-65 ms against torch's 43, now 45 against 42).
  const int64_t chunk =
      std::max(KC, kWholeAT / (m_pad * static_cast<int64_t>(sizeof(float))) / KC * KC);
  float* Bw = a_scratch.get(static_cast<size_t>(std::min(K, chunk) * m_pad));
  const int64_t panels = full_rows / kern.mr;
  for (int64_t c0 = 0; c0 < K; c0 += chunk) {
    const int64_t c1 = std::min(K, c0 + chunk);  // slice k0 at Bw + (k0 - c0) * m_pad
    for (int64_t k0 = c0; k0 < c1; k0 += KC)
      pack(Bw + (k0 - c0) * m_pad, A, lda, trans_a, M, k0, std::min(KC, c1 - k0), width, threads);
#pragma omp parallel for if (threads && panels > 1) schedule(static)
    for (int64_t p = 0; p < panels; ++p)
      for (int64_t k0 = c0; k0 < c1; k0 += KC) {
        const int64_t kc = std::min(KC, c1 - k0);
        macro(kc, B + p * kern.mr * ldb + k0, ldb, kern.mr, Bw + (k0 - c0) * m_pad, kc * width,
              width, M, T + p * kern.mr * M, M, k0 > 0);
      }
    for (int64_t k0 = c0; full_rows < N && k0 < c1; k0 += KC)
      tail_slice(k0, std::min(KC, c1 - k0), Bw + (k0 - c0) * m_pad);
  }
  // C = T^T in blocks of rows of C, transposed in registers (a row of C read T with a stride of M
  // floats, one cache line per element, which took a fifth of conv2d's dw on 256 channels).
  constexpr int64_t kRows = 32;
  const int64_t blocks = (M + kRows - 1) / kRows;
#pragma omp parallel for if (threads && blocks > 1) schedule(static)
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t i0 = b * kRows;
    kern.transpose_rows(C + i0 * ldc, ldc, T + i0, M, N, N, std::min(kRows, M - i0), accumulate);
  }
}

// C[M, N] (+)= op(A)[M, K] * B^T with B stored [N, K] and M <= kGemmDotRows: a fully connected layer's
// forward at batch 1 to 4. gemm_small_m_trans_b's tile would spend 28 to 31 of its 32 columns on
// padding, so at batch 1 (VGG-16's fc6, 25088 -> 4096: 411 MB of weights) it computed 32 times the
// products and fell behind the memory it streams. Here each row of B is one dot product with each
// row of op(A) (kern.dot_rows), B's rows split among the threads in blocks; the sums do not depend
// on the thread count.
static void gemm_few_rows(float* C, int64_t ldc, const float* A, int64_t lda, const float* B,
                          int64_t ldb, int64_t M, int64_t N, int64_t K, bool trans_a,
                          bool accumulate, bool threads) {
  const GemmKernel& kern = kernel();
  if (trans_a) {  // op(A)'s rows, contiguous
    static thread_local Scratch rows_scratch;
    float* rows = rows_scratch.get(static_cast<size_t>(M * K));
    for (int64_t k = 0; k < K; ++k)
      for (int64_t m = 0; m < M; ++m) rows[m * K + k] = A[k * lda + m];
    A = rows;
    lda = K;
  }
  constexpr int64_t kBlock = 64;  // rows of B a task
  const int64_t blocks = (N + kBlock - 1) / kBlock;
#pragma omp parallel for if (threads && blocks > 1) schedule(static)
  for (int64_t b = 0; b < blocks; ++b)
    kern.dot_rows(A, lda, static_cast<int>(M), B, ldb, K, b * kBlock, std::min(N, (b + 1) * kBlock),
                  C, ldc, accumulate);
}

const char* gemm_isa() { return kernel().isa; }

int64_t packed_a_floats(int64_t M, int64_t K) {
  const GemmKernel& kern = kernel();
  return (M + kern.mr - 1) / kern.mr * kern.mr * std::max<int64_t>(K, 0);
}

// The KC slices one after another: slice k0 holds op(A)'s columns [k0, k0 + kc) as row panels and
// starts at packed_a_floats(M, k0), the layout gemm_blocked reads.
void pack_a(float* Ap, const float* A, int64_t lda, int64_t M, int64_t K, bool trans_a,
            bool parallel) {
  const GemmKernel& kern = kernel();
  for (int64_t k0 = 0; k0 < K; k0 += KC)
    pack(Ap + packed_a_floats(M, k0), A, lda, trans_a, M, k0, std::min(KC, K - k0), kern.mr,
         parallel);
}

namespace {

// The packed product behind gemm and gemm_packed_a: per KC slice, A's row panels (packed here
// unless prepacked holds all of them, see pack_a) against B's column panels, the (row block, column
// block) grid split over the threads.
void gemm_blocked(float* C, int64_t ldc, const float* prepacked, const float* A, int64_t lda,
                  const float* B, int64_t ldb, int64_t M, int64_t N, int64_t K, bool trans_a,
                  bool trans_b, bool accumulate, bool threads) {
  const GemmKernel& kern = kernel();
  const int64_t m_panels = (M + kern.mr - 1) / kern.mr;
  const int64_t n_panels = (N + kern.nr - 1) / kern.nr;
  // A row-major B used by only a few rows of A is read where it lies: packing it would copy all of
  // B to use each panel a couple of times. Only its ragged last panel is packed (zero padded).
  // Read in place, B goes by in slices of few rows: the micro-kernel takes nr columns of each row
  // of the slice in turn, and with 256 rows every page of B was revisited 256 accesses later, more
  // streams than the hardware prefetcher follows. A fully connected layer's input gradient at
  // batch 16 (16 x 4096 times 4096 x 9216, 1 thread) took 56 ms against torch's 35 so; in slices of
  // 16 rows it takes about half of torch's time (64 rows: 1.45x torch's).
  const bool direct_b = !trans_b && M <= 4 * kern.mr;
  const int64_t slice = direct_b && !prepacked ? kDirectKC : KC;
  const int64_t kc_max = std::min(K, slice);
  static thread_local Scratch a_scratch, b_scratch;
  float* a_buffer =
      prepacked ? nullptr : a_scratch.get(static_cast<size_t>(m_panels * kern.mr * kc_max));
  float* Bp = b_scratch.get(static_cast<size_t>(n_panels * kern.nr * kc_max));
  // Tasks: runs of row panels (at most MC rows) times runs of column panels (at most NC columns),
  // the column runs more (down to one panel) until every thread has at least two tasks: a 64 x 120
  // product is otherwise one task that one core does alone. Runs of near-equal panel counts: in
  // halved blocks LeNet-5's 64 x 400 input gradient went as 128 + 128 + 128 + 16 columns, 256 for
  // one thread and 144 for the other.
  const int64_t m_tasks = (M + MC - 1) / MC;
  const int64_t want = threads ? 2 * omp_get_max_threads() : 1;
  const int64_t n_tasks =
      std::min(n_panels, std::max((N + NC - 1) / NC, (want + m_tasks - 1) / m_tasks));

  const int64_t full_cols = direct_b ? N / kern.nr * kern.nr : 0;
  // A large C written by one slice (a fully connected layer's weight gradient: K is the batch) is
  // stored past the caches: written the usual way, each of its lines is first read in from memory.
  // AlexNet's fc6 at batch 16 (151 MB): 12.8 -> 6.6 ms, 12 -> 23 GB/s.
  const bool stream = !accumulate && !direct_b && K <= slice && M * N >= (int64_t(1) << 23) &&
                      reinterpret_cast<uintptr_t>(C) % (kern.vw * sizeof(float)) == 0 &&
                      ldc % kern.vw == 0;
  const auto macro = stream ? kern.macro_stream : kern.macro;
  for (int64_t k0 = 0; k0 < K; k0 += slice) {
    const int64_t kc = std::min(slice, K - k0);
    const bool acc = accumulate || k0 > 0;
    const float* Ap = prepacked ? prepacked + packed_a_floats(M, k0) : a_buffer;
    // (A's slice is a few rows of 16 floats when B is read in place: no threads for that)
    if (!prepacked) pack(a_buffer, A, lda, trans_a, M, k0, kc, kern.mr, threads && !direct_b);
    if (direct_b) {
      if (full_cols < N) pack(Bp, B + full_cols, ldb, true, N - full_cols, k0, kc, kern.nr, false);
    } else {
      pack(Bp, B, ldb, !trans_b, N, k0, kc, kern.nr, threads);
    }
#pragma omp parallel for collapse(2) if (threads) schedule(static)
    for (int64_t ti = 0; ti < m_tasks; ++ti)
      for (int64_t tj = 0; tj < n_tasks; ++tj) {
        const int64_t i0 = m_panels * ti / m_tasks * kern.mr,
                      j0 = n_panels * tj / n_tasks * kern.nr;
        const int64_t rows = std::min(M, m_panels * (ti + 1) / m_tasks * kern.mr) - i0;
        const int64_t cols = std::min(N, n_panels * (tj + 1) / n_tasks * kern.nr) - j0;
        const float* a = Ap + (i0 / kern.mr) * kc * kern.mr;
        float* c = C + i0 * ldc + j0;
        if (!direct_b) {
          macro(kc, a, 0, rows, Bp + (j0 / kern.nr) * kc * kern.nr, kc * kern.nr, kern.nr, cols, c,
                ldc, acc);
          continue;
        }
        const int64_t direct = std::max<int64_t>(0, std::min(cols, full_cols - j0));
        if (direct > 0)
          kern.macro(kc, a, 0, rows, B + k0 * ldb + j0, kern.nr, ldb, direct, c, ldc, acc);
        if (direct < cols)
          kern.macro(kc, a, 0, rows, Bp, kc * kern.nr, kern.nr, cols - direct, c + direct, ldc,
                     acc);
      }
  }
}

// C's rows zeroed (or left, when accumulating) for a product with nothing to sum over.
void empty_product(float* C, int64_t ldc, int64_t M, int64_t N, bool accumulate) {
  if (!accumulate)
    for (int64_t i = 0; i < M; ++i) std::fill(C + i * ldc, C + i * ldc + N, 0.0f);
}

// Threads pay off only when there is enough arithmetic to share (about 2 MFLOP).
bool use_threads(bool parallel, int64_t M, int64_t N, int64_t K) {
  return parallel && omp_get_max_threads() > 1 && M * N * K > (1 << 20);
}

}  // namespace

void gemm(float* C, int64_t ldc, const float* A, int64_t lda, const float* B, int64_t ldb,
          int64_t M, int64_t N, int64_t K, bool trans_a, bool trans_b, bool accumulate,
          bool parallel) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) return empty_product(C, ldc, M, N, accumulate);
  const GemmKernel& kern = kernel();
  const bool threads = use_threads(parallel, M, N, K);
  // A few rows stream B once from memory: the threads share it from 128 K floats of B (ResNet-18's
  // 512 -> 1000 classifier at batch 1 is 0.5 M multiply-adds, under the flop rule, and took 140-170
  // us on one thread, 2 MB at 13 GB/s).
  if (trans_b && M <= kGemmDotRows && K >= 64)
    return gemm_few_rows(
        C, ldc, A, lda, B, ldb, M, N, K, trans_a, accumulate,
        threads || (parallel && omp_get_max_threads() > 1 && N * K >= (int64_t(1) << 17)));
  if (trans_b && M <= 8 * kern.nr && N >= 8 * kern.mr && K >= 64)
    return gemm_small_m_trans_b(C, ldc, A, lda, B, ldb, M, N, K, trans_a, accumulate, threads);
  gemm_blocked(C, ldc, nullptr, A, lda, B, ldb, M, N, K, trans_a, trans_b, accumulate, threads);
}

void gemm_packed_a(float* C, int64_t ldc, const float* Ap, const float* B, int64_t ldb, int64_t M,
                   int64_t N, int64_t K, bool trans_b, bool accumulate, bool parallel) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) return empty_product(C, ldc, M, N, accumulate);
  gemm_blocked(C, ldc, Ap, nullptr, 0, B, ldb, M, N, K, false, trans_b, accumulate,
               use_threads(parallel, M, N, K));
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
