// conv2d_prepared's tile kernel compiled for avx2 (flags set per file in CMakeLists.txt);
// conv2d_prepared.cpp picks the one matching gemm_isa() at run time. Tile: 6 rows x 16 columns.
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>  // the masked moves of load_part/store_part
#endif

#include <array>
#include <cstdint>
#include <type_traits>
#include <utility>

#include "conv2d_prepared_kernels.h"

namespace {
using namespace pycnn::cpu;
#define MR 6
#define NV 2
#define ROW_PIXELS 6
#define WG_ROWS 4
#define WG_COLS 3
#define VW 8
#include "conv2d_prepared_microkernel.inc"
}  // namespace

namespace pycnn::cpu {
ConvTileKernel conv_tile_kernel_avx2() { return kernels("avx2"); }
}  // namespace pycnn::cpu
