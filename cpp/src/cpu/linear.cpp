// linear on the CPU: three calls of the packed sgemm.
//   forward  y[N, out]  = x[N, in] @ w[out, in]^T (+ b broadcast over rows)
//   backward dx[N, in]  = dy[N, out] @ w[out, in]
//            dw[out, in] += dy^T[out, N] @ x[N, in]
//            db[out]     += column sums of dy
// A batch of a few rows (batch-1 inference, a classifier head) is a matrix-vector product instead.
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

// sum of a[i] * b[i] in 16 independent lanes (one serial chain of FMAs would wait on each one).
PYCNN_VECTOR_CLONES float dot(const float* a, const float* b, int64_t n) {
  constexpr int kLanes = 16;
  float lanes[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
#pragma omp simd
    for (int j = 0; j < kLanes; ++j) lanes[j] += a[i + j] * b[i + j];
  float sum = 0.0f;
  for (int j = 0; j < kLanes; ++j) sum += lanes[j];
  for (; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

// y[n, o] = w[o, :] . x[n, :] + b[o] for N <= kFewRows: each weight row is read once, for every
// input row. The packed gemm pads the batch to its micro-kernel's width and computes mostly zeros
// (fc 512 -> 1000 at batch 1: 0.40 ms; this way the 2 MB of weights stream once).
void linear_forward_few_rows(float* y, const float* x, const float* w, const float* b,
                             const LinearShape& s) {
  const int64_t N = s.N, I = s.in_features, O = s.out_features;
#pragma omp parallel for schedule(static) if (O * I > (int64_t(1) << 16))
  for (int64_t o = 0; o < O; ++o)
    for (int64_t n = 0; n < N; ++n) y[n * O + o] = dot(w + o * I, x + n * I, I) + (b ? b[o] : 0.0f);
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

int64_t linear_packed_width(int64_t out_features) {
  return (out_features + kBlock - 1) / kBlock * kBlock;
}

void linear_pack_weight(float* wp, const float* w, const LinearShape& s) {
  const int64_t I = s.in_features, O = s.out_features, ldw = linear_packed_width(O);
  for (int64_t i = 0; i < I; ++i)
    for (int64_t o = 0; o < ldw; ++o) wp[i * ldw + o] = o < O ? w[o * I + i] : 0.0f;
}

void linear_forward_packed(float* y, const float* x, const float* wp, const float* b,
                           const LinearShape& s) {
  const int64_t N = s.N, I = s.in_features, O = s.out_features, ldw = linear_packed_width(O);
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
  if (N <= kFewRows) return linear_forward_few_rows(y, x, w, b, s);
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
