// gelu on the CPU: flat loops over erfc_nonnegative_vectorizable and exp_vectorizable
// (vector_math.h), one loop per mode (the mode is chosen once per call, not per element), cloned per
// instruction set and split over the cores by parallel_range.
#include "pycnn/ops/gelu.h"

#include <cmath>

#include "parallel.h"
#include "pycnn/vector_math.h"

namespace pycnn::cpu {

namespace {

constexpr int64_t kParallel = int64_t(1) << 15;
constexpr float kSqrtHalf = 0.70710678118654752f;     // 1 / sqrt(2)
constexpr float kInvSqrt2Pi = 0.39894228040143268f;   // 1 / sqrt(2 pi)
constexpr float kSqrt2OverPi = 0.79788456080286536f;  // sqrt(2 / pi)
constexpr float kKappa = 0.044715f;

// Phi(x) = erfc(-x/sqrt2)/2: erfc(|a|)/2 on the left, 1 - erfc(|a|)/2 on the right. A NaN x takes
// the right side and stays NaN.
inline float normal_cdf(float x) {
  const float half_tail = 0.5f * erfc_nonnegative_vectorizable(std::fabs(x) * kSqrtHalf);
  return detail::select(x < 0.0f, half_tail, 1.0f - half_tail);
}

// sigmoid(2u) of the tanh form; e^(-2u) = inf for very negative x gives 0, and x^3 = +-inf for
// huge |x| saturates u the right way.
inline float tanh_form_gate(float x) {
  const float u = kSqrt2OverPi * (x + kKappa * x * x * x);
  return 1.0f / (1.0f + exp_vectorizable(-2.0f * u));
}

PYCNN_VECTOR_CLONES void gelu_forward_range(float* y, const float* x, bool tanh_approximation,
                                            int64_t n) {
  if (tanh_approximation) {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) y[i] = x[i] * tanh_form_gate(x[i]);
  } else {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) y[i] = x[i] * normal_cdf(x[i]);
  }
}

PYCNN_VECTOR_CLONES void gelu_backward_range(float* dx, const float* dy, const float* x,
                                             bool tanh_approximation, int64_t n) {
  if (tanh_approximation) {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) {
      const float s = tanh_form_gate(x[i]);
      const float du = kSqrt2OverPi * (1.0f + 3.0f * kKappa * x[i] * x[i]);
      dx[i] = dy[i] * (s + 2.0f * x[i] * s * (1.0f - s) * du);
    }
  } else {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) {
      const float pdf = kInvSqrt2Pi * exp_vectorizable(-0.5f * x[i] * x[i]);
      dx[i] = dy[i] * (normal_cdf(x[i]) + x[i] * pdf);
    }
  }
}

}  // namespace

void gelu_forward(float* y, const float* x, bool tanh_approximation, int64_t n) {
  parallel_range(
      n,
      [=](int64_t begin, int64_t end) {
        gelu_forward_range(y + begin, x + begin, tanh_approximation, end - begin);
      },
      kParallel);
}

void gelu_backward(float* dx, const float* dy, const float* x, bool tanh_approximation, int64_t n) {
  parallel_range(
      n,
      [=](int64_t begin, int64_t end) {
        gelu_backward_range(dx + begin, dy + begin, x + begin, tanh_approximation, end - begin);
      },
      kParallel);
}

}  // namespace pycnn::cpu
