// linear on the CPU: three calls of the packed sgemm.
//   forward  y[N, out]  = x[N, in] @ w[out, in]^T (+ b broadcast over rows)
//   backward dx[N, in]  = dy[N, out] @ w[out, in]
//            dw[out, in] += dy^T[out, N] @ x[N, in]
//            db[out]     += column sums of dy
// A batch of a few rows (batch-1 inference, a classifier head) is a matrix-vector product: the gemm
// runs it as dot products (gemm_few_rows).
#include "pycnn/ops/linear.h"

#include <algorithm>

#include "pycnn/gemm.h"
#include "pycnn/vector_math.h"

namespace pycnn::cpu {

namespace {

constexpr int64_t kFewRows = 4;

// y[n, o] = b[o]: the start the gemm accumulates the product onto.
void fill_with_bias(float* y, const float* b, int64_t N, int64_t O) {
  for (int64_t n = 0; n < N; ++n) std::copy(b, b + O, y + n * O);
}

// The plan keeps a large weight as it is when the batch is a few rows (the gemm's dot products,
// kGemmDotRows): its transposed form was read as kBlock-float pieces ldw floats apart (VGG-16's fc6
// at batch 1: 25088 pieces of 256 bytes each 16 KB apart, 26-29 ms against onnxruntime's 18.9), where
// the dot products stream each row of w from start to end (16-19 ms). Small heads stay transposed
// (no per-output horizontal sum: LeNet's 84 -> 10 at 0.84 us).
constexpr int64_t kSmallWeight = int64_t(1) << 18;  // floats
bool packs_transposed(const LinearShape& s) {
  return s.N > kGemmDotRows || s.in_features * s.out_features <= kSmallWeight;
}

// y[n, o0 + j] = b + sum_i x[n, i] * wp[i, o0 + j] for R rows and j < min(kBlock, O - o0): 2 x R x
// kBlock accumulators (2 * R * 4 vectors of 16 floats), each slice of a weight row read once for the
// R rows (wp's rows are padded to whole blocks with zeros).
constexpr int64_t kBlock = 64;
template <int R>
PYCNN_VECTOR_CLONES void packed_block(float* y, const float* x, const float* wp, const float* b,
                                      int64_t I, int64_t O, int64_t ldw, int64_t o0) {
  const int64_t live = std::min(kBlock, O - o0);
  // Even and odd i in separate accumulators: 8 independent chains of FMAs a row, what two FMA
  // units with a latency of 4 need to stay busy.
  float acc[2][R][kBlock];
  for (int h = 0; h < 2; ++h)
    for (int r = 0; r < R; ++r)
#pragma omp simd
      for (int64_t j = 0; j < kBlock; ++j) acc[h][r][j] = 0.0f;
  int64_t i = 0;
  for (; i + 1 < I; i += 2)
    for (int h = 0; h < 2; ++h) {
      const float* row = wp + (i + h) * ldw + o0;
      for (int r = 0; r < R; ++r) {
        const float xi = x[r * I + i + h];
#pragma omp simd
        for (int64_t j = 0; j < kBlock; ++j) acc[h][r][j] += xi * row[j];
      }
    }
  if (i < I) {
    const float* row = wp + i * ldw + o0;
    for (int r = 0; r < R; ++r) {
      const float xi = x[r * I + i];
#pragma omp simd
      for (int64_t j = 0; j < kBlock; ++j) acc[0][r][j] += xi * row[j];
    }
  }
  for (int r = 0; r < R; ++r)
    for (int64_t j = 0; j < live; ++j)
      y[r * O + o0 + j] = (acc[0][r][j] + acc[1][r][j]) + (b ? b[o0 + j] : 0.0f);
}

}  // namespace

static int64_t linear_packed_width(int64_t out_features) {
  return (out_features + kBlock - 1) / kBlock * kBlock;
}

int64_t linear_packed_floats(const LinearShape& s) {
  return s.in_features *
         (packs_transposed(s) ? linear_packed_width(s.out_features) : s.out_features);
}

void linear_pack_weight(float* wp, const float* w, const LinearShape& s) {
  const int64_t I = s.in_features, O = s.out_features, ldw = linear_packed_width(O);
  if (!packs_transposed(s)) {
    std::copy(w, w + I * O, wp);
    return;
  }
  for (int64_t i = 0; i < I; ++i)
    for (int64_t o = 0; o < ldw; ++o) wp[i * ldw + o] = o < O ? w[o * I + i] : 0.0f;
}

void linear_forward_packed(float* y, const float* x, const float* wp, const float* b,
                           const LinearShape& s) {
  const int64_t N = s.N, I = s.in_features, O = s.out_features, ldw = linear_packed_width(O);
  if (!packs_transposed(s)) return linear_forward(y, x, wp, b, s);
  if (N > kFewRows) {
    if (b) fill_with_bias(y, b, N, O);  // the gemm accumulates onto it
    return gemm(y, O, x, I, wp, ldw, N, O, I, false, false, b != nullptr);
  }
  const int64_t blocks = ldw / kBlock;
#pragma omp parallel for schedule(static) if (O * I > (int64_t(1) << 16))
  for (int64_t k = 0; k < blocks; ++k)
    for (int64_t n = 0; n < N; n += 2) {  // rows in pairs: 16 vectors of accumulators
      if (n + 1 < N) packed_block<2>(y + n * O, x + n * I, wp, b, I, O, ldw, k * kBlock);
      else packed_block<1>(y + n * O, x + n * I, wp, b, I, O, ldw, k * kBlock);
    }
}

void linear_forward(float* y, const float* x, const float* w, const float* b,
                    const LinearShape& s) {
  const int64_t N = s.N, I = s.in_features, O = s.out_features;
  if (b) fill_with_bias(y, b, N, O);  // start from the bias and accumulate the product onto it
  gemm(y, O, x, I, w, I, N, O, I, false, true, b != nullptr);
}

void linear_backward(float* dx, float* dw, float* db, const float* dy, const float* x,
                     const float* w, const LinearShape& s) {
  const int64_t N = s.N, I = s.in_features, O = s.out_features;
  if (dx) gemm(dx, I, dy, O, w, I, N, I, O, false, false, false);
  // dw is stored, not accumulated: the binding hands it uninitialised (AlexNet's fc6 and fc7 are
  // 234 MB of weights, and zeroing them first, then reading them back, was two passes of memory).
  if (dw) gemm(dw, I, dy, O, x, I, O, I, N, true, false, false);
  if (db) {
    for (int64_t n = 0; n < N; ++n)
      for (int64_t o = 0; o < O; ++o) db[o] += dy[n * O + o];
  }
}

}  // namespace pycnn::cpu
