// elementwise on the GPU: broadcasting add/sub/mul/div and sum_to.
//
//   binary_forward  out[broadcast(a, b)] = a (op) b
//   sum_to          out[out_shape] = sum of in[in_shape] over the dimensions broadcast from out_shape
//
// Both first simplify the shapes on the host: size-1 dimensions go, and neighbours that walk memory
// as one dimension merge, so a residual add is one flat loop and a bias (1, C, 1, 1) on (N, C, H, W)
// is three dimensions. What remains (at most kMaxDims) travels to the kernel by value in a small
// struct, and a thread turns its flat index into offsets with a loop the compiler unrolls.
// sum_to overwrites out (=): every output is written once, by a thread, a warp (shuffles) or a block
// (shuffles, then shared memory), whichever suits the length of its sum.
#include <algorithm>

#include "pycnn/cuda_reduce.cuh"
#include "pycnn/cuda_utils.h"
#include "pycnn/ops/elementwise.h"

namespace pycnn::cuda {

namespace {

constexpr int kMaxDims = 8;
constexpr int kThreads = 256;

struct BroadcastArgs {
  int nd;
  int size[kMaxDims];
  int a_stride[kMaxDims], b_stride[kMaxDims];
};

// Dimensions with sizes and strides (outermost first); unused entries past nd.
struct DimList {
  int nd;
  int size[kMaxDims];
  int stride[kMaxDims];
};

template <BinaryOp OP>
__device__ __forceinline__ float apply(float x, float y) {
  if constexpr (OP == BinaryOp::Add) return x + y;
  else if constexpr (OP == BinaryOp::Sub) return x - y;
  else if constexpr (OP == BinaryOp::Mul) return x * y;
  else return x / y;
}

// Same-shape operands, 16-byte aligned, n a multiple of 4: float4 loads and stores.
template <BinaryOp OP>
__global__ void binary_same_shape4_kernel(float4* out, const float4* a, const float4* b, int n4) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n4;
       i += int64_t(gridDim.x) * blockDim.x) {
    const float4 x = a[i], y = b[i];
    out[i] = make_float4(apply<OP>(x.x, y.x), apply<OP>(x.y, y.y), apply<OP>(x.z, y.z),
                         apply<OP>(x.w, y.w));
  }
}

template <BinaryOp OP>
__global__ void binary_broadcast_kernel(float* out, const float* a, const float* b, BroadcastArgs s,
                                        int n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    int rest = int(i), oa = 0, ob = 0;
#pragma unroll
    for (int d = kMaxDims - 1; d >= 0; --d) {
      if (d >= s.nd) continue;
      const int q = rest / s.size[d], index = rest - q * s.size[d];
      oa += index * s.a_stride[d];
      ob += index * s.b_stride[d];
      rest = q;
    }
    out[i] = apply<OP>(a[oa], b[ob]);
  }
}

__device__ __forceinline__ int offset_of(int index, const DimList& dims) {
  int offset = 0;
#pragma unroll
  for (int d = kMaxDims - 1; d >= 0; --d) {
    if (d >= dims.nd) continue;
    const int q = index / dims.size[d];
    offset += (index - q * dims.size[d]) * dims.stride[d];
    index = q;
  }
  return offset;
}

// Short sums: one thread per output.
__global__ void sum_to_thread_kernel(float* out, const float* in, DimList kept, DimList reduced,
                                     int n_out, int length) {
  for (int64_t o = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; o < n_out;
       o += int64_t(gridDim.x) * blockDim.x) {
    const float* base = in + offset_of(int(o), kept);
    float sum = 0.0f;
    for (int r = 0; r < length; ++r) sum += base[offset_of(r, reduced)];
    out[o] = sum;
  }
}

// Medium sums: one warp per output.
__global__ void sum_to_warp_kernel(float* out, const float* in, DimList kept, DimList reduced,
                                   int n_out, int length) {
  const int lane = threadIdx.x % 32, warps = gridDim.x * (blockDim.x / 32);
  for (int o = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32; o < n_out; o += warps) {
    const float* base = in + offset_of(o, kept);
    float sum = 0.0f;
    for (int r = lane; r < length; r += 32) sum += base[offset_of(r, reduced)];
    sum = warp_sum(sum);
    if (lane == 0) out[o] = sum;
  }
}

// Long sums: one block per output.
__global__ void sum_to_block_kernel(float* out, const float* in, DimList kept, DimList reduced,
                                    int length) {
  const int o = blockIdx.x;
  const float* base = in + offset_of(o, kept);
  float sum = 0.0f;
  for (int r = threadIdx.x; r < length; r += blockDim.x) sum += base[offset_of(r, reduced)];
  sum = block_sum(sum);
  if (threadIdx.x == 0) out[o] = sum;
}

template <BinaryOp OP>
void launch_binary(float* out, const float* a, const float* b, const BroadcastArgs& s, int n) {
  const bool same_shape = s.nd == 1 && s.a_stride[0] == 1 && s.b_stride[0] == 1;
  const bool aligned = ((reinterpret_cast<uintptr_t>(out) | reinterpret_cast<uintptr_t>(a) |
                         reinterpret_cast<uintptr_t>(b)) &
                        15) == 0;
  if (same_shape && aligned && n % 4 == 0) {
    binary_same_shape4_kernel<OP><<<grid_stride_blocks(n / 4, kThreads), kThreads, 0, stream()>>>(
        reinterpret_cast<float4*>(out), reinterpret_cast<const float4*>(a),
        reinterpret_cast<const float4*>(b), n / 4);
  } else {
    binary_broadcast_kernel<OP>
        <<<grid_stride_blocks(n, kThreads), kThreads, 0, stream()>>>(out, a, b, s, n);
  }
}

