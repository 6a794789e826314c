// CUDA device runtime: device count, the stream, the caching allocator, copies.
//
// cudart is linked statically, so this file loads on machines with no GPU and no driver: every entry
// point asks the driver first and turns its answer into a pycnn::RuntimeError (a Python exception)
// instead of aborting.
//
// Stream: one per device, created lazily (see pycnn/cuda_utils.h for the contract every launcher
// follows). Host-to-device, device-to-device copies and memsets are queued on it; the host waits only
// where it reads: copy_device_to_host and synchronize().
//
// Allocator: cudaMalloc and cudaFree are slow (cudaFree synchronises the whole device), and a
// training step frees and re-allocates the same sizes every step. So freed blocks go back to a cache,
// binned by rounded size, and the next allocation of a fitting size takes one without asking the
// driver. Reusing a block at once is safe because all work is ordered on the one stream: whatever
// still reads the old tensor runs before whatever the new tensor's kernels write. cudaMalloc runs only
// when nothing cached fits; when it runs out of memory the cache is returned to the driver and the
// allocation retried once. memory_allocated() counts the bytes live tensors asked for; the cache's
// extra bytes show in memory_reserved().
#include <cuda_runtime.h>

#include <map>
#include <mutex>
#include <unordered_map>

#include "pycnn/cuda_utils.h"
#include "pycnn/device.h"

namespace pycnn::cuda {

namespace {

void check(cudaError_t status, const char* what) {
  if (status != cudaSuccess) {
    cudaGetLastError();  // clear a non-sticky error so the next call starts clean
    runtime_error("CUDA error in ", what, ": ", cudaGetErrorString(status));
  }
}

constexpr int kMaxDevices = 64;

}  // namespace

int current_device() {
  int device = 0;
  check(cudaGetDevice(&device), "cudaGetDevice");
  if (device < 0 || device >= kMaxDevices)
    runtime_error("cuda: device index ", device, " is beyond the ", kMaxDevices, " supported");
  return device;
}

namespace {

// Size classes: 512-byte steps below 1 MiB, 2 MiB steps above. A cached block serves a request of
// its rounded size up to twice that, so a small tensor never pins a huge block.
constexpr size_t kSmallLimit = size_t(1) << 20;
constexpr size_t kLargeStep = size_t(2) << 20;

size_t round_size(size_t bytes) {
  if (bytes == 0) bytes = 1;
  if (bytes < kSmallLimit) return (bytes + 511) / 512 * 512;
  return (bytes + kLargeStep - 1) / kLargeStep * kLargeStep;
}

struct Block {
  int device;
  size_t size;       // bytes cudaMalloc gave
  size_t requested;  // bytes the tensor asked for (what memory_allocated counts)
};

struct Allocator {
  std::mutex mutex;
  std::multimap<std::pair<int, size_t>, void*> cached;  // (device, size) -> free block
  std::unordered_map<void*, Block> blocks;              // every cudaMalloc block, live or cached
  size_t allocated = 0, peak = 0, reserved = 0;

  // Returns every cached block to the driver. Caller holds the mutex.
  void release_cached() {
    if (cached.empty()) return;
    // cudaFree synchronises anyway; waiting first makes the order explicit: nothing queued still
    // touches a block that is about to go.
    cudaDeviceSynchronize();
    for (auto& [key, ptr] : cached) {
      cudaFree(ptr);
      reserved -= key.second;
      blocks.erase(ptr);
    }
    cached.clear();
  }
};

// Never destroyed: tensors held by Python objects may die at interpreter exit after static
// destructors ran; release() then still finds a valid allocator (and calls no CUDA function).
Allocator& allocator() {
  static Allocator* instance = new Allocator;
  return *instance;
}

}  // namespace

int device_count() {
  static int count = [] {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
      cudaGetLastError();
      return 0;
    }
    return n;
  }();
  return count;
}

