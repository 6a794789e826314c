// The tiled SGEMM main loop shared by gemm.cu (dense matrices) and conv2d.cu (implicit GEMM, whose
// operand tiles are gathered from NCHW tensors on the fly).
//
//   C[M, N] (=, += or atomically +=, as the epilogue decides) = sum_k A(m, k) * B(n, k)
//
// A block computes a BM x BN tile of C, stepping over k in tiles of BK = 8: each step the operand
// tiles go to shared memory k-major (As[k][m], Bs[k][n], rows padded by 4 floats so the transposing
// stores hit distinct banks and float4 reads stay aligned), double-buffered, so the next tile's global
// loads are in flight while the current one is multiplied and one barrier per step suffices.
// FP32 path: each thread holds a TM x TN = 8 x 8 register tile, split in two 4-row and two 4-column
// halves BM/2 and BN/2 apart, so its shared-memory reads are float4 and a warp's reads of A broadcast.
// TF32 path (allow_tf32): the same tiles feed wmma m16n16k8 tensor-core fragments; 8 warps each own a
// 64 x 32 piece of the 128 x 128 tile.
//
// An operand is any type with
//   static constexpr bool K_CONTIG;        // load4 returns 4 elements along k (else along rows)
//   int rows, K;                           // its extent: rows (M for A, N for B) by K
//   void set_batch(int batch);             // moves to blockIdx.z's batch (a conv group, say)
//   void load4(int row, int k, float v[4]) const;  // zero outside [0, rows) x [0, K)
// and an epilogue any type with set_batch and store(row, col, value), called for in-bounds elements.
// K_CONTIG operands are loaded with consecutive threads along k, the others along rows: pick the one
// whose consecutive elements are adjacent in memory, so a warp's loads coalesce.
#pragma once

#include <mma.h>

#include <algorithm>

#include "pycnn/cuda_gemm.h"
#include "pycnn/cuda_utils.h"

namespace pycnn::cuda::detail {

constexpr int kBK = 8;
constexpr int kPad = 4;

template <int BM_, int BN_>
struct TileConfig {
  static constexpr int BM = BM_, BN = BN_, TM = 8, TN = 8;
  static constexpr int THREADS = (BM / TM) * (BN / TN);
};
using BigTile = TileConfig<128, 128>;  // 256 threads, for problems that fill the GPU
using SmallTile = TileConfig<64, 64>;  // 64 threads, four times the blocks for small problems
using NarrowTile = TileConfig<32, 128>;  // 64 threads, for M <= 32 (conv2d's dx with 3 input channels)

// The problem a kernel solves: two operands, an epilogue, the sizes, and a split of k over
// blockIdx.z (blockIdx.z = batch * splits + split; split s covers [s * k_chunk, (s+1) * k_chunk)).
template <class OperandA, class OperandB, class Epilogue>
struct GemmProblem {
  OperandA a;
  OperandB b;
  Epilogue epilogue;
  int M, N, K;
  int batches = 1;
  int splits = 1;
  int k_chunk = 0;  // a multiple of kBK; 0 means all of K
};

// Loads a ROWS x BK operand tile into registers (GROUPS quads per thread) and stores it k-major.
template <int ROWS, int THREADS, class Operand>
struct TileLoader {
  static constexpr int QUADS = ROWS * kBK / 4;
  static constexpr int GROUPS = QUADS / THREADS;
  static_assert(QUADS % THREADS == 0, "tile quads must divide evenly over the threads");

  __device__ static void position(int tid, int group, int& row, int& k) {
    const int q = tid + group * THREADS;
    if constexpr (Operand::K_CONTIG) {
      row = q / (kBK / 4);
      k = (q % (kBK / 4)) * 4;
    } else {
      k = q / (ROWS / 4);
      row = (q % (ROWS / 4)) * 4;
    }
  }

  __device__ static void fetch(const Operand& op, int tid, int row0, int k0, float (&r)[GROUPS][4]) {
#pragma unroll
    for (int g = 0; g < GROUPS; ++g) {
      int row, k;
      position(tid, g, row, k);
      op.load4(row0 + row, k0 + k, r[g]);
    }
  }

