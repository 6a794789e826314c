// adam on CUDA: one thread per element (grid-stride), the per-element rule from adam.h, so the GPU
// computes what the CPU does; memory-bound, one pass over each array.
#include <cuda_runtime.h>

#include "pycnn/cuda_utils.h"
#include "pycnn/ops/adam.h"

namespace pycnn {

template <bool AMSGRAD>
__global__ void adam_update_kernel(float* param, float* exp_avg, float* exp_avg_sq,
                                   float* max_exp_avg_sq, const float* grad, AdamConfig c) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < c.numel;
       i += stride)
    adam_update_element<AMSGRAD>(param, exp_avg, exp_avg_sq, max_exp_avg_sq, grad, i, c);
}

namespace cuda {

void adam_update(float* param, float* exp_avg, float* exp_avg_sq, float* max_exp_avg_sq,
                 const float* grad, const AdamConfig& c) {
  if (c.numel == 0) return;
  const int threads = 256;
  const unsigned blocks = cuda::grid_stride_blocks(c.numel, threads);
  if (max_exp_avg_sq)
    adam_update_kernel<true><<<blocks, threads, 0, cuda::stream()>>>(param, exp_avg, exp_avg_sq,
                                                                     max_exp_avg_sq, grad, c);
  else
    adam_update_kernel<false><<<blocks, threads, 0, cuda::stream()>>>(param, exp_avg, exp_avg_sq,
                                                                      max_exp_avg_sq, grad, c);
  check_launch("adam");
}

}  // namespace cuda
}  // namespace pycnn
