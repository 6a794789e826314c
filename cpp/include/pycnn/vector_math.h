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

// AVX-512 versions of the exp below (pycnn::avx512), for the files that pick them at run time.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__CUDACC__)
#define PYCNN_AVX512_MATH 1
#include <immintrin.h>

#include "pycnn/gemm.h"
#endif

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

// min(max(v, lo), hi) that keeps NaN (both compares are false for it), as torch.clamp does; selects
// only, so a loop over it vectorises.
inline float clamp_keep_nan(float v, float lo, float hi) {
  v = detail::select(v < lo, lo, v);
  return detail::select(v > hi, hi, v);
}

// Cephes' minimax polynomial for e^r - 1 on [-ln2/2, ln2/2]: r + r^2 * P(r). exp_vectorizable adds
// the 1 after its range reduction; expm1_vectorizable uses it as it is near 0.
inline float expm1_polynomial(float r) {
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  return p * (r * r) + r;
}

}  // namespace detail

// e^x in float, max relative error ~1.2e-7 (about 1 ulp) against the exact value on [-87, 88].
// Edges as std::exp: NaN -> NaN, -inf -> 0, +inf -> +inf, overflow (x > ~88.72) -> +inf, and
// results below FLT_MIN come out as subnormals rounding to 0 below ~-103.97.
inline float exp_vectorizable(float x) {
  // Clamping first keeps every step finite and in int range (written so that NaN, for which both
  // compares are false, passes through every step and comes out NaN). Beyond these bounds the result
  // is 0 or +inf anyway: exp(-105) is below half the smallest subnormal and exp(89) above FLT_MAX,
  // so the scaling below rounds them there.
  float xc = detail::select(x < -105.0f, -105.0f, x);
  xc = detail::select(xc > 89.0f, 89.0f, xc);
  // n = round(x / ln2) by adding 1.5 * 2^23 (the sum's low mantissa bits are then n, rounded to
  // nearest: no conversion instruction, and the same in every instruction set), then r = x - n*ln2
  // with ln2 split in two so that n*kLn2Hi is exact (kLn2Hi has 9 significant bits, |n| <= 152): r
  // is exact up to the rounding of kLn2Lo's product and lies in [-ln2/2, ln2/2].
  constexpr float kLog2e = 1.44269504088896341f;
  constexpr float kLn2Hi = 0.693359375f;
  constexpr float kLn2Lo = -2.12194440e-4f;
  constexpr float kRound = 12582912.0f;
  const float shifted = xc * kLog2e + kRound;
  const float nf = shifted - kRound;
  int32_t bits, round_bits;
  std::memcpy(&bits, &shifted, sizeof bits);
  std::memcpy(&round_bits, &kRound, sizeof round_bits);
  const int32_t n = bits - round_bits;
  const float r = (xc - nf * kLn2Hi) - nf * kLn2Lo;
  const float er = detail::expm1_polynomial(r) + 1.0f;  // e^r = 1 + r + r^2 * P(r)
  // 2^n in two factors built from exponent bits, each a normal float for n in [-152, 129]: the
  // first product stays normal and the second rounds once, to a subnormal, 0 or +inf as due.
  const int32_t n1 = n >> 1, n2 = n - n1;
  const uint32_t b1 = static_cast<uint32_t>(n1 + 127) << 23;
  const uint32_t b2 = static_cast<uint32_t>(n2 + 127) << 23;
  float s1, s2;
  std::memcpy(&s1, &b1, sizeof s1);
  std::memcpy(&s2, &b2, sizeof s2);
  return (er * s1) * s2;
}

// The same e^x on 16 lanes with AVX-512's own instructions, for the exp-bound activations (silu,
// sigmoid) where the instruction set is there (their files pick it as the gemm's, gemm_isa()): the
// rounding is vrndscaleps and the scaling by 2^n one vscalefps, which rounds once into the normal,
// subnormal, zero or infinite result (no clamp against n's range), in place of the generic
// version's magic-number round and the two exponent-bit factors. The argument is still clamped to
// [-105, 89] so that r stays small (beyond, n * ln2 is not exact and r would be garbage); vmaxps and
// vminps return their second operand where either is NaN, so NaN passes through. The same Cephes
// polynomial: results within an ulp of exp_vectorizable's. Measured (Intel Xeon, AVX-512, 1 core,
// silu over 64 K floats in L1): 0.33 -> 0.25 ns a float.
#ifdef PYCNN_AVX512_MATH
namespace avx512 {
// Whether the kernels below run: the gemm's instruction set is AVX-512 (gemm_isa() honours
// PYCNN_GEMM_ISA, so the tests run the generic loops too).
inline bool on() {
  static const bool avx512 = std::strcmp(cpu::gemm_isa(), "avx512") == 0;
  return avx512;
}

#pragma GCC push_options
#pragma GCC target("avx512f")
// (The zero-masked forms with every lane on are the plain instructions: GCC 12 warns of an
// uninitialised source in the unmasked intrinsics' _mm512_undefined_ps.)
inline __m512 exp(__m512 x) {
  constexpr __mmask16 all = 0xffff;
  x = _mm512_maskz_max_ps(all, _mm512_set1_ps(-105.0f), x);
  x = _mm512_maskz_min_ps(all, _mm512_set1_ps(89.0f), x);
  const __m512 n =
      _mm512_maskz_roundscale_ps(all, _mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                 _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  p = _mm512_add_ps(_mm512_fmadd_ps(p, _mm512_mul_ps(r, r), r), _mm512_set1_ps(1.0f));
  return _mm512_maskz_scalef_ps(all, p, n);
}

// The lanes of y[i, i + 16) that lie in [0, n): all 16, or the first n - i of the last vector.
inline __mmask16 lanes_below(int64_t n, int64_t i) {
  return n - i >= 16 ? __mmask16(0xffff) : __mmask16((1u << (n - i)) - 1);
}

// 1 / (1 + e^-x) (sigmoid), or x times it (silu, kTimesX), for y[0, n) from x[0, n), the last
// vector masked; as the generic loops over exp_vectorizable: x < -89 gives 0 (-0 for silu, whose
// -inf gives NaN: -inf / inf).
template <bool kTimesX>
inline void logistic(float* y, const float* x, int64_t n) {
  const __m512 one = _mm512_set1_ps(1.0f);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = lanes_below(n, i);
    const __m512 v = _mm512_maskz_loadu_ps(m, x + i);
    const __m512 d = _mm512_add_ps(one, exp(_mm512_sub_ps(_mm512_setzero_ps(), v)));
    _mm512_mask_storeu_ps(y + i, m, _mm512_div_ps(kTimesX ? v : one, d));
  }
}
#pragma GCC pop_options
}  // namespace avx512
#endif

