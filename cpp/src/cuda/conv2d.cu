// conv2d on the GPU: implicit GEMM for the forward pass and both gradients, per group (blockIdx.z);
// no im2col matrix is ever materialised: the gathered operand's tile is read from the NCHW tensor
// on the fly, with padding, stride and dilation resolved per element (zero outside the image).
//
//   forward  y_g[C_out/g, N*OH*OW]   = w_g[C_out/g, K]          x  col(x)_g[K, N*OH*OW]
//   dx       dx_g[C_in/g, N*H*W]     = w_g^T[C_in/g, C_out/g*KH*KW] x  dycol_g[.., N*H*W]
//   dw       dw_g[C_out/g, K]       += dy_g[C_out/g, N*OH*OW]   x  col(x)_g^T[N*OH*OW, K]
//   db       db[C_out]              += sum over n, oh, ow of dy
// with K = C_in/g * KH * KW ordered (c, kh, kw) like the weight. dycol(co, kh, kw; n, ih, iw) is
// dy[n, co, oh, ow] where ih = oh*stride - pad + kh*dil has an integral solution oh in [0, OH) (and
// likewise for w), else 0: the transposed convolution written as a gather, so dx is written once per
// element (=) without atomics. The gather runs per stride phase (input pixels with one (ih mod sh,
// iw mod sw)), each a GEMM over only the taps that reach that phase, so no reduction step multiplies
// a structural zero (see Phase below). dw's reduction runs over N*OH*OW, long next to its small
// output, so it is split over blockIdx.z and the splits meet through atomicAdd (dw is += anyway).
// The forward and dx products split their reduction too when their output is small (launch_gemm_split:
// 7x7 and 14x14 layers), through ordered partial sums, so y and dx stay bitwise reproducible.
// Accumulation contract: dx =, dw +=, db +=; each may be null to skip.
#include "gemm_mainloop.cuh"
#include "pycnn/ops/conv2d.h"

namespace pycnn::cuda {

namespace detail {
namespace {

// Sizes as ints: the launchers check every extent fits in 32 bits.
struct ConvDims {
  int N, C_in, H, W, C_out, KH, KW, OH, OW;
  int sh, sw, ph, pw, dil_h, dil_w;
  int cin_g, cout_g;

