// softplus on CUDA: one grid-stride loop per pass, memory-bound (see softplus.h for the math).
#include "pycnn/cuda_map.cuh"
#include "pycnn/ops/softplus.h"

namespace pycnn {

namespace {

struct SoftplusForward {
  float beta, threshold;
  __device__ float operator()(float x) const {
    const float bx = beta * x;
    if (bx > threshold) return x;
    // fmaxf(NaN, 0) is 0; the log1pf term carries the NaN through, as on the CPU.
    return (fmaxf(bx, 0.0f) + log1pf(expf(-fabsf(bx)))) / beta;
  }
};

// From the saved input.
struct SoftplusBackward {
  float beta, threshold;
  __device__ float operator()(float dy, float x) const {
    const float bx = beta * x;
    return bx > threshold ? dy : dy / (1.0f + expf(-bx));
  }
};

}  // namespace

namespace cuda {

void softplus_forward(float* y, const float* x, float beta, float threshold, int64_t n) {
  map_elements("softplus", n, SoftplusForward{beta, threshold}, y, x);
}

void softplus_backward(float* dx, const float* dy, const float* x, float beta, float threshold,
                       int64_t n) {
  map_elements("softplus backward", n, SoftplusBackward{beta, threshold}, dx, dy, x);
}

}  // namespace cuda
}  // namespace pycnn
