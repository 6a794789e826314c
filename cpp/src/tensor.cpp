// Tensor storage, copies between devices, and the CPU allocator.
#include "pycnn/tensor.h"

#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <unordered_map>

namespace pycnn {

namespace cpu {

// A caching allocator for blocks of 64 KiB and more. glibc serves such blocks with a fresh mmap
// and unmaps them on free, so every op output of a few hundred KB paid its page faults again on
// each call (a relu over 64K floats: 0.24 ms, of which 0.01 ms is the relu). Freed blocks are kept,
// binned by size, and handed to the next request of at most twice less; the cache holds at most
// kCacheLimit bytes and returns the rest to the system. Smaller blocks go straight to malloc,
// which already recycles them.
namespace {
constexpr size_t kCachedFrom = size_t(64) << 10;
constexpr size_t kCacheLimit = size_t(1) << 30;

struct CpuCache {
  std::mutex mutex;
  std::multimap<size_t, void*> free_blocks;  // size -> block
  std::unordered_map<void*, size_t> sizes;   // every cached-size block handed out or kept
  AllocatorStats stats;                      // stats.cached_bytes: the bytes in free_blocks
};

CpuCache& cache() {
  static CpuCache* instance = new CpuCache;  // never destroyed: tensors may die at interpreter exit
  return *instance;
}

size_t round_up(size_t bytes) { return (bytes + 4095) / 4096 * 4096; }

// The machine's physical memory. Linux overcommits, so a request past it can succeed and the process
// is then killed by the OOM killer while the tensor is filled; such a request is refused up front.
size_t physical_memory() {
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
  return pages > 0 && page > 0 ? static_cast<size_t>(pages) * static_cast<size_t>(page) : SIZE_MAX;
}
}  // namespace

void* allocate(size_t bytes) {
  static const size_t limit = physical_memory();
  if (bytes > limit)
    runtime_error("out of CPU memory: a tensor of ", bytes, " bytes (", bytes >> 30,
                  " GiB) is larger than this machine's memory (", limit >> 30, " GiB)");
  if (bytes >= kCachedFrom) {
    const size_t rounded = round_up(bytes);
    CpuCache& c = cache();
    {
      std::lock_guard<std::mutex> lock(c.mutex);
      auto it = c.free_blocks.lower_bound(rounded);
      if (it != c.free_blocks.end() && it->first <= 2 * rounded) {
        void* ptr = it->second;
        c.stats.cached_bytes -= it->first;
        c.free_blocks.erase(it);
        ++c.stats.cache_hits;
        return ptr;
      }
    }
    void* ptr = std::aligned_alloc(64, rounded);
    if (ptr == nullptr) {  // give the cache back to the system and try once more
      std::lock_guard<std::mutex> lock(c.mutex);
      for (auto& [size, block] : c.free_blocks) {
        c.sizes.erase(block);
        std::free(block);
      }
      c.free_blocks.clear();
      c.stats.cached_bytes = 0;
      ptr = std::aligned_alloc(64, rounded);
    }
    if (ptr == nullptr) runtime_error("out of CPU memory allocating ", bytes, " bytes");
    std::lock_guard<std::mutex> lock(c.mutex);
    c.sizes[ptr] = rounded;
    ++c.stats.system_allocations;
    return ptr;
  }
  // aligned_alloc wants a multiple of the alignment; 64 bytes is one AVX-512 vector and a cache line.
  size_t rounded = (bytes + 63) / 64 * 64;
  void* ptr = std::aligned_alloc(64, rounded == 0 ? 64 : rounded);
  if (ptr == nullptr) runtime_error("out of CPU memory allocating ", bytes, " bytes");
  return ptr;
}

AllocatorStats allocator_stats() {
  CpuCache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  return c.stats;
}

void release(void* ptr) {
  if (ptr == nullptr) return;
  CpuCache& c = cache();
  {
    std::lock_guard<std::mutex> lock(c.mutex);
    auto it = c.sizes.find(ptr);
    if (it != c.sizes.end()) {
      if (c.stats.cached_bytes + it->second <= kCacheLimit) {
        c.free_blocks.emplace(it->second, ptr);
        c.stats.cached_bytes += it->second;
        return;
      }
      c.sizes.erase(it);
    }
  }
  std::free(ptr);
}

}  // namespace cpu

bool built_with_cuda() {
#ifdef PYCNN_WITH_CUDA
  return true;
#else
  return false;
#endif
}

void throw_no_cuda(const char* op) {
  runtime_error(op,
                ": this pycnn was built without the CUDA backend (nvcc was not found at build "
                "time); reinstall with nvcc on PATH or use device='cpu'");
}

int64_t numel_of(const Shape& shape, const char* who) {
  int64_t n = 1;
  for (int64_t d : shape)
    if (d < 0) value_error(who, ": sizes must be non-negative, got shape ", shape_str(shape));
  for (int64_t d : shape) {
    if (d == 0) return 0;
    // A product past 2^60 elements would wrap around once multiplied by the element size (8 bytes
    // for int64: 2^62 floats made a 0-byte allocation), and a wrapped size allocates too little for
    // the kernel that then fills it: refuse it here, where every shape passes.
    if (n > (int64_t(1) << 60) / d)
      value_error(who, ": shape ", shape_str(shape), " has more elements than fit in memory");
    n *= d;
  }
  return n;
}

static std::shared_ptr<Storage> allocate_storage(size_t bytes, Device device) {
  auto storage = std::make_shared<Storage>();
  storage->bytes = bytes;
  storage->device = device;
  if (device == Device::CPU) {
    storage->data = cpu::allocate(bytes);
    storage->release = cpu::release;
  } else {
    PYCNN_ON_CUDA("tensor",
                  (storage->data = cuda::allocate(bytes), storage->release = cuda::release));
  }
  return storage;
}

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  Tensor t;
  t.numel_ = numel_of(shape);
  t.shape_ = shape;
  t.dtype_ = dtype;
  t.device_ = device;
  t.storage_ = allocate_storage(t.nbytes(), device);
  return t;
}

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  t.zero_();
  return t;
}

