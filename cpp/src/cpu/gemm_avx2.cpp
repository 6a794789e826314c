// The gemm micro-kernel compiled for avx2 (flags set per file in CMakeLists.txt); gemm.cpp picks
// the widest one the processor supports at run time. Tile: 6 rows x 16 columns.
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>  // store_streaming's non-temporal stores
#endif

#include <cstdint>

#include "gemm_kernels.h"

namespace {
using pycnn::cpu::GemmKernel;
#define MR 6
#define NV 2
#define VW 8
#include "gemm_microkernel.inc"
}  // namespace

namespace pycnn::cpu {
GemmKernel gemm_kernel_avx2() { return gemm_kernels("avx2"); }
}  // namespace pycnn::cpu