  // The im2col elements ((c, kh, kw) = ck, pix + j) for j < valid (<= 4; 0 after them), each
  // x[n, group's channel c, oh*stride - pad + kh*dil, ...] for pix + j = (n, oh, ow), 0 in the padding.
  // ck and pix are decomposed once, then (n, oh, ow) advances with carries: no division per element.
  __device__ void im2col4(const float* x, int g, int ck, int pix, int valid, float (&v)[4]) const {
    const int khw = KH * KW, c = ck / khw, r = ck - c * khw, kh = r / KW, kw = r - kh * KW;
    const int P = OH * OW, n = pix / P, p = pix - n * P;
    int oh = p / OW, ow = p - oh * OW;
    const float* plane = x + (int64_t(n) * C_in + g * cin_g + c) * H * W;
    const int dh = kh * dil_h - ph, dw = kw * dil_w - pw;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int ih = oh * sh + dh, iw = ow * sw + dw;
      v[j] =
          j < valid && ih >= 0 && ih < H && iw >= 0 && iw < W ? __ldg(plane + ih * W + iw) : 0.0f;
      if (++ow == OW) {
        ow = 0;
        if (++oh == OH) oh = 0, plane += int64_t(C_in) * H * W;
      }
    }
  }
};

// A gathered operand: element (row, k) = fn(row, k), zero outside rows x K. A load4 reads four
// elements consecutive along k (K_CONTIG) or along rows; an Fn with QUAD true reads them in one
// call, fn.quad(fixed, first, valid, v) = fn at first, first+1, ... (`valid` of them, 0 after) along
// that axis with the other index `fixed`, so it decomposes its indices once instead of four times.
template <class Fn, bool K_CONTIG_>
struct GatherOperand {
  static constexpr bool K_CONTIG = K_CONTIG_;
  Fn fn;
  int rows, K;
  __device__ void set_batch(int group) { fn.g = group; }
  __device__ void load4(int row, int k, float (&v)[4]) const {
    if constexpr (Fn::QUAD) {
      const int fixed = K_CONTIG ? row : k, first = K_CONTIG ? k : row;
      const int fixed_end = K_CONTIG ? rows : K, first_end = K_CONTIG ? K : rows;
      if (fixed < fixed_end) {
        fn.quad(fixed, first, min(4, first_end - first), v);
      } else {
#pragma unroll
        for (int j = 0; j < 4; ++j) v[j] = 0.0f;
      }
    } else {
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        const int r = K_CONTIG ? row : row + j, kk = K_CONTIG ? k + j : k;
        v[j] = r < rows && kk < K ? fn(r, kk) : 0.0f;
      }
    }
  }
};

// ---- forward ----
struct ForwardWeight {  // (m, k) = w[g*cout_g + m, k]: k contiguous
  static constexpr bool QUAD = false;
  const float* w;
  int K, cout_g, g;
  __device__ float operator()(int m, int k) const {
    return __ldg(w + (int64_t(g) * cout_g + m) * K + k);
  }
};
struct ForwardInput {  // (pix, k) = im2col(x)[k, pix]: consecutive pixels are adjacent in x
  const float* x;
  ConvDims d;
  int g;
  static constexpr bool QUAD = true;
  __device__ void quad(int k, int pix, int valid, float (&v)[4]) const {
    d.im2col4(x, g, k, pix, valid, v);
  }
};
struct ForwardStore {  // y[n, g*cout_g + m, oh, ow] = value + b
  float* y;
  const float* b;
  int P, C_out, cout_g, g;
  __device__ void set_batch(int group) { g = group; }
  __device__ void store(int m, int pix, float value) const {
    const int n = pix / P, p = pix - n * P, co = g * cout_g + m;
    y[(int64_t(n) * C_out + co) * P + p] = b ? value + b[co] : value;
  }
};

// ---- dx ----
// dx is computed per stride phase: the input pixels (ih, iw) with ih = ih0 + a*sh, iw = iw0 + b*sw for
// one (ih0, iw0) in [0, sh) x [0, sw) are reached only by the taps kh = kh0 + t*step_h (t < taps_h),
// step_h = sh / gcd(sh, dil_h), through oh = a + q0_h - t*dq_h (likewise for w), so each phase is a
// GEMM over just those taps. Gathering over all KH*KW taps instead let all but 1/(sh*sw) of the
// reduction multiply zeros (AlexNet's conv1, stride 4: 15/16 of 11616).
struct Phase {
  int i0, count;       // pixels i0 + a*stride, a < count
  int k0, step, taps;  // taps k0 + t*step, t < taps
  int q0, dq;          // output index a + q0 - t*dq
};
struct PhaseDims {
  Phase h, w;
};
struct DataWeight {  // (c, k = (co, t, u)) = w[g*cout_g + co, c, kh0 + t*step_h, kw0 + u*step_w]
  const float* w;
  int cin_g, cout_g, KH, KW;
  PhaseDims ph;
  int g;
  static constexpr bool QUAD = true;
  __device__ void quad(int c, int k, int valid, float (&v)[4]) const {
    const int taps = ph.h.taps * ph.w.taps, co = k / taps, r = k - co * taps;
    int t = r / ph.w.taps, u = r - t * ph.w.taps;
    const float* filter = w + ((int64_t(g) * cout_g + co) * cin_g + c) * KH * KW;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      v[j] = j < valid ? __ldg(filter + (ph.h.k0 + t * ph.h.step) * KW + ph.w.k0 + u * ph.w.step)
                       : 0.0f;
      if (++u == ph.w.taps) {
        u = 0;
        if (++t == ph.h.taps) t = 0, filter += int64_t(cin_g) * KH * KW;
      }
    }
  }
};
// (pix = (n, a, b), k = (co, t, u)) = dy[n, g*cout_g + co, oh, ow] or 0 outside dy
struct DataGrad {
  const float* dy;
  ConvDims d;
  PhaseDims ph;
  int g;
  static constexpr bool QUAD = true;
  __device__ void quad(int k, int pix, int valid, float (&v)[4]) const {
    const int taps = ph.h.taps * ph.w.taps, co = k / taps, r = k - co * taps, t = r / ph.w.taps,
              u = r - t * ph.w.taps;
    const int plane = ph.h.count * ph.w.count, n = pix / plane, q = pix - n * plane;
    int a = q / ph.w.count, b = q - a * ph.w.count;
    const float* map = dy + (int64_t(n) * d.C_out + g * d.cout_g + co) * d.OH * d.OW;
    const int dh = ph.h.q0 - t * ph.h.dq, dw = ph.w.q0 - u * ph.w.dq;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int oh = a + dh, ow = b + dw;
      v[j] = j < valid && oh >= 0 && oh < d.OH && ow >= 0 && ow < d.OW ? __ldg(map + oh * d.OW + ow)
                                                                       : 0.0f;
      if (++b == ph.w.count) {
        b = 0;
        if (++a == ph.h.count) a = 0, map += int64_t(d.C_out) * d.OH * d.OW;
      }
    }
  }
};
struct DataStore {  // dx[n, g*cin_g + c, ih0 + a*sh, iw0 + b*sw] = value
  float* dx;
  int H, W, C_in, cin_g, sh, sw;
  PhaseDims ph;
  int g;
  __device__ void set_batch(int group) { g = group; }
  __device__ void store(int c, int pix, float value) const {
    const int plane = ph.h.count * ph.w.count, n = pix / plane, q = pix - n * plane,
              a = q / ph.w.count, b = q - a * ph.w.count;
    const int ih = ph.h.i0 + a * sh, iw = ph.w.i0 + b * sw;
    dx[((int64_t(n) * C_in + g * cin_g + c) * H + ih) * W + iw] = value;
  }
};

