// PYCNN_HOST_DEVICE marks a function that the CPU kernels and the CUDA kernels both call: arithmetic
// they must agree on (a pooling window, an optimizer's per-element update) is written once, in an
// ops header, and compiled by the host compiler and by nvcc alike.
#pragma once

#ifdef __CUDACC__
#define PYCNN_HOST_DEVICE __host__ __device__
#else
#define PYCNN_HOST_DEVICE
#endif
