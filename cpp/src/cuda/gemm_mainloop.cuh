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
//
// Launchers: launch_gemm runs the problem as given (a caller that splits k itself, conv2d's dw,
// adds its splits atomically). launch_gemm_split also splits k when the output is too small to fill
// the GPU, through partial sums in a workspace that a second kernel adds in a fixed order.
#pragma once

#include <mma.h>

#include <algorithm>
#include <cstdlib>
#include <type_traits>
#include <utility>

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
// 64 threads, for M <= 32 (conv2d's dx with 3 input channels)
using NarrowTile = TileConfig<32, 128>;
using MidTile = TileConfig<64, 128>;  // 128 threads, for M <= 64 (64-channel layers: no zero rows)

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
  // Set by launch_tile when the grid needs more than 65535 blocks along y or z: this launch's first
  // row of C and first blockIdx.z.
  int m_base = 0;
  int z_base = 0;
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

  __device__ static void fetch(const Operand& op, int tid, int row0, int k0,
                               float (&r)[GROUPS][4]) {
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

// An epilogue with set_split(s) learns which k-split its block computed (see PartialStore).
template <class E, class = void>
struct TakesSplit : std::false_type {};
template <class E>
struct TakesSplit<E, std::void_t<decltype(std::declval<E&>().set_split(0))>> : std::true_type {};

// The epilogue of a deterministically split product: split s of batch b writes its partial C, plain
// stores, to ws[b][s][M][N]; reduce_splits_kernel then adds the splits in order.
struct PartialStore {
  float* ws;
  int M, N, splits;
  int batch = 0;
  int64_t base = 0;
  __device__ void set_batch(int b) { batch = b; }
  __device__ void set_split(int s) { base = (int64_t(batch) * splits + s) * M * N; }
  __device__ void store(int row, int col, float value) const {
    ws[base + int64_t(row) * N + col] = value;
  }
};
static_assert(TakesSplit<PartialStore>::value, "gemm_kernel must tell PartialStore its split");

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
  const int z = p.z_base + int(blockIdx.z), batch = z / p.splits, split = z % p.splits;
  const int m0 = p.m_base + int(blockIdx.y) * BM, n0 = int(blockIdx.x) * BN;
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
  if constexpr (TakesSplit<decltype(epilogue)>::value) epilogue.set_split(split);
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

// Launches `p` with tile Cfg (TF32: tensor cores) on the stream: one launch, or several when the
// row tiles or batches * splits exceed gridDim.y's and gridDim.z's 65535 (a linear layer over 8.4M
// rows, a depthwise conv with more channels), each covering a slice through m_base and z_base.
template <class Cfg, bool TF32, class Problem>
void launch_tile(const Problem& p, const char* op) {
  constexpr int64_t kMaxGrid = 65535;
  const int64_t gy = (int64_t(p.M) + Cfg::BM - 1) / Cfg::BM,
                gx = (int64_t(p.N) + Cfg::BN - 1) / Cfg::BN;
  const int64_t z = int64_t(p.batches) * p.splits;
  if (gx > INT32_MAX) runtime_error(op, ": matrix of ", p.M, " x ", p.N, " is beyond the grid");
  for (int64_t y0 = 0; y0 < gy; y0 += kMaxGrid)
    for (int64_t z0 = 0; z0 < z; z0 += kMaxGrid) {
      Problem part = p;
      part.m_base = static_cast<int>(y0 * Cfg::BM);
      part.z_base = static_cast<int>(z0);
      const dim3 grid(static_cast<unsigned>(gx), static_cast<unsigned>(std::min(kMaxGrid, gy - y0)),
                      static_cast<unsigned>(std::min(kMaxGrid, z - z0)));
      gemm_kernel<Cfg, Problem, TF32><<<grid, Cfg::THREADS, 0, stream()>>>(part);
      check_launch(op);
    }
}

// Launches `p` on the stream with the tile that suits its size: the 32x128 tile when M <= 32 and it
// fills the GPU, the 64x128 one when M <= 64 and it fills the GPU (a 128-row tile would spend 2x to
// 40x the multiply-adds on zero rows), else TF32 tensor cores when allowed, the 128x128 tile when there
// are enough such tiles to fill the GPU, else the 64x64 one. The reduction is split as p.splits says
// (conv2d's dw adds its splits atomically).
template <class Problem>
void launch_gemm(const Problem& p, const char* op) {
  if (p.M <= 0 || p.N <= 0) return;
  const int64_t z = int64_t(p.batches) * p.splits;
  const int64_t big_tiles = int64_t((p.M + 127) / 128) * ((p.N + 127) / 128) * z;
  // the 32- and 64-row tiles when M fits
  const int64_t row_of_tiles = int64_t((p.N + 127) / 128) * z;
  if (p.M <= 32 && row_of_tiles >= sm_count()) launch_tile<NarrowTile, false>(p, op);
  else if (allow_tf32()) launch_tile<BigTile, true>(p, op);
  else if (p.M <= 64 && row_of_tiles >= sm_count()) launch_tile<MidTile, false>(p, op);
  else if (big_tiles >= sm_count()) launch_tile<BigTile, false>(p, op);
  else launch_tile<SmallTile, false>(p, op);
}

// k_chunk for `splits` splits of a K-long reduction (a multiple of kBK), and the splits that then
// cover K (never an empty one: rounding the chunk up can leave fewer).
inline int split_chunks(int K, int splits, int& k_chunk) {
  const int64_t k_tiles = (K + kBK - 1) / kBK;
  k_chunk = static_cast<int>((k_tiles + splits - 1) / splits * kBK);
  return static_cast<int>((K + k_chunk - 1) / k_chunk);
}

// Splits of the reduction so that about two blocks per multiprocessor run, each split covering at
// least 32 k-tiles (fewer would spend more on the atomic epilogue than they save). Returns the
// chunk (a multiple of kBK) through k_chunk.
inline int choose_splits(int64_t output_tiles, int K, int& k_chunk) {
  const int64_t want =
      (2 * int64_t(sm_count()) + output_tiles - 1) / std::max<int64_t>(output_tiles, 1);
  const int64_t most = std::max<int64_t>(1, K / (32 * kBK));
  return split_chunks(
      K, static_cast<int>(std::clamp<int64_t>(want, 1, std::min<int64_t>(most, 1024))), k_chunk);
}

// Blocks of gemm_kernel<Cfg, Problem, TF32> that fit on one multiprocessor at once (registers and
// shared memory decide), asked of the runtime once per kernel.
template <class Cfg, bool TF32, class Problem>
int resident_blocks() {
  static const int blocks = [] {
    int n = 0;
    if (cudaOccupancyMaxActiveBlocksPerMultiprocessor(&n, gemm_kernel<Cfg, Problem, TF32>,
                                                      Cfg::THREADS, 0) != cudaSuccess) {
      cudaGetLastError();
      n = 1;
    }
    return std::max(n, 1);
  }();
  return blocks;
}

// How many k-splits make `tiles` output blocks of a K-long product finish soonest when `slots`
// blocks run at once. Model, in units of one unsplit block's time: s splits run ceil(tiles*s/slots)
// waves of blocks 1/s as long, plus writing and re-reading s partial outputs, which costs
// kReduceCost*tiles*s/(K*slots) (4 bytes of traffic per partial element each way against 2*K flops of
// the block per element, at the ~14 flop/byte of an H100/H200 in FP32, rounded up). Every split keeps
// at least 32 k-tiles, so its main loop still hides the loads. Returns 1 unless splitting saves at
// least 15%.
inline int choose_deterministic_splits(int64_t tiles, int64_t slots, int K, int64_t most_by_memory,
                                       int& k_chunk) {
  constexpr double kReduceCost = 64.0;
  const int64_t most = std::min<int64_t>({K / (32 * kBK), most_by_memory, 64});
  int best = 1;
  double best_cost = 1.0;
  for (int64_t s = 2; s <= most; ++s) {
    const double waves = double((tiles * s + slots - 1) / slots);
    const double cost =
        waves / double(s) + kReduceCost * double(tiles) * double(s) / (double(K) * double(slots));
    if (cost < best_cost) best = int(s), best_cost = cost;
  }
  if (best_cost > 0.85) best = 1;
  return split_chunks(K, best, k_chunk);
}

// out = the splits of ws[b][s][M][N] added in order s = 0, 1, ..., handed to the problem's own
// epilogue, so a split product stores (=, +=, bias) exactly as an unsplit one and is deterministic.
template <class Epilogue>
__global__ void reduce_splits_kernel(Epilogue epilogue, const float* __restrict__ ws, int M, int N,
                                     int splits, int64_t total) {
  const int64_t plane = int64_t(M) * N;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t b = i / plane, r = i - b * plane;
    const float* src = ws + b * splits * plane + r;
    float sum = 0.0f;
    for (int s = 0; s < splits; ++s) sum += src[s * plane];
    const int row = int(r / N), col = int(r - int64_t(row) * N);
    Epilogue e = epilogue;
    e.set_batch(int(b));
    e.store(row, col, sum);
  }
}

