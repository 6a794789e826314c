// cross_entropy on CUDA (cross_entropy.h), x viewed as [N, C, inner].
//
// One position (a sample, or a sample's pixel) is handled by a warp when inner == 1 (its C logits
// are contiguous: lanes stride along them, shuffles combine max and sums) and by one thread when
// inner > 1 (neighbouring threads take neighbouring positions, so reads are coalesced). The maths
// is the CPU's: max, then sum exp, the sum without the target (for a precise target gradient and
// log1p nll) and the sum of shifted logits (label smoothing).
//
// Labels are checked on the device: a position whose label is outside [0, C) and not ignore_index
// atomicMin's its index into a flag, which the launcher copies back with the count of non-ignored
// targets (one small synchronous copy per forward) and turns into the CPU's ValueError, reading the
// bad label at that position. Mean and Sum then reduce the per-position losses in one block, in
// double and in a fixed order.
#include <cuda_runtime.h>

#include <climits>

#include "pycnn/cuda_reduce.cuh"
#include "pycnn/cuda_utils.h"
#include "pycnn/device.h"
#include "pycnn/ops/cross_entropy.h"

namespace pycnn {

namespace {

constexpr int kThreads = 256;

struct Flags {
  unsigned long long bad_position;  // ULLONG_MAX when every label is valid
  unsigned long long valid;         // non-ignored targets
};

struct Stats {
  float m, sum, rest, total;  // max, sum exp(x - m), the same without the target, sum (x - m)
};

// Lanes (32 in a warp, or 1) stride over the classes of one position, `step` floats apart; every
// lane gets the combined result.
template <bool WARP>
__device__ Stats position_stats(const float* xp, int64_t step, int64_t C, int64_t t, int lane) {
  const int lanes = WARP ? 32 : 1;
  Stats s{-INFINITY, 0.0f, 0.0f, 0.0f};
  for (int64_t c = lane; c < C; c += lanes) s.m = fmaxf(s.m, xp[c * step]);
  if (WARP) s.m = cuda::warp_max(s.m);
  for (int64_t c = lane; c < C; c += lanes) {
    const float v = xp[c * step] - s.m, e = expf(v);
    s.sum += e;
    s.rest += c == t ? 0.0f : e;
    s.total += v;
  }
  if (WARP) {
    s.sum = cuda::warp_sum(s.sum);
    s.rest = cuda::warp_sum(s.rest);
    s.total = cuda::warp_sum(s.total);
  }
  return s;
}

template <bool WARP>
__global__ void cross_entropy_forward_kernel(float* __restrict__ per, Flags* __restrict__ flags,
                                             const float* __restrict__ x,
                                             const int64_t* __restrict__ target,
                                             CrossEntropyShape s) {
  const int64_t thread = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  const int64_t first = WARP ? thread / 32 : thread;
  const int64_t threads = int64_t(gridDim.x) * blockDim.x, count = WARP ? threads / 32 : threads;
  const int lane = WARP ? threadIdx.x & 31 : 0;
  const float eps = s.label_smoothing;
  // p is the same for all lanes of a warp, so the branches below are warp-uniform.
  for (int64_t p = first; p < s.N * s.inner; p += count) {
    const int64_t t = target[p];
    if (t == s.ignore_index || t < 0 || t >= s.C) {
      if (lane == 0) {
        per[p] = 0.0f;
        if (t != s.ignore_index)
          atomicMin(&flags->bad_position, static_cast<unsigned long long>(p));
      }
      continue;
    }
    const float* xp = x + (p / s.inner) * s.C * s.inner + p % s.inner;
    const Stats st = position_stats<WARP>(xp, s.inner, s.C, t, lane);
    if (lane == 0) {
      const float shifted_target = xp[t * s.inner] - st.m, lse = logf(st.sum);
      const float nll = shifted_target == 0.0f ? log1pf(st.rest) : lse - shifted_target;
      per[p] = (1.0f - eps) * nll + eps * (lse - st.total / static_cast<float>(s.C));
    }
  }
}

// One block: counts the non-ignored targets and, for Mean and Sum, reduces the losses into loss[0].
__global__ void cross_entropy_finish_kernel(float* __restrict__ loss, Flags* __restrict__ flags,
                                            const float* __restrict__ per,
                                            const int64_t* __restrict__ target,
                                            CrossEntropyShape s) {
  double sum = 0.0, valid = 0.0;
  for (int64_t p = threadIdx.x; p < s.N * s.inner; p += blockDim.x) {
    valid += target[p] != s.ignore_index ? 1.0 : 0.0;
    if (s.reduction != Reduction::None) sum += per[p];
  }
  valid = cuda::block_sum(valid);
  sum = cuda::block_sum(sum);
  if (threadIdx.x == 0) {
    flags->valid = static_cast<unsigned long long>(valid);
    // Mean over no valid target is 0/0 = NaN, as in PyTorch.
    if (s.reduction == Reduction::Mean) loss[0] = static_cast<float>(sum / valid);
    else if (s.reduction == Reduction::Sum) loss[0] = static_cast<float>(sum);
  }
}

template <bool WARP>
__global__ void cross_entropy_backward_kernel(float* __restrict__ dx,
                                              const float* __restrict__ dloss,
                                              const float* __restrict__ x,
                                              const int64_t* __restrict__ target, float valid,
                                              CrossEntropyShape s) {
  const int64_t thread = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  const int64_t first = WARP ? thread / 32 : thread;
  const int64_t threads = int64_t(gridDim.x) * blockDim.x, count = WARP ? threads / 32 : threads;
  const int lanes = WARP ? 32 : 1, lane = WARP ? threadIdx.x & 31 : 0;
  const float eps = s.label_smoothing, smooth = eps / static_cast<float>(s.C);
  for (int64_t p = first; p < s.N * s.inner; p += count) {
    const int64_t t = target[p], offset = (p / s.inner) * s.C * s.inner + p % s.inner;
    const float* xp = x + offset;
    float* dxp = dx + offset;
    if (t == s.ignore_index) {
      for (int64_t c = lane; c < s.C; c += lanes) dxp[c * s.inner] = 0.0f;
      continue;
    }
    const float g = s.reduction == Reduction::None  ? dloss[p]
                    : s.reduction == Reduction::Sum ? dloss[0]
                                                    : dloss[0] / valid;
    // A label outside [0, C) never equals c: no access outside the position's logits.
    const Stats st = position_stats<WARP>(xp, s.inner, s.C, t, lane);
    const float inv = 1.0f / st.sum;
    for (int64_t c = lane; c < s.C; c += lanes) {
      // softmax_t - 1 = -rest / sum, without the cancellation of p_t - 1 when p_t is near 1.
      dxp[c * s.inner] = c == t ? g * (-st.rest * inv + eps - smooth)
                                : g * (expf(xp[c * s.inner] - st.m) * inv - smooth);
    }
  }
}

// Device memory released when the launcher leaves, by return or by exception.
struct DeviceBuffer {
  void* ptr = nullptr;
  explicit DeviceBuffer(size_t bytes) : ptr(cuda::allocate(bytes)) {}
  ~DeviceBuffer() { cuda::release(ptr); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
};

}  // namespace

namespace cuda {

int64_t cross_entropy_forward(float* loss, const float* x, const int64_t* target,
                              const CrossEntropyShape& s) {
  const int64_t P = s.positions();
  DeviceBuffer flags_buffer(sizeof(Flags));
  Flags* flags = static_cast<Flags*>(flags_buffer.ptr);
  const Flags initial{ULLONG_MAX, 0};
  copy_host_to_device(flags, &initial, sizeof(Flags));
  DeviceBuffer per_buffer(s.reduction == Reduction::None ? 0 : sizeof(float) * P);
  float* per = s.reduction == Reduction::None ? loss : static_cast<float*>(per_buffer.ptr);
  if (P > 0) {
    if (s.inner == 1)
      cross_entropy_forward_kernel<true>

          <<<cuda::grid_stride_blocks(P * 32, kThreads), kThreads, 0, cuda::stream()>>>(
              per, flags, x, target, s);
    else
      cross_entropy_forward_kernel<false>
          <<<cuda::grid_stride_blocks(P, kThreads), kThreads, 0, cuda::stream()>>>(per, flags, x,
                                                                                   target, s);
    check_launch("cross_entropy");
  }
  cross_entropy_finish_kernel<<<1, kThreads, 0, cuda::stream()>>>(loss, flags, per, target, s);
  check_launch("cross_entropy");
  Flags result;
  copy_device_to_host(&result, flags, sizeof(Flags));
  if (result.bad_position != ULLONG_MAX) {
    const int64_t p = static_cast<int64_t>(result.bad_position);
    int64_t label = 0;
    copy_device_to_host(&label, target + p, sizeof(int64_t));
    value_error("cross_entropy: target label ", label, " at position ", p,
                " is out of range: expected class indices in [0, ", s.C, ") (C = ", s.C,
                ") or ignore_index = ", s.ignore_index);
  }
  return static_cast<int64_t>(result.valid);
}

void cross_entropy_backward(float* dx, const float* dloss, const float* x, const int64_t* target,
                            int64_t valid, const CrossEntropyShape& s) {
  const int64_t P = s.positions();
  if (P <= 0 || s.C <= 0) return;
  const float v = static_cast<float>(valid);
  if (s.inner == 1)
    cross_entropy_backward_kernel<true>

        <<<cuda::grid_stride_blocks(P * 32, kThreads), kThreads, 0, cuda::stream()>>>(dx, dloss, x,
                                                                                      target, v, s);
  else
    cross_entropy_backward_kernel<false>

        <<<cuda::grid_stride_blocks(P, kThreads), kThreads, 0, cuda::stream()>>>(dx, dloss, x,
                                                                                 target, v, s);
  check_launch("cross_entropy backward");
}

}  // namespace cuda
}  // namespace pycnn