int gcd(int a, int b) { return b == 0 ? a : gcd(b, a % b); }

// Phase i0 of one axis (size input pixels, ksize taps).
Phase phase_of(int i0, int size, int stride, int pad, int dil, int ksize) {
  Phase p{i0, i0 < size ? (size - i0 + stride - 1) / stride : 0, 0, stride / gcd(stride, dil), 0, 0,
          0};
  for (int k = 0; k < std::min(ksize, p.step); ++k) {
    const int num = i0 + pad - k * dil;  // oh * stride must equal num - a*stride for some oh
    if (((num % stride) + stride) % stride == 0) {
      p.k0 = k;
      p.taps = (ksize - k + p.step - 1) / p.step;
      p.q0 = num / stride;  // exact
      p.dq = p.step * dil / stride;
      break;
    }
  }
  return p;
}

// ---- dw ----
struct FilterGrad {  // (m, q = (n, p)) = dy[n, g*cout_g + m, p]: consecutive q adjacent
  const float* dy;
  int P, C_out, cout_g, g;
  static constexpr bool QUAD = true;
  __device__ void quad(int m, int q, int valid, float (&v)[4]) const {
    const int n = q / P;
    int p = q - n * P;
    const float* row = dy + (int64_t(n) * C_out + g * cout_g + m) * P;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      v[j] = j < valid ? __ldg(row + p) : 0.0f;
      if (++p == P) p = 0, row += int64_t(C_out) * P;
    }
  }
};
struct FilterInput {  // (ck, q) = im2col(x)[ck, q]: consecutive q adjacent
  const float* x;
  ConvDims d;
  int g;
  static constexpr bool QUAD = true;
  __device__ void quad(int ck, int q, int valid, float (&v)[4]) const {
    d.im2col4(x, g, ck, q, valid, v);
  }
};
struct FilterStore {  // dw[g*cout_g + m, ck] += value (atomically when the reduction is split)
  float* dw;
  int K, cout_g, g;
  bool atomic;
  __device__ void set_batch(int group) { g = group; }
  __device__ void store(int m, int ck, float value) const {
    float* dst = dw + (int64_t(g) * cout_g + m) * K + ck;
    if (atomic) atomicAdd(dst, value);
    else *dst += value;
  }
};

// db[c] += sum over n and p of dy[n, c, p]: one block per channel, warp shuffles then shared memory.
__global__ void bias_grad_kernel(float* db, const float* dy, int N, int C, int P) {
  const int c = blockIdx.x;
  float sum = 0.0f;
  for (int n = 0; n < N; ++n) {
    const float* row = dy + (int64_t(n) * C + c) * P;
    for (int p = threadIdx.x; p < P; p += blockDim.x) sum += row[p];
  }
  for (int offset = 16; offset > 0; offset /= 2) sum += __shfl_down_sync(0xffffffffu, sum, offset);
  __shared__ float warp_sums[32];
  if (threadIdx.x % 32 == 0) warp_sums[threadIdx.x / 32] = sum;
  __syncthreads();
  if (threadIdx.x < 32) {
    const int warps = blockDim.x / 32;
    sum = threadIdx.x < warps ? warp_sums[threadIdx.x] : 0.0f;
    for (int offset = 16; offset > 0; offset /= 2)
      sum += __shfl_down_sync(0xffffffffu, sum, offset);
    if (threadIdx.x == 0) db[c] += sum;
  }
}