cudaStream_t stream() {
  static cudaStream_t streams[kMaxDevices] = {};
  static std::once_flag created[kMaxDevices];
  const int device = current_device();
  std::call_once(created[device], [device] {
    // Blocking (not cudaStreamNonBlocking): ordered against the legacy default stream, so code that
    // launches there by mistake still sees our results in order.
    check(cudaStreamCreateWithFlags(&streams[device], cudaStreamDefault), "cudaStreamCreate");
  });
  return streams[device];
}

int sm_count() {
  static int counts[kMaxDevices] = {};
  static std::once_flag read[kMaxDevices];
  const int device = current_device();
  std::call_once(read[device], [device] {
    check(cudaDeviceGetAttribute(&counts[device], cudaDevAttrMultiProcessorCount, device),
          "cudaDeviceGetAttribute");
  });
  return counts[device];
}

void* allocate(size_t bytes) {
  if (device_count() == 0)
    runtime_error(
        "cuda: no CUDA GPU is available (pycnn.cuda.is_available() is False); "
        "use device='cpu'");
  const int device = current_device();
  const size_t size = round_size(bytes);
  Allocator& a = allocator();
  std::lock_guard<std::mutex> lock(a.mutex);
  void* ptr = nullptr;
  auto it = a.cached.lower_bound({device, size});
  if (it != a.cached.end() && it->first.first == device && it->first.second <= 2 * size) {
    ptr = it->second;
    a.cached.erase(it);
  } else {
    cudaError_t status = cudaMalloc(&ptr, size);
    if (status == cudaErrorMemoryAllocation) {
      cudaGetLastError();
      a.release_cached();
      status = cudaMalloc(&ptr, size);
    }
    if (status == cudaErrorMemoryAllocation) {
      cudaGetLastError();
      runtime_error("out of GPU memory allocating ", bytes, " bytes (", a.allocated,
                    " bytes held by live tensors)");
    }
    check(status, "cudaMalloc");
    a.blocks[ptr] = {device, size, 0};
    a.reserved += size;
  }
  Block& block = a.blocks[ptr];
  block.requested = bytes;
  a.allocated += bytes;
  if (a.allocated > a.peak) a.peak = a.allocated;
  return ptr;
}

void release(void* ptr) {
  // Runs in destructors: never throws, never calls CUDA; the block waits in the cache.
  Allocator& a = allocator();
  std::lock_guard<std::mutex> lock(a.mutex);
  auto it = a.blocks.find(ptr);
  if (it == a.blocks.end()) return;
  a.allocated -= it->second.requested;
  it->second.requested = 0;
  a.cached.emplace(std::make_pair(it->second.device, it->second.size), ptr);
}

void empty_cache() {
  Allocator& a = allocator();
  std::lock_guard<std::mutex> lock(a.mutex);
  a.release_cached();
}

void copy_host_to_device(void* dst, const void* src, size_t bytes) {
  // From pageable memory the call returns once the source has been staged, so the caller may free
  // it right after.
  check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream()), "copy to cuda");
}
void copy_device_to_host(void* dst, const void* src, size_t bytes) {
  cudaStream_t s = stream();
  check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, s), "copy to cpu");
  check(cudaStreamSynchronize(s), "copy to cpu");
}
void copy_device_to_device(void* dst, const void* src, size_t bytes) {
  check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream()), "copy on cuda");
}
void fill_zero(void* ptr, size_t bytes) {
  check(cudaMemsetAsync(ptr, 0, bytes, stream()), "cudaMemset");
}
void synchronize() { check(cudaDeviceSynchronize(), "synchronize"); }

size_t memory_allocated() {
  Allocator& a = allocator();
  std::lock_guard<std::mutex> lock(a.mutex);
  return a.allocated;
}
size_t max_memory_allocated() {
  Allocator& a = allocator();
  std::lock_guard<std::mutex> lock(a.mutex);
  return a.peak;
}
void reset_peak_memory_stats() {
  Allocator& a = allocator();
  std::lock_guard<std::mutex> lock(a.mutex);
  a.peak = a.allocated;
}
size_t memory_reserved() {
  Allocator& a = allocator();
  std::lock_guard<std::mutex> lock(a.mutex);
  return a.reserved;
}

}  // namespace pycnn::cuda