const char* op_name(BinaryOp op) {
  switch (op) {
    case BinaryOp::Add: return "add";
    case BinaryOp::Sub: return "sub";
    case BinaryOp::Mul: return "mul";
    default: return "div";
  }
}

}  // namespace

void binary_forward(float* out, const float* a, const float* b, BinaryOp op,
                    const BroadcastShape& s) {
  const int64_t n = numel_of(s.out);
  if (n == 0) return;
  const char* name = op_name(op);
  require_int32(n, name);
  // Drop size-1 dimensions; merge a dimension into the next inner one when both operands step
  // through it as a continuation of that one.
  BroadcastArgs args{};
  for (size_t i = 0; i < s.out.size(); ++i) {
    if (s.out[i] == 1) continue;
    const int k = args.nd - 1;
    if (k >= 0 && s.a_strides[i] * s.out[i] == args.a_stride[k] &&
        s.b_strides[i] * s.out[i] == args.b_stride[k]) {
      // the previous (outer) dimension continues into this one: fuse them
      args.size[k] *= static_cast<int>(s.out[i]);
      args.a_stride[k] = static_cast<int>(s.a_strides[i]);
      args.b_stride[k] = static_cast<int>(s.b_strides[i]);
      continue;
    }
    if (args.nd == kMaxDims)
      runtime_error(name, ": broadcasting over more than ", kMaxDims,
                    " non-mergeable dimensions is not supported on CUDA, got shape ",
                    shape_str(s.out));
    args.size[args.nd] = static_cast<int>(s.out[i]);
    args.a_stride[args.nd] = static_cast<int>(s.a_strides[i]);
    args.b_stride[args.nd] = static_cast<int>(s.b_strides[i]);
    ++args.nd;
  }
  const int count = static_cast<int>(n);
  switch (op) {
    case BinaryOp::Add: launch_binary<BinaryOp::Add>(out, a, b, args, count); break;
    case BinaryOp::Sub: launch_binary<BinaryOp::Sub>(out, a, b, args, count); break;
    case BinaryOp::Mul: launch_binary<BinaryOp::Mul>(out, a, b, args, count); break;
    default: launch_binary<BinaryOp::Div>(out, a, b, args, count); break;
  }
  check_launch(name);
}

void sum_to(float* out, const float* in, const Shape& in_shape, const Shape& out_shape) {
  const int64_t n_in = numel_of(in_shape), n_out = numel_of(out_shape);
  if (n_out == 0) return;
  if (n_in == 0) {
    cudaError_t status = cudaMemsetAsync(out, 0, n_out * sizeof(float), stream());
    if (status != cudaSuccess)
      runtime_error("sum_to: cudaMemsetAsync failed: ", cudaGetErrorString(status));
    return;
  }
  require_int32(n_in, "sum_to");
  // Each input dimension is kept (it is in out_shape) or reduced (out_shape has 1 or nothing there).
  // The kept ones, outermost first, number the output row-major; runs of one kind merge.
  DimList kept{}, reduced{};
  const size_t nd = in_shape.size(), pad = nd - out_shape.size();
  int64_t stride = 1;
  // (kept, (size, stride)), inner first
  std::vector<std::pair<bool, std::pair<int64_t, int64_t>>> dims;
  for (size_t k = 0; k < nd; ++k) {
    const size_t i = nd - 1 - k;
    const int64_t size = in_shape[i];
    const bool keep = i >= pad && out_shape[i - pad] == size;
    if (size != 1) {
      if (!dims.empty() && dims.back().first == keep &&
          dims.back().second.first * dims.back().second.second == stride)
        dims.back().second.first *= size;
      else dims.push_back({keep, {size, stride}});
    }
    stride *= size;
  }
  for (auto it = dims.rbegin(); it != dims.rend(); ++it) {
    DimList& list = it->first ? kept : reduced;
    if (list.nd == kMaxDims)
      runtime_error("sum_to: reducing ", shape_str(in_shape), " to ", shape_str(out_shape),
                    " needs more than ", kMaxDims, " dimensions on CUDA");
    list.size[list.nd] = static_cast<int>(it->second.first);
    list.stride[list.nd] = static_cast<int>(it->second.second);
    ++list.nd;
  }
  const int outputs = static_cast<int>(n_out), length = static_cast<int>(n_in / n_out);
  if (length <= 32) {
    sum_to_thread_kernel<<<grid_stride_blocks(outputs, kThreads), kThreads, 0, stream()>>>(
        out, in, kept, reduced, outputs, length);
  } else if (length <= 4096) {
    sum_to_warp_kernel<<<grid_stride_blocks(int64_t(outputs) * 32, kThreads), kThreads, 0,
                         stream()>>>(out, in, kept, reduced, outputs, length);
  } else {
    sum_to_block_kernel<<<static_cast<unsigned>(outputs), kThreads, 0, stream()>>>(out, in, kept,
                                                                                   reduced, length);
  }
  check_launch("sum_to");
}

}  // namespace pycnn::cuda
