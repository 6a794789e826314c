// The gemm micro-kernel compiled for avx512 (flags set per file in CMakeLists.txt); gemm.cpp picks
// the widest one the processor supports at run time. Tile: 8 rows x 32 columns.
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>  // store_streaming's non-temporal stores
#endif

#include <cstdint>

#include "gemm_kernels.h"

namespace {
using pycnn::cpu::GemmKernel;
#define MR 8
#define NV 2
#define VW 16
#include "gemm_microkernel.inc"
}  // namespace

namespace pycnn::cpu {
GemmKernel gemm_kernel_avx512() { return gemm_kernels("avx512"); }
}  // namespace pycnn::cpu