Tensor Tensor::wrap(void* data, const Shape& shape, DType dtype, Device device,
                    std::function<void(void*)> release) {
  Tensor t;
  t.numel_ = numel_of(shape);
  t.shape_ = shape;
  t.dtype_ = dtype;
  t.device_ = device;
  t.storage_ = std::make_shared<Storage>();
  t.storage_->data = data;
  t.storage_->bytes = t.nbytes();
  t.storage_->device = device;
  t.storage_->release = std::move(release);
  t.storage_->borrowed = true;
  return t;
}

int64_t Tensor::size(int axis) const {
  int n = ndim();
  int a = axis < 0 ? axis + n : axis;
  if (a < 0 || a >= n)
    value_error("tensor: axis ", axis, " is out of range for a ", n, "-d tensor");
  return shape_[a];
}

float* Tensor::f32() const {
  if (dtype_ != DType::Float32) type_error("expected a float32 tensor, got ", dtype_name(dtype_));
  return static_cast<float*>(raw());
}

int64_t* Tensor::i64() const {
  if (dtype_ != DType::Int64) type_error("expected an int64 tensor, got ", dtype_name(dtype_));
  return static_cast<int64_t*>(raw());
}

Tensor Tensor::view(const Shape& shape) const {
  if (numel_of(shape) != numel_)
    value_error("reshape: cannot view a tensor of shape ", shape_str(shape_), " (", numel_,
                " elements) as ", shape_str(shape), " (", numel_of(shape), " elements)");
  Tensor t = *this;
  t.shape_ = shape;
  return t;
}

Tensor Tensor::clone() const {
  Tensor t = empty(shape_, dtype_, device_);
  t.copy_from(*this);
  return t;
}

Tensor Tensor::to(Device device) const {
  if (device == device_) return *this;
  Tensor t = empty(shape_, dtype_, device);
  t.copy_from(*this);
  return t;
}

void Tensor::zero_() {
  if (nbytes() == 0) return;
  if (device_ == Device::CPU) std::memset(raw(), 0, nbytes());
  else PYCNN_ON_CUDA("zero_", cuda::fill_zero(raw(), nbytes()));
}

void Tensor::copy_from(const Tensor& src) {
  if (src.numel_ != numel_ || src.dtype_ != dtype_)
    value_error("copy: expected ", numel_, " ", dtype_name(dtype_), " elements, got ", src.numel_,
                " ", dtype_name(src.dtype_));
  size_t bytes = nbytes();
  if (bytes == 0 || raw() == src.raw()) return;
  if (device_ == Device::CPU && src.device_ == Device::CPU) {
    std::memcpy(raw(), src.raw(), bytes);
  } else if (device_ == Device::CUDA && src.device_ == Device::CPU) {
    PYCNN_ON_CUDA("to", cuda::copy_host_to_device(raw(), src.raw(), bytes));
  } else if (device_ == Device::CPU && src.device_ == Device::CUDA) {
    PYCNN_ON_CUDA("to", cuda::copy_device_to_host(raw(), src.raw(), bytes));
  } else {
    PYCNN_ON_CUDA("to", cuda::copy_device_to_device(raw(), src.raw(), bytes));
  }
}

}  // namespace pycnn
