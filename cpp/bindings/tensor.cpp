// The C++ Tensor as pycnn._C.Tensor: creation, numpy and DLPack exchange, device copies, and the
// CUDA runtime queries. pycnn/tensor.py wraps it with autograd.
#include <nanobind/ndarray.h>
#include <nanobind/stl/string.h>

#include "common.h"
#include "pycnn/cuda_gemm.h"

namespace pycnn {

static nb::tuple shape_tuple(const Tensor& t) {
  nb::list out;
  for (int64_t d : t.shape()) out.append(d);
  return nb::tuple(out);
}

static DType dtype_of(const nb::dlpack::dtype& dt, const char* op) {
  if (dt == nb::dtype<float>()) return DType::Float32;
  if (dt == nb::dtype<int64_t>()) return DType::Int64;
  type_error(op, ": expected float32 or int64 data, got a dtype code ", int(dt.code), " of ",
             int(dt.bits), " bits (convert with .astype(np.float32) or .astype(np.int64))");
}

// Wraps an ndarray's memory without copying; the ndarray (and so its owner) stays alive as long as
// any tensor shares the storage.
static Tensor wrap_ndarray(const nb::ndarray<>& arr, Device device, const char* op) {
  DType dtype = dtype_of(arr.dtype(), op);
  Shape shape(arr.shape_ptr(), arr.shape_ptr() + arr.ndim());
  // nanobind reports strides in elements; require the row-major layout kernels index by.
  int64_t expected = 1;
  const bool empty = numel_of(shape) == 0;  // an empty array has no layout to check
  for (int i = static_cast<int>(arr.ndim()) - 1; i >= 0 && !empty; --i) {
    if (shape[i] != 1 && arr.stride(i) != expected)
      value_error(op, ": expected a C-contiguous array, got shape ", shape_str(shape),
                  " with strides that are not row-major (use np.ascontiguousarray)");
    expected *= shape[i];
  }
  auto* keep = new nb::ndarray<>(arr);
  return Tensor::wrap(arr.data(), shape, dtype, device, [keep](void*) {
    nb::gil_scoped_acquire gil;
    delete keep;
  });
}

static Tensor from_numpy(nb::ndarray<nb::numpy, nb::device::cpu> arr) {
  return wrap_ndarray(nb::ndarray<>(arr), Device::CPU, "from_numpy");
}

static Tensor from_dlpack(nb::ndarray<> arr) {
  Device device;
  if (arr.device_type() == nb::device::cpu::value) device = Device::CPU;
  else if (arr.device_type() == nb::device::cuda::value) device = Device::CUDA;
  else
    value_error("from_dlpack: expected a CPU or CUDA array, got device type ", arr.device_type());
  // pycnn's kernels run on the current device; memory of another GPU would fault there.
  if (device == Device::CUDA) {
    int current = 0;
    PYCNN_ON_CUDA("from_dlpack", current = cuda::current_device());
    if (arr.device_id() != current)
      value_error("from_dlpack: expected an array on cuda:", current,
                  " (pycnn's device), got one on cuda:", arr.device_id());
  }
  return wrap_ndarray(arr, device, "from_dlpack");
}

template <typename Framework>
static nb::object export_array(const Tensor& t) {
  // The consumer reads on its own stream: finish what pycnn queued for this tensor first.
  if (t.is_cuda()) PYCNN_ON_CUDA("dlpack", cuda::synchronize());
  // The capsule owns a reference to the storage: the array stays valid after the tensor dies.
  auto* keep = new std::shared_ptr<Storage>(t.storage());
  nb::capsule owner(keep,
                    [](void* p) noexcept { delete static_cast<std::shared_ptr<Storage>*>(p); });
  std::vector<size_t> shape(t.shape().begin(), t.shape().end());
  nb::dlpack::dtype dt = t.dtype() == DType::Float32 ? nb::dtype<float>() : nb::dtype<int64_t>();
  int device_type = t.is_cuda() ? nb::device::cuda::value : nb::device::cpu::value;
  nb::ndarray<Framework> arr(t.raw(), shape.size(), shape.data(), owner, nullptr, dt, device_type,
                             0);
  return nb::cast(arr, nb::rv_policy::reference);
}

static nb::object to_numpy(const Tensor& t) {
  return export_array<nb::numpy>(t.is_cuda() ? t.to(Device::CPU) : t);
}

void bind_tensor(nb::module_& m) {
  nb::class_<Tensor>(m, "Tensor")
      .def_prop_ro("shape", &shape_tuple)
      .def_prop_ro("dtype", [](const Tensor& t) { return std::string(dtype_name(t.dtype())); })
      .def_prop_ro("device", [](const Tensor& t) { return std::string(device_name(t.device())); })
      .def_prop_ro("ndim", &Tensor::ndim)
      .def("numel", &Tensor::numel)
      .def("data_ptr", [](const Tensor& t) { return reinterpret_cast<uintptr_t>(t.raw()); })
      .def("numpy", &to_numpy, "A numpy array sharing the memory (a copy for CUDA tensors).")
      .def("dlpack", &export_array<nb::array_api>,
           "An array-API object with __dlpack__ sharing the memory, on the tensor's device.")
      .def("view", [](const Tensor& t, const Shape& shape) { return t.view(shape); })
      .def("clone", &Tensor::clone)
      .def("to",
           [](const Tensor& t, const std::string& device) { return t.to(parse_device(device)); })
      .def_prop_ro("_sole_owner", &Tensor::sole_owner,
                   "True when no other tensor, exported array or outside owner shares the memory.")
      .def_prop_ro("_version", &Tensor::version,
                   "In-place writes to this tensor's storage so far (shared by its views).")
      .def("zero_",
           [](Tensor& t) {
             t.zero_();
             t.bump_version();
           })
      .def("copy_", [](Tensor& t, const Tensor& src) {
        if (t.shape() != src.shape())
          value_error("copy_: expected a source of shape ", shape_str(t.shape()), ", got ",
                      shape_str(src.shape()));
        t.copy_from(src);
        t.bump_version();
      });

  m.def("empty", [](const Shape& shape, const std::string& dtype, const std::string& device) {
    return Tensor::empty(shape, parse_dtype(dtype), parse_device(device));
  });
  m.def("zeros", [](const Shape& shape, const std::string& dtype, const std::string& device) {
    return Tensor::zeros(shape, parse_dtype(dtype), parse_device(device));
  });
  m.def("from_numpy", &from_numpy, nb::arg("array"),
        "Wraps a C-contiguous float32/int64 numpy array without copying.");
  m.def("from_dlpack", &from_dlpack, nb::arg("array"),
        "Wraps any DLPack-exporting float32/int64 array (CPU or CUDA) without copying.");

  m.def("built_with_cuda", &built_with_cuda);
  m.def("cuda_device_count", [] {
    if (!built_with_cuda()) return 0;
    int count = 0;
    PYCNN_ON_CUDA("cuda", count = cuda::device_count());
    return count;
  });
  m.def(
      "cpu_allocator_stats",
      [] {
        const cpu::AllocatorStats s = cpu::allocator_stats();
        nb::dict d;
        d["system_allocations"] = s.system_allocations;
        d["cache_hits"] = s.cache_hits;
        d["cached_bytes"] = s.cached_bytes;
        return d;
      },
      "The CPU allocator's counts for blocks of 64 KiB and more: blocks taken from the system, "
      "blocks reused from its cache, bytes cached now.");
  m.def("cuda_memory_allocated", [] {
    size_t bytes = 0;
    if (built_with_cuda()) PYCNN_ON_CUDA("cuda", bytes = cuda::memory_allocated());
    return bytes;
  });
  m.def("cuda_max_memory_allocated", [] {
    size_t bytes = 0;
    if (built_with_cuda()) PYCNN_ON_CUDA("cuda", bytes = cuda::max_memory_allocated());
    return bytes;
  });
  m.def("cuda_reset_peak_memory_stats", [] {
    if (built_with_cuda()) PYCNN_ON_CUDA("cuda", cuda::reset_peak_memory_stats());
  });
  m.def("cuda_memory_reserved", [] {
    size_t bytes = 0;
    if (built_with_cuda()) PYCNN_ON_CUDA("cuda", bytes = cuda::memory_reserved());
    return bytes;
  });
  m.def("cuda_empty_cache", [] {
    if (built_with_cuda()) PYCNN_ON_CUDA("cuda", cuda::empty_cache());
  });
  m.def("cuda_synchronize", [] { PYCNN_ON_CUDA("cuda.synchronize", cuda::synchronize()); });
  // A build without CUDA has no GPU matrix products: the flag reads False and setting it does nothing.
  m.def(
      "cuda_set_allow_tf32",
      [](bool allow) {
        if (built_with_cuda()) PYCNN_ON_CUDA("cuda", cuda::set_allow_tf32(allow));
      },
      nb::arg("allow"));
  m.def("cuda_get_allow_tf32", [] {
    bool allow = false;
    if (built_with_cuda()) PYCNN_ON_CUDA("cuda", allow = cuda::allow_tf32());
    return allow;
  });
}

}  // namespace pycnn
