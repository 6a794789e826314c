// batch_norm binding: argument and shape checks, device dispatch. Inputs (N, C, *) are viewed as
// (N, C, inner). The running statistics are modified in place (the Python tensors passed in see it).
#include "pycnn/ops/batch_norm.h"

#include "common.h"

namespace pycnn {

static void require_channel_vector(const std::optional<Tensor>& t, const Tensor& x, int64_t C,
                                   const char* arg) {
  if (!t) return;
  require_float(*t, "batch_norm", arg);
  require_shape(*t, {C}, "batch_norm", arg);
  require_same_device(x, *t, "batch_norm", "input", arg);
}

static BatchNormShape batch_norm_shape(const Tensor& x, bool training, double momentum,
                                       double eps) {
  require_float(x, "batch_norm", "input");
  if (x.ndim() < 2)
    value_error("batch_norm: expected input of at least 2 dimensions (N, C, *), got shape ",
                shape_str(x.shape()));
  BatchNormShape s;
  s.N = x.size(0), s.C = x.size(1);
  s.inner = 1;
  for (int axis = 2; axis < x.ndim(); ++axis) s.inner *= x.size(axis);
  s.training = training;
  s.momentum = static_cast<float>(momentum);
  s.eps = static_cast<float>(eps);
  if (s.N <= 0 || s.C <= 0 || s.inner <= 0)
    value_error("batch_norm: expected input with no empty dimension, got shape ",
                shape_str(x.shape()));
  if (!(eps > 0)) value_error("batch_norm: expected eps > 0, got ", eps);
  if (training && s.count() <= 1)
    value_error(
        "batch_norm: expected more than 1 value per channel when training, got input of shape ",
        shape_str(x.shape()));
  return s;
}

static std::tuple<Tensor, Tensor, Tensor> batch_norm_forward(
    const Tensor& x, std::optional<Tensor> running_mean, std::optional<Tensor> running_var,
    const std::optional<Tensor>& w, const std::optional<Tensor>& b, bool training, double momentum,
    double eps) {
  BatchNormShape s = batch_norm_shape(x, training, momentum, eps);
  require_channel_vector(running_mean, x, s.C, "running_mean");
  require_channel_vector(running_var, x, s.C, "running_var");
  require_channel_vector(w, x, s.C, "weight");
  require_channel_vector(b, x, s.C, "bias");
  if (!training && (!running_mean || !running_var))
    value_error("batch_norm: running_mean and running_var must be given when training is False");
  Tensor y = Tensor::empty(x.shape(), DType::Float32, x.device());
  Tensor mean = Tensor::empty({s.C}, DType::Float32, x.device());
  Tensor rstd = Tensor::empty({s.C}, DType::Float32, x.device());
  float* rm = running_mean ? running_mean->f32() : nullptr;
  float* rv = running_var ? running_var->f32() : nullptr;
  const float* pw = w ? w->f32() : nullptr;
  const float* pb = b ? b->f32() : nullptr;
  if (x.is_cuda())
    PYCNN_ON_CUDA("batch_norm", cuda::batch_norm_forward(y.f32(), mean.f32(), rstd.f32(), rm, rv,
                                                         x.f32(), pw, pb, s));
  else
    PYCNN_ON_CPU(
        cpu::batch_norm_forward(y.f32(), mean.f32(), rstd.f32(), rm, rv, x.f32(), pw, pb, s));
  if (training && running_mean) running_mean->bump_version();  // updated in place
  if (training && running_var) running_var->bump_version();
  return {y, mean, rstd};
}

// Returns (dx, dw, db); each is None unless asked for. relu: the gradient of relu(output) (the
// forward's bias is then needed to recompute the output's sign); on the CPU only.
static std::tuple<std::optional<Tensor>, std::optional<Tensor>, std::optional<Tensor>>
batch_norm_backward(const Tensor& dy, const Tensor& x, const Tensor& mean, const Tensor& rstd,
                    const std::optional<Tensor>& w, bool training, bool need_dx, bool need_dw,
                    bool need_db, const std::optional<Tensor>& b, bool relu) {
  BatchNormShape s = batch_norm_shape(x, training, 0.0, 1.0);
  s.relu = relu;
  if (relu && x.is_cuda())
    value_error("batch_norm backward: relu=True (the fused ReLU) runs on the CPU only, got a ",
                "CUDA input");
  require_float(dy, "batch_norm backward", "grad_output");
  require_shape(dy, x.shape(), "batch_norm backward", "grad_output");
  require_same_device(x, dy, "batch_norm backward", "input", "grad_output");
  require_channel_vector(mean, x, s.C, "saved mean");
  require_channel_vector(rstd, x, s.C, "saved rstd");
  require_channel_vector(w, x, s.C, "weight");
  require_channel_vector(b, x, s.C, "bias");
  std::optional<Tensor> dx, dw, db;
  if (need_dx) dx = Tensor::empty(x.shape(), DType::Float32, x.device());
  if (need_dw) dw = Tensor::zeros({s.C}, DType::Float32, x.device());
  if (need_db) db = Tensor::zeros({s.C}, DType::Float32, x.device());
  float* pdx = dx ? dx->f32() : nullptr;
  float* pdw = dw ? dw->f32() : nullptr;
  float* pdb = db ? db->f32() : nullptr;
  const float* pw = w ? w->f32() : nullptr;
  const float* pb = b ? b->f32() : nullptr;
  if (x.is_cuda())
    PYCNN_ON_CUDA("batch_norm", cuda::batch_norm_backward(pdx, pdw, pdb, dy.f32(), x.f32(),
                                                          mean.f32(), rstd.f32(), pw, pb, s));
  else
    PYCNN_ON_CPU(cpu::batch_norm_backward(pdx, pdw, pdb, dy.f32(), x.f32(), mean.f32(), rstd.f32(),
                                          pw, pb, s));
  return {dx, dw, db};
}

void bind_batch_norm(nb::module_& m) {
  m.def("batch_norm_forward", &batch_norm_forward, nb::arg("input"), nb::arg("running_mean").none(),
        nb::arg("running_var").none(), nb::arg("weight").none(), nb::arg("bias").none(),
        nb::arg("training"), nb::arg("momentum"), nb::arg("eps"),
        "Returns (output, saved mean, saved rstd); updates the running statistics in training.");
  m.def("batch_norm_backward", &batch_norm_backward, nb::arg("grad_output"), nb::arg("input"),
        nb::arg("mean"), nb::arg("rstd"), nb::arg("weight").none(), nb::arg("training"),
        nb::arg("need_input_grad"), nb::arg("need_weight_grad"), nb::arg("need_bias_grad"),
        nb::arg("bias").none() = nb::none(), nb::arg("relu") = false);
}

}  // namespace pycnn
