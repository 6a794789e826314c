// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11; Random123),
// a counter-based generator: the random bits for element i are a pure function of (seed, i), so the
// CPU and the CUDA kernels draw bit-identical dropout masks for the same seed, in any thread order,
// with no generator state to carry between calls.
//
//   philox4x32(counter[4], key[2]) -> 4 x uint32      (checked against Random123's kat_vectors)
//   uniform(seed, i) -> float in [0, 1): element i takes lane i % 4 of
//                       philox4x32({i/4 low, i/4 high, 0, 0}, {seed low, seed high}) and keeps its
//                       top 24 bits, so every value is an exact float k * 2^-24.
#pragma once

#include <cstdint>

#include "pycnn/host_device.h"

namespace pycnn {

struct Philox4x32 {
  uint32_t v[4];
};

namespace philox_detail {
constexpr uint32_t kMul0 = 0xD2511F53u, kMul1 = 0xCD9E8D57u;  // round multipliers
// key schedule: golden ratio, sqrt(3)-1
constexpr uint32_t kWeyl0 = 0x9E3779B9u, kWeyl1 = 0xBB67AE85u;

PYCNN_HOST_DEVICE inline void mulhilo(uint32_t a, uint32_t b, uint32_t& hi, uint32_t& lo) {
  // One 32x32->64 multiply; nvcc lowers it to mul.lo/mul.hi, host compilers to one imul.
  const uint64_t product = static_cast<uint64_t>(a) * b;
  hi = static_cast<uint32_t>(product >> 32);
  lo = static_cast<uint32_t>(product);
}
}  // namespace philox_detail

PYCNN_HOST_DEVICE inline Philox4x32 philox4x32(Philox4x32 ctr, uint32_t key0, uint32_t key1) {
  using namespace philox_detail;
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {  // the key is bumped between rounds, not before the first
      key0 += kWeyl0;
      key1 += kWeyl1;
    }
    uint32_t hi0, lo0, hi1, lo1;
    mulhilo(kMul0, ctr.v[0], hi0, lo0);
    mulhilo(kMul1, ctr.v[2], hi1, lo1);
    ctr = Philox4x32{{hi1 ^ ctr.v[1] ^ key0, lo1, hi0 ^ ctr.v[3] ^ key1, lo0}};
  }
  return ctr;
}

// The four uniforms of elements 4*group .. 4*group+3.
PYCNN_HOST_DEVICE inline void philox_uniform4(float out[4], uint64_t seed, uint64_t group) {
  const Philox4x32 r = philox4x32(
      Philox4x32{{static_cast<uint32_t>(group), static_cast<uint32_t>(group >> 32), 0u, 0u}},
      static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32));
  for (int lane = 0; lane < 4; ++lane) out[lane] = static_cast<float>(r.v[lane] >> 8) * 0x1.0p-24f;
}

PYCNN_HOST_DEVICE inline float philox_uniform(uint64_t seed, uint64_t index) {
  float u[4];
  philox_uniform4(u, seed, index >> 2);
  return u[index & 3];
}

}  // namespace pycnn
