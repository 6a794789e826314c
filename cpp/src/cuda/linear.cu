// linear on the GPU: three calls of the tiled SGEMM (pycnn/cuda_gemm.h) and a column sum.
//   forward  y[N, out]  = x[N, in] @ w[out, in]^T + b    (the bias added in the gemm's epilogue)
//   backward dx[N, in]  = dy[N, out] @ w[out, in]
//            dw[out, in] += dy^T[out, N] @ x[N, in]
//            db[out]     += column sums of dy[N, out]
#include <algorithm>

#include "pycnn/cuda_gemm.h"
#include "pycnn/cuda_utils.h"
#include "pycnn/ops/linear.h"

namespace pycnn::cuda {

namespace {

constexpr int kColumns = 32, kStripes = 8;

// db[o] += sum over rows of dy[n, o]. Block (32, 8): threadIdx.x picks a column (a warp reads 32
// adjacent floats of a row), threadIdx.y one of 8 row stripes; blockIdx.y a chunk of rows_per_block
// rows. The stripes meet in shared memory; chunks meet through atomicAdd when there are several.
__global__ void column_sum_kernel(float* db, const float* dy, int N, int O, int rows_per_block,
                                  bool atomic) {
  __shared__ float partial[kStripes][kColumns];
  const int o = blockIdx.x * kColumns + threadIdx.x;
  const int row_begin = blockIdx.y * rows_per_block;
  const int row_end = min(int64_t(N), int64_t(row_begin) + rows_per_block);
  float sum = 0.0f;
  if (o < O)
    for (int n = row_begin + threadIdx.y; n < row_end; n += kStripes) sum += dy[int64_t(n) * O + o];
  partial[threadIdx.y][threadIdx.x] = sum;
  __syncthreads();
  if (threadIdx.y == 0 && o < O) {
    for (int y = 1; y < kStripes; ++y) sum += partial[y][threadIdx.x];
    if (atomic) atomicAdd(db + o, sum);
    else db[o] += sum;
  }
}

}  // namespace

void linear_forward(float* y, const float* x, const float* w, const float* b,
                    const LinearShape& s) {
  gemm_bias(y, s.out_features, x, s.in_features, w, s.in_features, s.N, s.out_features,
            s.in_features, false, true, false, b);
}

void linear_backward(float* dx, float* dw, float* db, const float* dy, const float* x,
                     const float* w, const LinearShape& s) {
  const int64_t N = s.N, I = s.in_features, O = s.out_features;
  if (dx) gemm(dx, I, dy, O, w, I, N, I, O, false, false, false);
  if (dw) gemm(dw, I, dy, O, x, I, O, I, N, true, false, true);
  if (db && N > 0) {
    require_int32(N * O, "linear backward (bias)");
    // Chunks of at least 1024 rows, and few enough to stay within gridDim.y's 65535.
    const int64_t rows_per_block = std::max<int64_t>(1024, (N + 65534) / 65535);
    const dim3 grid(blocks_for(O, kColumns), blocks_for(N, int(rows_per_block)));
    column_sum_kernel<<<grid, dim3(kColumns, kStripes), 0, stream()>>>(
        db, dy, int(N), int(O), int(rows_per_block), grid.y > 1);
    check_launch("linear backward (bias)");
  }
}

}  // namespace pycnn::cuda
