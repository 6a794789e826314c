// elu on CUDA: one grid-stride loop per pass, memory-bound (see elu.h for the math).
#include "pycnn/cuda_map.cuh"
#include "pycnn/ops/elu.h"

namespace pycnn {

namespace {

struct EluForward {
  float alpha;
  __device__ float operator()(float x) const { return x <= 0.0f ? alpha * expm1f(x) : x; }
};

// From the saved input.
struct EluBackward {
  float alpha;
  __device__ float operator()(float dy, float x) const {
    return x <= 0.0f ? dy * alpha * expf(x) : dy;
  }
};

}  // namespace

namespace cuda {

void elu_forward(float* y, const float* x, float alpha, int64_t n) {
  map_elements("elu", n, EluForward{alpha}, y, x);
}

void elu_backward(float* dx, const float* dy, const float* x, float alpha, int64_t n) {
  map_elements("elu backward", n, EluBackward{alpha}, dx, dy, x);
}

}  // namespace cuda
}  // namespace pycnn
