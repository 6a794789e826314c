// sigmoid on CUDA: one grid-stride loop per pass, memory-bound (see sigmoid.h for the math).
#include "pycnn/cuda_map.cuh"
#include "pycnn/ops/sigmoid.h"

namespace pycnn {

namespace {

struct SigmoidForward {
  __device__ float operator()(float x) const { return 1.0f / (1.0f + expf(-x)); }
};

// From the saved output.
struct SigmoidBackward {
  __device__ float operator()(float dy, float y) const { return dy * y * (1.0f - y); }
};

}  // namespace

namespace cuda {

void sigmoid_forward(float* y, const float* x, int64_t n) {
  map_elements("sigmoid", n, SigmoidForward{}, y, x);
}

void sigmoid_backward(float* dx, const float* dy, const float* y, int64_t n) {
  map_elements("sigmoid backward", n, SigmoidBackward{}, dx, dy, y);
}

}  // namespace cuda
}  // namespace pycnn
