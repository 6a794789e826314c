// Tensor: a dense, contiguous, row-major array of float32 (or int64 for class labels) on one device.
//
// Storage is reference counted (std::shared_ptr) and comes from the device's allocator; a reshape is
// a view that shares it. Tensors are always contiguous: kernels index them as flat arrays with the
// shape's strides implied, which keeps every kernel simple. Memory imported from numpy or DLPack is
// wrapped without a copy and released through the owner it came with.
//
// Each storage carries a version counter, as PyTorch's tensors do: every in-place write reachable
// from Python (the bindings of zero_, copy_, add_inplace, the optimizer updates, batch_norm's running
// statistics) bumps it, and autograd compares it with the value recorded when an op saved the
// tensor for backward, so a saved tensor changed in between raises instead of giving a wrong
// gradient. It lives in the storage because every view (reshape) of the memory must see the bump.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "pycnn/check.h"
#include "pycnn/device.h"

namespace pycnn {

enum class DType : int { Float32 = 0, Int64 = 1 };

inline const char* dtype_name(DType dtype) { return dtype == DType::Float32 ? "float32" : "int64"; }
inline size_t dtype_size(DType dtype) { return dtype == DType::Float32 ? 4 : 8; }

using Shape = std::vector<int64_t>;

struct Storage {
  void* data = nullptr;
  size_t bytes = 0;
  Device device = Device::CPU;
  std::function<void(void*)> release;  // returns the block to its allocator or drops its owner
  std::atomic<int64_t> version{0};     // in-place writes so far (see the file comment)
  bool borrowed = false;               // memory owned elsewhere (Tensor::wrap: numpy, DLPack)
  Storage() = default;
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  ~Storage() {
    if (release) release(data);
  }
};

// The element count of `shape`; ValueError, naming `who`, for a negative size or a count past 2^60.
int64_t numel_of(const Shape& shape, const char* who = "tensor");

class Tensor {
 public:
  Tensor() = default;

  static Tensor empty(const Shape& shape, DType dtype = DType::Float32,
                      Device device = Device::CPU);
  static Tensor zeros(const Shape& shape, DType dtype = DType::Float32,
                      Device device = Device::CPU);
  // Wraps memory owned elsewhere; `release` runs when the last tensor sharing it dies.
  static Tensor wrap(void* data, const Shape& shape, DType dtype, Device device,
                     std::function<void(void*)> release);

  bool defined() const { return storage_ != nullptr; }
  const Shape& shape() const { return shape_; }
  int ndim() const { return static_cast<int>(shape_.size()); }
  int64_t size(int axis) const;  // negative axes count from the end, like Python
  int64_t numel() const { return numel_; }
  size_t nbytes() const { return static_cast<size_t>(numel_) * dtype_size(dtype_); }
  DType dtype() const { return dtype_; }
  Device device() const { return device_; }
  bool is_cuda() const { return device_ == Device::CUDA; }

  void* raw() const { return storage_ ? storage_->data : nullptr; }
  float* f32() const;    // throws TypeError unless float32
  int64_t* i64() const;  // throws TypeError unless int64

  Tensor view(const Shape& shape) const;  // same storage, new shape of the same numel
  Tensor clone() const;                   // a copy on the same device
  Tensor to(Device device) const;         // a copy on `device` (itself when already there)
  void zero_();
  void copy_from(const Tensor& src);  // same numel and dtype, any devices

  const std::shared_ptr<Storage>& storage() const { return storage_; }
  // No other tensor, exported array or owner outside pycnn shares this memory: autograd may hand it
  // to a leaf as its .grad without a copy (see _run_tape in pycnn/autograd.py).
  bool sole_owner() const { return storage_ && storage_.use_count() == 1 && !storage_->borrowed; }

  // The storage's version counter (0 for an undefined tensor). Kernels do not bump it themselves:
  // the binding of every in-place op does, once per call, after the write.
  int64_t version() const {
    return storage_ ? storage_->version.load(std::memory_order_relaxed) : 0;
  }
  void bump_version() const {
    if (storage_) storage_->version.fetch_add(1, std::memory_order_relaxed);
  }

 private:
  std::shared_ptr<Storage> storage_;
  Shape shape_;
  int64_t numel_ = 0;
  DType dtype_ = DType::Float32;
  Device device_ = Device::CPU;
};

}  // namespace pycnn
