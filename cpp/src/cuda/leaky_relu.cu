// leaky_relu on CUDA: one grid-stride loop per pass, memory-bound (see leaky_relu.h for the math).
#include "pycnn/cuda_map.cuh"
#include "pycnn/ops/leaky_relu.h"

namespace pycnn {

namespace {

struct LeakyReluForward {
  float negative_slope;
  __device__ float operator()(float x) const { return x > 0.0f ? x : negative_slope * x; }
};

// From the saved input.
struct LeakyReluBackward {
  float negative_slope;
  __device__ float operator()(float dy, float x) const {
    return x > 0.0f ? dy : negative_slope * dy;
  }
};

}  // namespace

namespace cuda {

void leaky_relu_forward(float* y, const float* x, float negative_slope, int64_t n) {
  map_elements("leaky_relu", n, LeakyReluForward{negative_slope}, y, x);
}

void leaky_relu_backward(float* dx, const float* dy, const float* x, float negative_slope,
                         int64_t n) {
  map_elements("leaky_relu backward", n, LeakyReluBackward{negative_slope}, dx, dy, x);
}

}  // namespace cuda
}  // namespace pycnn
