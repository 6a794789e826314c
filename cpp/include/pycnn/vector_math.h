// Elementwise math that the compiler can vectorise without -ffast-math.
//
// GCC turns std::exp into a libm call per element unless -ffast-math is on (and -ffast-math breaks
// the NaN semantics the ops promise), so the exp-bound kernels (softmax, log_softmax,
// cross_entropy, sigmoid) stayed scalar. exp_vectorizable is the Cephes expf written as straight
// arithmetic and selects, with no call and no branch the vectoriser cannot if-convert: a
// `#pragma omp simd` loop over it compiles to packed SSE2 (mulps, addps, cvttps2dq) on baseline
// x86-64.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

// PYCNN_VECTOR_CLONES on a hot loop function: GCC compiles it once per instruction set (AVX-512,
// AVX2, baseline) and picks the clone at load time, so exp_vectorizable runs 16 lanes wide where
// the processor has them, while the library still runs on any x86-64.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__CUDACC__)
#define PYCNN_VECTOR_CLONES __attribute__((target_clones("avx512f", "avx2", "default"), noinline))
#else
#define PYCNN_VECTOR_CLONES
#endif

namespace pycnn {

namespace detail {

// c ? a : b on the bits. With -ftrapping-math (the default) GCC may not execute a float compare or
// multiply on a path that did not ask for it, so a float `?:` stays a branch (and jump threading
// specialises the code after a clamp for the clamped constant): the vectoriser gives up. A select on
// integers is straight-line code it if-converts into and/andn/or.
inline float select(bool c, float a, float b) {
  uint32_t ua, ub;
  std::memcpy(&ua, &a, sizeof ua);
  std::memcpy(&ub, &b, sizeof ub);
  const uint32_t mask = 0u - static_cast<uint32_t>(c);
  const uint32_t r = (ua & mask) | (ub & ~mask);
  float out;
  std::memcpy(&out, &r, sizeof out);
  return out;
}

}  // namespace detail

// e^x in float, max relative error ~1.2e-7 (about 1 ulp) against the exact value on [-87, 88].
// Edges as std::exp: NaN -> NaN, -inf -> 0, +inf -> +inf, overflow (x > ~88.72) -> +inf, and
// results below FLT_MIN come out as subnormals rounding to 0 below ~-103.97.
inline float exp_vectorizable(float x) {
  // Clamping first keeps every step finite and in int range (NaN lands on the low bound and is put
  // back at the end). Beyond these bounds the result is 0 or +inf anyway: exp(-105) is below half
  // the smallest subnormal and exp(89) above FLT_MAX, so the scaling below rounds them there.
  float xc = detail::select(x > -105.0f, x, -105.0f);
  xc = detail::select(xc < 89.0f, xc, 89.0f);
  // n = round(x / ln2) by truncating x*log2(e) +- 0.5 (cvttps2dq), then r = x - n*ln2 with ln2
  // split in two so that n*kLn2Hi is exact (kLn2Hi has 9 significant bits, |n| <= 152): r is
  // exact up to the rounding of kLn2Lo's product and lies in [-ln2/2, ln2/2].
  constexpr float kLog2e = 1.44269504088896341f;
  constexpr float kLn2Hi = 0.693359375f;
  constexpr float kLn2Lo = -2.12194440e-4f;
  const float t = xc * kLog2e + std::copysign(0.5f, xc);
  const int32_t n = static_cast<int32_t>(t);
  const float nf = static_cast<float>(n);
  const float r = (xc - nf * kLn2Hi) - nf * kLn2Lo;
  // Cephes' minimax polynomial for e^r on [-ln2/2, ln2/2]: 1 + r + r^2 * P(r).
  const float z = r * r;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float er = (p * z + r) + 1.0f;
  // 2^n in two factors built from exponent bits, each a normal float for n in [-152, 129]: the
  // first product stays normal and the second rounds once, to a subnormal, 0 or +inf as due.
  const int32_t n1 = n / 2, n2 = n - n1;
  const uint32_t b1 = static_cast<uint32_t>(n1 + 127) << 23;
  const uint32_t b2 = static_cast<uint32_t>(n2 + 127) << 23;
  float s1, s2;
  std::memcpy(&s1, &b1, sizeof s1);
  std::memcpy(&s2, &b2, sizeof s2);
  const float y = (er * s1) * s2;
  return detail::select(x != x, x, y);
}

// The largest of x[0..n) (NaNs are passed over, like std::max(m, x); -inf for n == 0). A plain
// max reduction is one serial chain of maxss (4 cycles an element: 1.3 us for a row of 1000
// logits); 16 independent lanes break the chain, and the selects keep it vectorisable.
inline float row_max(const float* x, int64_t n) {
  constexpr int kLanes = 16;
  float lanes[kLanes];
  for (int j = 0; j < kLanes; ++j) lanes[j] = -std::numeric_limits<float>::infinity();
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
#pragma omp simd
    for (int j = 0; j < kLanes; ++j) lanes[j] = detail::select(x[i + j] > lanes[j], x[i + j], lanes[j]);
  float m = -std::numeric_limits<float>::infinity();
  for (int j = 0; j < kLanes; ++j) m = detail::select(lanes[j] > m, lanes[j], m);
  for (; i < n; ++i) m = detail::select(x[i] > m, x[i], m);
  return m;
}

}  // namespace pycnn
