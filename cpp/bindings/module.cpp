// pycnn._C: the extension module. Each op's binding lives in cpp/bindings/<op>.cpp and registers
// itself here; C++ exceptions become Python ones (std::invalid_argument -> ValueError by nanobind,
// pycnn::TypeError -> TypeError, pycnn::RuntimeError -> RuntimeError).
#include <omp.h>

#include "common.h"

NB_MODULE(_C, m) {
  using namespace pycnn;
  nb::register_exception_translator([](const std::exception_ptr& p, void*) {
    try {
      std::rethrow_exception(p);
    } catch (const pycnn::TypeError& e) {
      PyErr_SetString(PyExc_TypeError, e.what());
    } catch (const pycnn::RuntimeError& e) {
      PyErr_SetString(PyExc_RuntimeError, e.what());
    }
  });
  m.def("get_num_threads", [] { return omp_get_max_threads(); });
  m.def("set_num_threads", [](int n) {
    if (n <= 0) value_error("set_num_threads: expected a positive count, got ", n);
    omp_set_num_threads(n);
  });

  bind_tensor(m);
  bind_gemm(m);
  bind_elementwise(m);
  bind_conv2d(m);
  bind_linear(m);
  bind_sgd(m);
  bind_adam(m);
  bind_rmsprop(m);
}
