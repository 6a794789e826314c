// CUDA device runtime: device count, allocation, copies.
//
// cudart is linked statically, so this file loads on machines with no GPU and no driver: every entry
// point asks the driver first and turns its answer into a pycnn::RuntimeError (a Python exception)
// instead of aborting. All work goes to the legacy default stream for now; the host reads
// (copy_device_to_host) are the only synchronisation points.
#include <cuda_runtime.h>

#include <atomic>
#include <mutex>
#include <unordered_map>

#include "pycnn/device.h"

namespace pycnn::cuda {

static void check(cudaError_t status, const char* what) {
  if (status != cudaSuccess) {
    cudaGetLastError();  // clear the sticky-free error state so the next call starts clean
    runtime_error("CUDA error in ", what, ": ", cudaGetErrorString(status));
  }
}

int device_count() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return count;
}

static std::mutex sizes_mutex;
static std::unordered_map<void*, size_t> sizes;  // what each live block holds, for the counters
static std::atomic<size_t> allocated{0};
static std::atomic<size_t> peak{0};

void* allocate(size_t bytes) {
  if (device_count() == 0)
    runtime_error("cuda: no CUDA GPU is available (pycnn.cuda.is_available() is False); "
                  "use device='cpu'");
  void* ptr = nullptr;
  check(cudaMalloc(&ptr, bytes == 0 ? 256 : bytes), "cudaMalloc");
  {
    std::lock_guard<std::mutex> lock(sizes_mutex);
    sizes[ptr] = bytes;
  }
  size_t now = allocated += bytes;
  size_t old = peak.load();
  while (now > old && !peak.compare_exchange_weak(old, now)) {
  }
  return ptr;
}

void release(void* ptr) {
  {
    std::lock_guard<std::mutex> lock(sizes_mutex);
    auto it = sizes.find(ptr);
    if (it != sizes.end()) {
      allocated -= it->second;
      sizes.erase(it);
    }
  }
  cudaFree(ptr);  // a destructor must not throw; a failed free leaves nothing to recover
}

void copy_host_to_device(void* dst, const void* src, size_t bytes) {
  check(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice), "copy to cuda");
}
void copy_device_to_host(void* dst, const void* src, size_t bytes) {
  check(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost), "copy to cpu");
}
void copy_device_to_device(void* dst, const void* src, size_t bytes) {
  check(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToDevice), "copy on cuda");
}
void fill_zero(void* ptr, size_t bytes) { check(cudaMemset(ptr, 0, bytes), "cudaMemset"); }
void synchronize() { check(cudaDeviceSynchronize(), "synchronize"); }
size_t memory_allocated() { return allocated.load(); }
size_t max_memory_allocated() { return peak.load(); }

}  // namespace pycnn::cuda
