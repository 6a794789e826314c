// pycnn._C: the extension module. Each op's binding lives in cpp/bindings/<op>.cpp and registers
// itself here; C++ exceptions become Python ones (std::invalid_argument -> ValueError by nanobind,
// pycnn::TypeError -> TypeError, pycnn::RuntimeError -> RuntimeError).
#include <omp.h>

#include "common.h"
#include "pycnn/deterministic.h"
#include "pycnn/thread_governor.h"

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
  m.def("get_num_threads", [] { return cpu::requested_threads(); });
  m.def("set_num_threads", [](int n) {
    if (n <= 0) value_error("set_num_threads: expected a positive count, got ", n);
    cpu::set_requested_threads(n);
  });
  m.def("thread_governor", [] {
    const cpu::GovernorState g = cpu::governor_state();
    nb::dict d;
    d["enabled"] = g.enabled;
    d["contended"] = g.contended;
    d["cap"] = g.cap;
    d["signal"] = g.signal;
    d["samples"] = g.samples;
    d["other_cpus"] = g.other_cpus;
    d["last_late_us"] = g.last_late_us;
    return d;
  });
  m.def("set_thread_governor", [](bool on) { cpu::set_governor_enabled(on); });
  m.def("set_thread_governor_probe_only", [](bool on) { cpu::set_governor_probe_only(on); });
  m.def("govern_threads", [] { cpu::govern_threads(); });
  m.def("set_deterministic", [](bool on) { deterministic_flag().store(on); });
  m.def("get_deterministic", [] { return deterministic(); });

  bind_tensor(m);
  bind_gemm(m);
  bind_elementwise(m);
  bind_conv2d(m);
  bind_conv2d_prepared(m);
  bind_linear(m);
  bind_max_pool2d(m);
  bind_avg_pool2d(m);
  bind_adaptive_avg_pool2d(m);
  bind_batch_norm(m);
  bind_local_response_norm(m);
  bind_dropout(m);
  bind_cat(m);
  bind_relu(m);
  bind_leaky_relu(m);
  bind_elu(m);
  bind_gelu(m);
  bind_silu(m);
  bind_softplus(m);
  bind_sigmoid(m);
  bind_tanh(m);
  bind_clip(m);
  bind_prelu(m);
  bind_softmax(m);
  bind_log_softmax(m);
  bind_cross_entropy(m);
  bind_mse_loss(m);
  bind_pointwise_loss(m);
  bind_sgd(m);
  bind_adam(m);
  bind_rmsprop(m);
  bind_shape_rules(m);
  bind_inference_plan(m);
}