  __device__ static void store(float (*tile)[ROWS + kPad], int tid, const float (&r)[GROUPS][4]) {
#pragma unroll
    for (int g = 0; g < GROUPS; ++g) {
      int row, k;
      position(tid, g, row, k);
      if constexpr (Operand::K_CONTIG) {
#pragma unroll
        for (int j = 0; j < 4; ++j) tile[k + j][row] = r[g][j];
      } else {
        *reinterpret_cast<float4*>(&tile[k][row]) = make_float4(r[g][0], r[g][1], r[g][2], r[g][3]);
      }
    }
  }
};

template <class Cfg, class Problem, bool TF32>
__global__ void __launch_bounds__(Cfg::THREADS) gemm_kernel(Problem p) {
  constexpr int BM = Cfg::BM, BN = Cfg::BN, THREADS = Cfg::THREADS;
  using A = decltype(p.a);
  using B = decltype(p.b);
  using LoadA = TileLoader<BM, THREADS, A>;
  using LoadB = TileLoader<BN, THREADS, B>;
  // 32-byte alignment: wmma fragment pointers must be 256-bit aligned.
  __shared__ __align__(32) float As[2][kBK][BM + kPad];
  __shared__ __align__(32) float Bs[2][kBK][BN + kPad];

  const int tid = threadIdx.x;
  const int batch = blockIdx.z / p.splits, split = blockIdx.z % p.splits;
  const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
  A a = p.a;
  B b = p.b;
  a.set_batch(batch);
  b.set_batch(batch);
  const int k_chunk = p.k_chunk > 0 ? p.k_chunk : p.K;
  const int k_begin = split * k_chunk;
  const int k_end = min(p.K, k_begin + k_chunk);
  const int tiles = k_end > k_begin ? (k_end - k_begin + kBK - 1) / kBK : 0;

  float ra[LoadA::GROUPS][4], rb[LoadB::GROUPS][4];
  // FP32 accumulators: rows {ty*4 + i, BM/2 + ty*4 + i}, columns {tx*4 + j, BN/2 + tx*4 + j}.
  constexpr int TX = BN / Cfg::TN;
  const int ty = tid / TX, tx = tid % TX;
  float acc[8][8];
  // TF32 accumulators: warp w owns rows (w / 4) * 64 + [0, 64), columns (w % 4) * 32 + [0, 32).
  using namespace nvcuda;
  constexpr int FRAG_M = TF32 ? 4 : 1, FRAG_N = TF32 ? 2 : 1;
  wmma::fragment<wmma::accumulator, 16, 16, 8, float> frag_c[FRAG_M][FRAG_N];
  const int warp = tid / 32, wm = warp / 4, wn = warp % 4;
  if constexpr (TF32) {
    static_assert(BM == 128 && BN == 128 && THREADS == 256, "the TF32 path uses the 128x128 tile");
#pragma unroll
    for (int i = 0; i < FRAG_M; ++i)
#pragma unroll
      for (int j = 0; j < FRAG_N; ++j) wmma::fill_fragment(frag_c[i][j], 0.0f);
  } else {
#pragma unroll
    for (int i = 0; i < 8; ++i)
#pragma unroll
      for (int j = 0; j < 8; ++j) acc[i][j] = 0.0f;
  }

  if (tiles > 0) {
    LoadA::fetch(a, tid, m0, k_begin, ra);
    LoadB::fetch(b, tid, n0, k_begin, rb);
    LoadA::store(As[0], tid, ra);
    LoadB::store(Bs[0], tid, rb);
    __syncthreads();
  }
  for (int t = 0; t < tiles; ++t) {
    const int cur = t & 1;
    const bool more = t + 1 < tiles;
    if (more) {  // the next tile's global loads overlap this tile's arithmetic
      LoadA::fetch(a, tid, m0, k_begin + (t + 1) * kBK, ra);
      LoadB::fetch(b, tid, n0, k_begin + (t + 1) * kBK, rb);
    }
    if constexpr (TF32) {
      wmma::fragment<wmma::matrix_a, 16, 16, 8, wmma::precision::tf32, wmma::col_major> fa[FRAG_M];
      wmma::fragment<wmma::matrix_b, 16, 16, 8, wmma::precision::tf32, wmma::row_major> fb[FRAG_N];
#pragma unroll
      for (int i = 0; i < FRAG_M; ++i) {
        wmma::load_matrix_sync(fa[i], &As[cur][0][wm * 64 + i * 16], BM + kPad);
#pragma unroll
        for (int e = 0; e < fa[i].num_elements; ++e) fa[i].x[e] = wmma::__float_to_tf32(fa[i].x[e]);
      }
#pragma unroll
      for (int j = 0; j < FRAG_N; ++j) {
        wmma::load_matrix_sync(fb[j], &Bs[cur][0][wn * 32 + j * 16], BN + kPad);
#pragma unroll
        for (int e = 0; e < fb[j].num_elements; ++e) fb[j].x[e] = wmma::__float_to_tf32(fb[j].x[e]);
      }
#pragma unroll
      for (int i = 0; i < FRAG_M; ++i)
#pragma unroll
        for (int j = 0; j < FRAG_N; ++j) wmma::mma_sync(frag_c[i][j], fa[i], fb[j], frag_c[i][j]);
    } else {
#pragma unroll
      for (int kk = 0; kk < kBK; ++kk) {
        float av[8], bv[8];
        const float4 a0 = *reinterpret_cast<const float4*>(&As[cur][kk][ty * 4]);
        const float4 a1 = *reinterpret_cast<const float4*>(&As[cur][kk][BM / 2 + ty * 4]);
        const float4 b0 = *reinterpret_cast<const float4*>(&Bs[cur][kk][tx * 4]);
        const float4 b1 = *reinterpret_cast<const float4*>(&Bs[cur][kk][BN / 2 + tx * 4]);
        av[0] = a0.x, av[1] = a0.y, av[2] = a0.z, av[3] = a0.w;
        av[4] = a1.x, av[5] = a1.y, av[6] = a1.z, av[7] = a1.w;
        bv[0] = b0.x, bv[1] = b0.y, bv[2] = b0.z, bv[3] = b0.w;
        bv[4] = b1.x, bv[5] = b1.y, bv[6] = b1.z, bv[7] = b1.w;
#pragma unroll
        for (int i = 0; i < 8; ++i)
#pragma unroll
          for (int j = 0; j < 8; ++j) acc[i][j] = fmaf(av[i], bv[j], acc[i][j]);
      }
    }
    if (more) {  // the other buffer was last read before the previous barrier
      LoadA::store(As[cur ^ 1], tid, ra);
      LoadB::store(Bs[cur ^ 1], tid, rb);
    }
    __syncthreads();
  }

  auto epilogue = p.epilogue;
  epilogue.set_batch(batch);
  if constexpr (TF32) {
    // Each warp stages one 16x16 fragment at a time through its own 256 floats of As (free after the
    // last barrier), then writes it element by element with bounds checks.
    float* stage = &As[0][0][0] + warp * 256;
    const int lane = tid % 32;
#pragma unroll
    for (int i = 0; i < FRAG_M; ++i)
#pragma unroll
      for (int j = 0; j < FRAG_N; ++j) {
        wmma::store_matrix_sync(stage, frag_c[i][j], 16, wmma::mem_row_major);
        __syncwarp();
        for (int e = lane; e < 256; e += 32) {
          const int row = m0 + wm * 64 + i * 16 + e / 16, col = n0 + wn * 32 + j * 16 + e % 16;
          if (row < p.M && col < p.N) epilogue.store(row, col, stage[e]);
        }
        __syncwarp();
      }
  } else {
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      const int row = m0 + (i < 4 ? ty * 4 + i : BM / 2 + ty * 4 + i - 4);
      if (row >= p.M) continue;
#pragma unroll
      for (int j = 0; j < 8; ++j) {
        const int col = n0 + (j < 4 ? tx * 4 + j : BN / 2 + tx * 4 + j - 4);
        if (col < p.N) epilogue.store(row, col, acc[i][j]);
      }
    }
  }
}

