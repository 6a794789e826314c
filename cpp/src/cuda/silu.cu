// silu on CUDA: one grid-stride loop per pass, memory-bound (see silu.h for the math).
#include "pycnn/cuda_map.cuh"
#include "pycnn/ops/silu.h"

namespace pycnn {

namespace {

struct SiluForward {
  __device__ float operator()(float x) const { return x / (1.0f + expf(-x)); }
};

// From the saved input.
struct SiluBackward {
  __device__ float operator()(float dy, float x) const {
    const float s = 1.0f / (1.0f + expf(-x));
    return dy * s * (1.0f + x * (1.0f - s));
  }
};

}  // namespace

namespace cuda {

void silu_forward(float* y, const float* x, int64_t n) {
  map_elements("silu", n, SiluForward{}, y, x);
}

void silu_backward(float* dx, const float* dy, const float* x, int64_t n) {
  map_elements("silu backward", n, SiluBackward{}, dx, dy, x);
}

}  // namespace cuda
}  // namespace pycnn