// e^x - 1 in float, accurate near 0 where exp_vectorizable(x) - 1 would cancel (x = 1e-6 gives
// 1e-6 to ~1 ulp, not the 9.5e-7 of e^x - 1). For |x| < ln2/2 exp_vectorizable's range reduction is
// the identity (n = 0, r = x), so Cephes' e^r - 1 = r + r^2 P(r) is taken without the final + 1;
// beyond, e^x is at most ~0.71 or at least ~1.41 and subtracting 1 loses under 2 bits. Edges as
// std::expm1: NaN -> NaN, -inf -> -1, +inf and overflow -> +inf.
inline float expm1_vectorizable(float x) {
  return detail::select(std::fabs(x) < 0.34657359f, detail::expm1_polynomial(x),
                        exp_vectorizable(x) - 1.0f);
}

// tanh(x) in float, Cephes' tanhf: for |x| < 0.625 the odd minimax polynomial |x| + |x|^3 P(x^2),
// beyond 1 - 2 / (e^(2|x|) + 1) (e^(2|x|) = inf past |x| ~ 44 gives exactly 1); the sign put back
// last, so -0 -> -0. Measured against float64 on 2^24 points of [-12, 12]: at most 1.3 ulp. Edges as
// std::tanh: NaN -> NaN, +-inf -> +-1.
inline float tanh_vectorizable(float x) {
  const float a = std::fabs(x);
  const float z = a * a;
  float p = -5.70498872745e-3f;
  p = p * z + 2.06390887954e-2f;
  p = p * z - 5.37397155531e-2f;
  p = p * z + 1.33314422036e-1f;
  p = p * z - 3.33332819422e-1f;
  const float small = p * z * a + a;
  const float large = 1.0f - 2.0f / (exp_vectorizable(a + a) + 1.0f);
  return std::copysign(detail::select(a < 0.625f, small, large), x);
}

// log(1 + t) for t in [0, 1] (NaN -> NaN), relative error ~2e-7 (a few ulp), t = 1e-30 included.
// u = 1 + t rounds, so log(u) is corrected by the first-order term (t - (u - 1)) / u (u - 1 is exact
// for u in [1, 2]); log(u) itself is Cephes' logf with the exponent known to be 0 or 1.
inline float log1p_unit_vectorizable(float t) {
  const float u = 1.0f + t;
  const bool upper = u > 1.41421356f;
  const float m = detail::select(upper, 0.5f * u - 1.0f, u - 1.0f);
  const float e = detail::select(upper, 1.0f, 0.0f);
  const float z = m * m;
  float p = 7.0376836292e-2f;
  p = p * m - 1.1514610310e-1f;
  p = p * m + 1.1676998740e-1f;
  p = p * m - 1.2420140846e-1f;
  p = p * m + 1.4249322787e-1f;
  p = p * m - 1.6668057665e-1f;
  p = p * m + 2.0000714765e-1f;
  p = p * m - 2.4999993993e-1f;
  p = p * m + 3.3333331174e-1f;
  float y = p * m * z;
  y += -2.12194440e-4f * e;
  y += -0.5f * z;
  const float log_u = (m + y) + 0.693359375f * e;
  return log_u + (t - (u - 1.0f)) / u;
}

// erfc(a) for a >= 0 (NaN -> NaN, +inf -> 0): Numerical Recipes' erfcc, t exp(-a^2 + P(t)) with
// t = 1 / (1 + a/2), fractional error < 1.2e-7 in exact arithmetic. In float the relative error is
// ~2e-7 for a < 1 and grows with the rounding of the exponent's argument in the tail (measured max
// 7.8e-6 at a = 8.2, where erfc is 1e-30), so the tail keeps its relative accuracy, unlike 1 - erf.
inline float erfc_nonnegative_vectorizable(float a) {
  const float t = 1.0f / (1.0f + 0.5f * a);
  float p = 0.17087277f;
  p = p * t - 0.82215223f;
  p = p * t + 1.48851587f;
  p = p * t - 1.13520398f;
  p = p * t + 0.27886807f;
  p = p * t - 0.18628806f;
  p = p * t + 0.09678418f;
  p = p * t + 0.37409196f;
  p = p * t + 1.00002368f;
  p = p * t - 1.26551223f;
  return t * exp_vectorizable(p - a * a);
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
    for (int j = 0; j < kLanes; ++j)
      lanes[j] = detail::select(x[i + j] > lanes[j], x[i + j], lanes[j]);
  float m = -std::numeric_limits<float>::infinity();
  for (int j = 0; j < kLanes; ++j) m = detail::select(lanes[j] > m, lanes[j], m);
  for (; i < n; ++i) m = detail::select(x[i] > m, x[i], m);
  return m;
}

}  // namespace pycnn
