// The gemm micro-kernel compiled for portable (flags set per file in CMakeLists.txt); gemm.cpp picks
// the widest one the processor supports at run time. Tile: 4 rows x 8 columns.
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>  // store_streaming's non-temporal stores
#endif

#include <cstdint>

#include "gemm_kernels.h"

namespace {
using pycnn::cpu::GemmKernel;
#define MR 4
#define NV 2
#define VW 4
#include "gemm_microkernel.inc"
}  // namespace

namespace pycnn::cpu {
GemmKernel gemm_kernel_portable() { return gemm_kernels("portable"); }
}  // namespace pycnn::cpu
