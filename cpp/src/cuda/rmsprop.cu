// rmsprop on CUDA: one thread per element (grid-stride), the per-element rule from rmsprop.h, so the
// GPU computes what the CPU does; memory-bound, one pass over each array.
#include <cuda_runtime.h>

#include "pycnn/cuda_utils.h"
#include "pycnn/ops/rmsprop.h"

namespace pycnn {

template <bool CENTERED, bool MOMENTUM>
__global__ void rmsprop_update_kernel(float* param, float* square_avg, float* grad_avg,
                                      float* momentum_buffer, const float* grad, RmspropConfig c) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < c.numel;
       i += stride)
    rmsprop_update_element<CENTERED, MOMENTUM>(param, square_avg, grad_avg, momentum_buffer, grad,
                                               i, c);
}

namespace cuda {

void rmsprop_update(float* param, float* square_avg, float* grad_avg, float* momentum_buffer,
                    const float* grad, const RmspropConfig& c) {
  if (c.numel == 0) return;
  const int threads = 256;
  const unsigned blocks = cuda::grid_stride_blocks(c.numel, threads);
  if (grad_avg && momentum_buffer)
    rmsprop_update_kernel<true, true>

        <<<blocks, threads, 0, cuda::stream()>>>(param, square_avg, grad_avg, momentum_buffer, grad,
                                                 c);
  else if (grad_avg)
    rmsprop_update_kernel<true, false>

        <<<blocks, threads, 0, cuda::stream()>>>(param, square_avg, grad_avg, momentum_buffer, grad,
                                                 c);
  else if (momentum_buffer)
    rmsprop_update_kernel<false, true>

        <<<blocks, threads, 0, cuda::stream()>>>(param, square_avg, grad_avg, momentum_buffer, grad,
                                                 c);
  else
    rmsprop_update_kernel<false, false>

        <<<blocks, threads, 0, cuda::stream()>>>(param, square_avg, grad_avg, momentum_buffer, grad,
                                                 c);
  check_launch("rmsprop");
}

}  // namespace cuda
}  // namespace pycnn
