// hardswish and hardsigmoid forward kernels, elementwise over a tensor of any shape, for the
// inference plan (pycnn/inference/lowering.py). Training composes both from the clip and binary
// kernels in pycnn/nn/functional/activation.py (torch's exact gradients at the kinks), and the plan
// runs on the CPU only, so these have no backward and no CUDA twin.
//
//   hardswish   y[n] = x * clamp(x + 3, 0, 6) / 6                 (torch.nn.Hardswish, ONNX HardSwish)
//   hardsigmoid y[n] = clamp(alpha * x + beta, 0, 1)              (ONNX HardSigmoid; torch's is
//                                                                   alpha = 1/6, beta = 1/2)
// NaN stays NaN, as torch.clamp keeps it.
#pragma once

#include <cstdint>

namespace pycnn::cpu {
void hardswish_forward(float* y, const float* x, int64_t n);
void hardsigmoid_forward(float* y, const float* x, float alpha, float beta, int64_t n);
}  // namespace pycnn::cpu
