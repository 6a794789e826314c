// clip on CUDA: one grid-stride loop per pass, memory-bound (see clip.h for the math).
#include "pycnn/cuda_map.cuh"
#include "pycnn/ops/clip.h"

namespace pycnn {

namespace {

struct ClipForward {
  float lo, hi;
  __device__ float operator()(float x) const {
    const float v = x < lo ? lo : x;
    return v > hi ? hi : v;
  }
};

// From the saved input.
struct ClipBackward {
  float lo, hi;
  __device__ float operator()(float dy, float x) const { return (x >= lo && x <= hi) ? dy : 0.0f; }
};

}  // namespace

namespace cuda {

void clip_forward(float* y, const float* x, float lo, float hi, int64_t n) {
  map_elements("clip", n, ClipForward{lo, hi}, y, x);
}

void clip_backward(float* dx, const float* dy, const float* x, float lo, float hi, int64_t n) {
  map_elements("clip backward", n, ClipBackward{lo, hi}, dx, dy, x);
}

}  // namespace cuda
}  // namespace pycnn
