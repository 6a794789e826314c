// gelu on CUDA: one grid-stride loop per pass, memory-bound (see gelu.h for the math).
#include "pycnn/cuda_map.cuh"
#include "pycnn/ops/gelu.h"

namespace pycnn {

namespace {

constexpr float kSqrtHalf = 0.70710678118654752f;     // 1 / sqrt(2)
constexpr float kInvSqrt2Pi = 0.39894228040143268f;   // 1 / sqrt(2 pi)
constexpr float kSqrt2OverPi = 0.79788456080286536f;  // sqrt(2 / pi)
constexpr float kKappa = 0.044715f;

__device__ float normal_cdf(float x) { return 0.5f * erfcf(-x * kSqrtHalf); }

__device__ float tanh_form_gate(float x) {
  const float u = kSqrt2OverPi * (x + kKappa * x * x * x);
  return 1.0f / (1.0f + expf(-2.0f * u));
}

struct GeluForward {
  bool tanh_approximation;
  __device__ float operator()(float x) const {
    return x * (tanh_approximation ? tanh_form_gate(x) : normal_cdf(x));
  }
};

// From the saved input.
struct GeluBackward {
  bool tanh_approximation;
  __device__ float operator()(float dy, float x) const {
    if (tanh_approximation) {
      const float s = tanh_form_gate(x);
      const float du = kSqrt2OverPi * (1.0f + 3.0f * kKappa * x * x);
      return dy * (s + 2.0f * x * s * (1.0f - s) * du);
    }
    return dy * (normal_cdf(x) + x * kInvSqrt2Pi * expf(-0.5f * x * x));
  }
};

}  // namespace

namespace cuda {

void gelu_forward(float* y, const float* x, bool tanh_approximation, int64_t n) {
  map_elements("gelu", n, GeluForward{tanh_approximation}, y, x);
}

void gelu_backward(float* dx, const float* dy, const float* x, bool tanh_approximation, int64_t n) {
  map_elements("gelu backward", n, GeluBackward{tanh_approximation}, dx, dy, x);
}

}  // namespace cuda
}  // namespace pycnn