ConvDims dims_of(const Conv2dShape& s) {
  return {int(s.N),
          int(s.C_in),
          int(s.H),
          int(s.W),
          int(s.C_out),
          int(s.KH),
          int(s.KW),
          int(s.out_h()),
          int(s.out_w()),
          int(s.stride_h),
          int(s.stride_w),
          int(s.pad_h),
          int(s.pad_w),
          int(s.dil_h),
          int(s.dil_w),
          int(s.cin_per_group()),
          int(s.cout_per_group())};
}

void require_sizes(const Conv2dShape& s) {
  const char* op = "conv2d";
  require_int32(s.N * s.C_in * s.H * s.W, op);
  require_int32(s.N * s.C_out * s.out_h() * s.out_w(), op);
  require_int32(s.C_out * s.col_rows(), op);
}

}  // namespace
}  // namespace detail

void conv2d_forward(float* y, const float* x, const float* w, const float* b,
                    const Conv2dShape& s) {
  using namespace detail;
  if (s.N == 0) return;
  require_sizes(s);
  const ConvDims d = dims_of(s);
  const int K = int(s.col_rows()), P = d.OH * d.OW;
  GemmProblem<GatherOperand<ForwardWeight, true>, GatherOperand<ForwardInput, false>, ForwardStore>
      p;
  p.a = {{w, K, d.cout_g, 0}, d.cout_g, K};
  p.b = {{x, d, 0}, d.N * P, K};
  p.epilogue = {y, b, P, d.C_out, d.cout_g, 0};
  p.M = d.cout_g, p.N = d.N * P, p.K = K, p.batches = int(s.groups);
  launch_gemm_split(p, "conv2d");
}

void conv2d_backward(float* dx, float* dw, float* db, const float* dy, const float* x,
                     const float* w, const Conv2dShape& s) {
  using namespace detail;
  if (s.N == 0) return;  // dx is empty; nothing adds to dw or db
  require_sizes(s);
  const ConvDims d = dims_of(s);
  const int K = int(s.col_rows()), P = d.OH * d.OW;
  if (dx) {
    for (int ih0 = 0; ih0 < std::min(d.sh, d.H); ++ih0)
      for (int iw0 = 0; iw0 < std::min(d.sw, d.W); ++iw0) {
        const PhaseDims ph{phase_of(ih0, d.H, d.sh, d.ph, d.dil_h, d.KH),
                           phase_of(iw0, d.W, d.sw, d.pw, d.dil_w, d.KW)};
        // A phase no tap reaches still gets its zeros written: its GEMM has K = 0.
        const int taps = ph.h.taps * ph.w.taps, pixels = d.N * ph.h.count * ph.w.count;
        GemmProblem<GatherOperand<DataWeight, true>, GatherOperand<DataGrad, false>, DataStore> p;
        p.a = {{w, d.cin_g, d.cout_g, d.KH, d.KW, ph, 0}, d.cin_g, d.cout_g * taps};
        p.b = {{dy, d, ph, 0}, pixels, d.cout_g * taps};
        p.epilogue = {dx, d.H, d.W, d.C_in, d.cin_g, d.sh, d.sw, ph, 0};
        p.M = d.cin_g, p.N = pixels, p.K = d.cout_g * taps, p.batches = int(s.groups);
        launch_gemm_split(p, "conv2d backward (input)");
      }
  }
  if (dw) {
    GemmProblem<GatherOperand<FilterGrad, true>, GatherOperand<FilterInput, true>, FilterStore> p;
    const int reduce = d.N * P;
    const int64_t tiles = int64_t((d.cout_g + 127) / 128) * ((K + 127) / 128) * s.groups;
    p.splits = choose_splits(tiles, reduce, p.k_chunk);
    p.a = {{dy, P, d.C_out, d.cout_g, 0}, d.cout_g, reduce};
    p.b = {{x, d, 0}, K, reduce};
    p.epilogue = {dw, K, d.cout_g, 0, p.splits > 1};
    p.M = d.cout_g, p.N = K, p.K = reduce, p.batches = int(s.groups);
    launch_gemm(p, "conv2d backward (weight)");
  }
  if (db) {
    bias_grad_kernel<<<static_cast<unsigned>(d.C_out), 256, 0, stream()>>>(db, dy, d.N, d.C_out, P);
    check_launch("conv2d backward (bias)");
  }
}

}  // namespace pycnn::cuda
