// Helpers every CUDA launcher uses: the stream, launch checks, grid sizes. Included only from .cu
// files (it needs cuda_runtime.h).
//
// The stream contract: all pycnn GPU work is ordered on ONE stream per device, pycnn::cuda::stream().
// Every launcher MUST launch on it (`kernel<<<grid, block, smem, cuda::stream()>>>`) and use
// cudaMemcpyAsync/cudaMemsetAsync on it: the caching allocator hands a freed block to the next
// tensor without waiting, which is safe only because every reader and writer of that block is ordered
// on the same stream. The host waits only where it reads (copy_device_to_host, synchronize(), a
// DLPack export). The stream is created as a *blocking* stream (cudaStreamDefault), so a kernel
// that still launches on the legacy default stream (stream 0) is ordered against it too, at no cost
// to code that never touches stream 0; pass cuda::stream() anyway.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "pycnn/check.h"
#include "pycnn/device.h"

namespace pycnn::cuda {

// The current device's stream, created on first use.
cudaStream_t stream();

// Multiprocessors of the current device (for sizing grids), read once per device.
int sm_count();

// Throws pycnn::RuntimeError naming `op` when the last launch failed (bad configuration, no kernel
// image for this GPU, an earlier asynchronous fault). Call right after every <<<...>>>.
inline void check_launch(const char* op) {
  cudaError_t status = cudaGetLastError();
  if (status != cudaSuccess)
    runtime_error(op, ": CUDA kernel launch failed: ", cudaGetErrorString(status));
}

// Blocks of `threads` that cover `n` items, at least one (a grid of 0 blocks is a launch error).
inline unsigned blocks_for(int64_t n, int threads) {
  int64_t blocks = (n + threads - 1) / threads;
  return static_cast<unsigned>(blocks < 1 ? 1 : blocks);
}

// Blocks for a grid-stride loop over `n` items, `threads` to a block: enough to cover n, at most 32
// per multiprocessor (more only adds scheduling; the loop covers the rest), at least one.
inline unsigned grid_stride_blocks(int64_t n, int threads) {
  const unsigned cap = static_cast<unsigned>(sm_count()) * 32;
  const unsigned blocks = blocks_for(n, threads);
  return blocks < cap ? blocks : cap;
}

// The kernels index with 32-bit ints (cheaper address arithmetic); launchers check sizes first. The
// limit leaves 2^24 of headroom below INT32_MAX, so an index that steps past the end by a grid's
// stride, a tile or a k-chunk (all far below 2^24) still does not wrap around.
constexpr int64_t kMaxInt32Elements = INT32_MAX - (int64_t(1) << 24);
inline void require_int32(int64_t n, const char* op) {
  if (n > kMaxInt32Elements)
    runtime_error(op, ": ", n, " elements exceed the CUDA kernels' 32-bit indexing (at most ",
                  kMaxInt32Elements, ")");
}

// Scratch device memory for one launcher call, from the caching allocator, released when the launcher
// returns. Safe although kernels reading it may still be queued: the block can only be handed out
// again to work queued after them on the same stream.
class Workspace {
 public:
  explicit Workspace(size_t bytes) : p_(allocate(bytes)) {}
  ~Workspace() { release(p_); }
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;
  template <typename T>
  T* as() const {
    return static_cast<T*>(p_);
  }

 private:
  void* p_;
};

}  // namespace pycnn::cuda
