// sgd on CUDA: one thread per element (grid-stride), the per-element rule from sgd.h, so the GPU
// computes what the CPU does; memory-bound, one read of each array and one write of p (and buf).
#include <cuda_runtime.h>

#include "pycnn/cuda_utils.h"
#include "pycnn/ops/sgd.h"

namespace pycnn {

template <bool MOMENTUM>
__global__ void sgd_update_kernel(float* param, float* momentum_buffer, const float* grad,
                                  SgdConfig c) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < c.numel;
       i += stride)
    sgd_update_element<MOMENTUM>(param, momentum_buffer, grad, i, c);
}

namespace cuda {

void sgd_update(float* param, float* momentum_buffer, const float* grad, const SgdConfig& c) {
  if (c.numel == 0) return;
  const int threads = 256;
  const unsigned blocks = cuda::grid_stride_blocks(c.numel, threads);
  if (momentum_buffer)
    sgd_update_kernel<true>
        <<<blocks, threads, 0, cuda::stream()>>>(param, momentum_buffer, grad, c);
  else
    sgd_update_kernel<false>
        <<<blocks, threads, 0, cuda::stream()>>>(param, momentum_buffer, grad, c);
  check_launch("sgd");
}

}  // namespace cuda
}  // namespace pycnn