// Launches `p` on the stream with the tile that suits its size: the 32x128 tile when M <= 32 and it
// fills the GPU (a 128-row tile would multiply 4x to 40x more zero rows than real ones), else TF32
// tensor cores when allowed, the 128x128 tile when there are enough such tiles to fill the GPU, else
// the 64x64 one.
template <class Problem>
void launch_gemm(const Problem& p, const char* op) {
  if (p.M <= 0 || p.N <= 0) return;
  const int64_t z = int64_t(p.batches) * p.splits;
  auto grid_for = [&](int bm, int bn) {
    const int64_t gy = (p.M + bm - 1) / bm, gx = (p.N + bn - 1) / bn;
    if (gy > 65535 || z > 65535 || gx > INT32_MAX)
      runtime_error(op, ": matrix of ", p.M, " x ", p.N, " in ", z, " batches is beyond the grid");
    return dim3(static_cast<unsigned>(gx), static_cast<unsigned>(gy), static_cast<unsigned>(z));
  };
  const int64_t big_tiles = int64_t((p.M + 127) / 128) * ((p.N + 127) / 128) * z;
  const int64_t narrow_tiles = int64_t((p.N + 127) / 128) * z;
  if (p.M <= 32 && narrow_tiles >= sm_count()) {
    gemm_kernel<NarrowTile, Problem, false><<<grid_for(32, 128), NarrowTile::THREADS, 0, stream()>>>(p);
  } else if (allow_tf32()) {
    gemm_kernel<BigTile, Problem, true><<<grid_for(128, 128), BigTile::THREADS, 0, stream()>>>(p);
  } else if (big_tiles >= sm_count()) {
    gemm_kernel<BigTile, Problem, false><<<grid_for(128, 128), BigTile::THREADS, 0, stream()>>>(p);
  } else {
    gemm_kernel<SmallTile, Problem, false><<<grid_for(64, 64), SmallTile::THREADS, 0, stream()>>>(p);
  }
  check_launch(op);
}

// Splits of the reduction so that about two blocks per multiprocessor run, each split covering at
// least 32 k-tiles (fewer would spend more on the atomic epilogue than they save). Returns the
// chunk (a multiple of kBK) through k_chunk.
inline int choose_splits(int64_t output_tiles, int K, int& k_chunk) {
  const int64_t want = (2 * int64_t(sm_count()) + output_tiles - 1) / std::max<int64_t>(output_tiles, 1);
  const int64_t most = std::max<int64_t>(1, K / (32 * kBK));
  int splits = static_cast<int>(std::clamp<int64_t>(want, 1, std::min<int64_t>(most, 1024)));
  const int64_t k_tiles = (K + kBK - 1) / kBK;
  k_chunk = static_cast<int>((k_tiles + splits - 1) / splits * kBK);
  splits = static_cast<int>((K + k_chunk - 1) / k_chunk);
  return splits;
}

}  // namespace pycnn::cuda::detail
