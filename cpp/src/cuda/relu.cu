// relu on CUDA: one grid-stride loop per pass, memory-bound (see relu.h for the math).
#include "pycnn/cuda_map.cuh"
#include "pycnn/ops/relu.h"

namespace pycnn {

namespace {

struct ReluForward {
  __device__ float operator()(float x) const {
    return x < 0.0f ? 0.0f : x;  // NaN stays NaN, as in PyTorch
  }
};

// From the saved output; a NaN output passes dy on, as PyTorch's threshold_backward does.
struct ReluBackward {
  __device__ float operator()(float dy, float y) const { return y <= 0.0f ? 0.0f : dy; }
};

}  // namespace

namespace cuda {

void relu_forward(float* y, const float* x, int64_t n) {
  map_elements("relu", n, ReluForward{}, y, x);
}

void relu_backward(float* dx, const float* dy, const float* y, int64_t n) {
  map_elements("relu backward", n, ReluBackward{}, dx, dy, y);
}

}  // namespace cuda
}  // namespace pycnn