// Runs `p` with its reduction split over blockIdx.z in tile Cfg when the model of
// choose_deterministic_splits says that pays: each split writes its partial product to a workspace
// and a second kernel adds them in a fixed order, so results stay bitwise reproducible (no atomics).
// Returns false, launching nothing, when one split is best.
template <class Cfg, bool TF32, class Problem>
bool launch_split(const Problem& p, const char* op) {
  using Partial = GemmProblem<decltype(p.a), decltype(p.b), PartialStore>;
  const int64_t tiles =
      int64_t((p.M + Cfg::BM - 1) / Cfg::BM) * ((p.N + Cfg::BN - 1) / Cfg::BN) * p.batches;
  const int64_t slots = int64_t(sm_count()) * resident_blocks<Cfg, TF32, Partial>();
  if (p.K <= 0 || tiles >= slots) return false;
  const int64_t output_bytes = int64_t(sizeof(float)) * p.M * p.N * p.batches;
  const int64_t most_by_memory =
      std::min<int64_t>(65535 / p.batches, (int64_t(512) << 20) / output_bytes);
  int k_chunk = 0;
  const int splits = choose_deterministic_splits(tiles, slots, p.K, most_by_memory, k_chunk);
  if (splits < 2) return false;
  const Workspace ws(size_t(output_bytes) * splits);
  Partial q;
  q.a = p.a;
  q.b = p.b;
  q.epilogue = {ws.as<float>(), p.M, p.N, splits};
  q.M = p.M, q.N = p.N, q.K = p.K, q.batches = p.batches, q.splits = splits, q.k_chunk = k_chunk;
  launch_tile<Cfg, TF32>(q, op);
  const int64_t total = int64_t(p.M) * p.N * p.batches;
  reduce_splits_kernel<<<grid_stride_blocks(total, 256), 256, 0, stream()>>>(
      p.epilogue, ws.as<const float>(), p.M, p.N, splits, total);
  check_launch(op);
  return true;
}

