// gemm on the GPU: dense row-major operands for the shared tiled main loop (gemm_mainloop.cuh).
//
//   C[M, N] (= or +=) op(A)[M, K] * op(B)[K, N] (+ bias[N] per row)
//
// op(A)(m, k) is A[m * lda + k], or A[k * lda + m] with trans_a; op(B)(k, n) is B[k * ldb + n], or
// B[n * ldb + k] with trans_b. Tiles load as float4 when the leading dimension is a multiple of 4 and
// the pointer is 16-byte aligned (every tensor from the allocator is), scalars otherwise and at edges.
#include <atomic>

#include "gemm_mainloop.cuh"
#include "pycnn/cuda_gemm.h"

namespace pycnn::cuda {

namespace detail {
namespace {

// One operand: `rows` x K, stored with k contiguous (K_CONTIG) or rows contiguous.
template <bool K_CONTIG_>
struct DenseOperand {
  static constexpr bool K_CONTIG = K_CONTIG_;
  const float* p;
  int64_t ld;
  int rows, K;
  bool vec;  // float4 loads are aligned

  __device__ void set_batch(int) {}

  __device__ void load4(int row, int k, float (&v)[4]) const {
    if constexpr (K_CONTIG) {  // (row, k .. k+3), k a multiple of 4
      if (row >= rows) {
        v[0] = v[1] = v[2] = v[3] = 0.0f;
        return;
      }
      const float* src = p + row * ld + k;
      if (vec && k + 3 < K) {
        const float4 x = __ldg(reinterpret_cast<const float4*>(src));
        v[0] = x.x, v[1] = x.y, v[2] = x.z, v[3] = x.w;
      } else {
#pragma unroll
        for (int j = 0; j < 4; ++j) v[j] = k + j < K ? __ldg(src + j) : 0.0f;
      }
    } else {  // (row .. row+3, k), row a multiple of 4
      if (k >= K) {
        v[0] = v[1] = v[2] = v[3] = 0.0f;
        return;
      }
      const float* src = p + k * ld + row;
      if (vec && row + 3 < rows) {
        const float4 x = __ldg(reinterpret_cast<const float4*>(src));
        v[0] = x.x, v[1] = x.y, v[2] = x.z, v[3] = x.w;
      } else {
#pragma unroll
        for (int j = 0; j < 4; ++j) v[j] = row + j < rows ? __ldg(src + j) : 0.0f;
      }
    }
  }
};

struct DenseEpilogue {
  float* C;
  int64_t ldc;
  bool accumulate;
  const float* bias;  // per column, may be null

  __device__ void set_batch(int) {}
  __device__ void store(int row, int col, float value) const {
    float* dst = C + row * ldc + col;
    if (bias) value += bias[col];
    *dst = accumulate ? *dst + value : value;
  }
};

bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15) == 0; }

template <bool KA, bool KB>
void run(float* C, int64_t ldc, const float* A, int64_t lda, const float* B, int64_t ldb, int M,
         int N, int K, bool accumulate, const float* bias) {
  GemmProblem<DenseOperand<KA>, DenseOperand<KB>, DenseEpilogue> p;
  p.a = {A, lda, M, K, lda % 4 == 0 && aligned16(A)};
  p.b = {B, ldb, N, K, ldb % 4 == 0 && aligned16(B)};
  p.epilogue = {C, ldc, accumulate, bias};
  p.M = M, p.N = N, p.K = K;
  launch_gemm_split(p, "gemm");
}

}  // namespace
}  // namespace detail

static std::atomic<bool> tf32_allowed{false};

void set_allow_tf32(bool allow) { tf32_allowed.store(allow); }
bool allow_tf32() { return tf32_allowed.load(); }

void gemm_bias(float* C, int64_t ldc, const float* A, int64_t lda, const float* B, int64_t ldb,
               int64_t M, int64_t N, int64_t K, bool trans_a, bool trans_b, bool accumulate,
               const float* bias) {
  if (M <= 0 || N <= 0) return;
  require_int32(M, "gemm");
  require_int32(N, "gemm");
  require_int32(K, "gemm");
  const int m = static_cast<int>(M), n = static_cast<int>(N), k = static_cast<int>(K);
  // A's k is contiguous unless transposed; B's k is contiguous only when transposed.
  if (!trans_a && !trans_b)
    detail::run<true, false>(C, ldc, A, lda, B, ldb, m, n, k, accumulate, bias);
  else if (!trans_a && trans_b)
    detail::run<true, true>(C, ldc, A, lda, B, ldb, m, n, k, accumulate, bias);
  else if (trans_a && !trans_b)
    detail::run<false, false>(C, ldc, A, lda, B, ldb, m, n, k, accumulate, bias);
  else detail::run<false, true>(C, ldc, A, lda, B, ldb, m, n, k, accumulate, bias);
}

void gemm(float* C, int64_t ldc, const float* A, int64_t lda, const float* B, int64_t ldb,
          int64_t M, int64_t N, int64_t K, bool trans_a, bool trans_b, bool accumulate) {
  gemm_bias(C, ldc, A, lda, B, ldb, M, N, K, trans_a, trans_b, accumulate, nullptr);
}

}  // namespace pycnn::cuda
