// Devices and their allocators.
//
// The CPU allocator hands out 64-byte aligned blocks (one cache line, one AVX-512 vector). The CUDA
// runtime (a caching allocator and one stream per device, see pycnn/cuda_utils.h) lives in
// cpp/src/cuda/runtime.cu and is compiled only when nvcc is found; the extension
// links cudart statically, so it imports on machines with no GPU and no driver, and
// cuda::device_count() then answers 0.
#pragma once

#include <cstddef>
#include <new>
#include <utility>
#include <vector>

#include "pycnn/check.h"
#include "pycnn/thread_governor.h"

namespace pycnn {

enum class Device : int { CPU = 0, CUDA = 1 };

inline const char* device_name(Device device) { return device == Device::CPU ? "cpu" : "cuda"; }

namespace cpu {
void* allocate(size_t bytes);  // 64-byte aligned; throws RuntimeError when memory runs out
void release(void* ptr);

// What allocate has done with blocks of 64 KiB and more (the cached sizes) since the process began:
// blocks taken from the system, blocks handed out again from the cache, and the bytes the cache
// holds now. Training in the steady state takes nothing new from the system (tests/test_train.py).
struct AllocatorStats {
  size_t system_allocations = 0;
  size_t cache_hits = 0;
  size_t cached_bytes = 0;
};
AllocatorStats allocator_stats();

// std::vector's allocator over allocate/release, for a kernel's large temporaries (weights packed
// per call, per-thread gradient sums): blocks of 64 KiB and more come back from allocate's cache
// instead of as fresh pages from the system. Each call's 9 MB of packed weights for a 512-channel
// 3x3 layer faulted 2,300 pages in, 2-3 us each on this VM: 6 ms of a 4.6 ms convolution.
template <class T>
struct CachedAllocator {
  using value_type = T;
  CachedAllocator() = default;
  template <class U>
  CachedAllocator(const CachedAllocator<U>&) {}
  T* allocate(size_t n) {
    if (n > size_t(-1) / sizeof(T))
      runtime_error("out of CPU memory: ", n, " elements of ", sizeof(T), " bytes each");
    return static_cast<T*>(cpu::allocate(n * sizeof(T)));
  }
  void deallocate(T* p, size_t) { cpu::release(p); }
  template <class U>
  bool operator==(const CachedAllocator<U>&) const {
    return true;
  }
  template <class U>
  bool operator!=(const CachedAllocator<U>&) const {
    return false;
  }
};
template <class T>
using CachedVector = std::vector<T, CachedAllocator<T>>;

// The same allocator whose resize() leaves new elements uninitialised (a default-constructed float
// is not zeroed): for buffers a kernel writes in full right after, such as a convolution's weights
// packed on every training call (9.4 MB for a 512 -> 512 3x3 layer, zeroed first: 3% of its forward).
template <class T>
struct UninitializedAllocator : CachedAllocator<T> {
  template <class U>
  struct rebind {
    using other = UninitializedAllocator<U>;
  };
  UninitializedAllocator() = default;
  template <class U>
  UninitializedAllocator(const UninitializedAllocator<U>&) {}
  template <class U, class... Args>
  void construct(U* p, Args&&... args) {
    if constexpr (sizeof...(Args) == 0) ::new (static_cast<void*>(p)) U;
    else ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }
};
template <class T>
using UninitializedVector = std::vector<T, UninitializedAllocator<T>>;
}  // namespace cpu

// True when this build has the CUDA backend compiled in.
bool built_with_cuda();

namespace cuda {
int device_count();    // 0 when there is no GPU or no driver; never throws
int current_device();  // the device pycnn's kernels run on (cudaGetDevice)
void* allocate(size_t bytes);
void release(void* ptr);
void copy_host_to_device(void* dst, const void* src, size_t bytes);
void copy_device_to_host(void* dst, const void* src, size_t bytes);
void copy_device_to_device(void* dst, const void* src, size_t bytes);
void fill_zero(void* ptr, size_t bytes);
void synchronize();
size_t memory_allocated();       // bytes held by live tensors
size_t max_memory_allocated();   // high-water mark of memory_allocated()
void reset_peak_memory_stats();  // max_memory_allocated() restarts from memory_allocated()
size_t memory_reserved();        // bytes from the driver: live tensors plus the allocator's cache
void empty_cache();              // returns the cached (free) blocks to the driver
}  // namespace cuda

// Raises a clear error when CUDA was asked for and cannot be had.
[[noreturn]] void throw_no_cuda(const char* op);

// PYCNN_ON_CUDA(op, call): run the CUDA launcher `call` in a build with CUDA; in a build without it
// raise instead, without referencing the launcher (so CPU-only builds link).
#ifdef PYCNN_WITH_CUDA
#define PYCNN_ON_CUDA(op, call) call
#else
#define PYCNN_ON_CUDA(op, call) ::pycnn::throw_no_cuda(op)
#endif

// PYCNN_ON_CPU(call): run the CPU kernel `call` after govern_threads() (pycnn/thread_governor.h)
// has set the calling thread's OpenMP team (the bindings of the CPU ops that run OpenMP teams).
#define PYCNN_ON_CPU(call) (::pycnn::cpu::govern_threads(), call)

// PYCNN_CUDA_LAUNCHER(f): a pointer to the CUDA launcher f in a build with CUDA; in a build without
// it a null pointer of the same type, so code that passes launchers around links there too (and
// checks for null before it calls; see cpp/bindings/unary_activation.h).
#ifdef PYCNN_WITH_CUDA
#define PYCNN_CUDA_LAUNCHER(f) (&(f))
#else
#define PYCNN_CUDA_LAUNCHER(f) static_cast<decltype(&(f))>(nullptr)
#endif

}  // namespace pycnn