// Launches `p` (p.splits must be 1; its epilogue stores each element once) like launch_gemm, except
// that when its output fills too few blocks to occupy the GPU and K is long (the 7x7 and 14x14 layers
// of a ResNet at batch 64, a fully connected layer at a small batch), the reduction is split (see
// launch_split), in the 64x128 tile when M <= 64 and the 128x128 one otherwise.
// PYCNN_CUDA_SPLIT=0 turns the split off (read once), so a benchmark can time both in one session.
inline bool split_enabled() {
  static const bool enabled = [] {
    const char* value = std::getenv("PYCNN_CUDA_SPLIT");
    return !(value && value[0] == '0' && value[1] == '\0');
  }();
  return enabled;
}

template <class Problem>
void launch_gemm_split(const Problem& p, const char* op) {
  if (p.M <= 0 || p.N <= 0) return;
  const bool narrow = p.M <= 32 && int64_t((p.N + 127) / 128) * p.batches >= sm_count();
  bool split = false;
  if (!narrow && split_enabled()) {
    if (allow_tf32()) split = launch_split<BigTile, true>(p, op);
    else if (p.M <= 64) split = launch_split<MidTile, false>(p, op);
    else split = launch_split<BigTile, false>(p, op);
  }
  if (!split) launch_gemm(p, op);
}

}  // namespace pycnn::cuda::detail
