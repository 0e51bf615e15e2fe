#pragma once
// Philox4x32-10 (Salmon, Moraes, Dror, Shaw: "Parallel Random Numbers: As Easy as 1, 2, 3",
// SC11), the counter-based generator behind every random tensor, on the CPU and on CUDA: the
// same functions below compile for both, so a seed gives the same numbers on every device.
//
// The generator is a pure function of a 128-bit counter c = (c0, c1, c2, c3) and a 64-bit key
// k = (k0, k1): ten rounds of
//   (hi0, lo0) = M0 * c0,  (hi1, lo1) = M1 * c2         (32 x 32 -> 64-bit products)
//   c = (hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0)
// with the key bumped by the Weyl constants (k0 += W0, k1 += W1) between rounds. The output, one
// "block", is four 32-bit words (lanes). Block n costs what block 0 costs, so every CPU chunk
// and every GPU thread computes its own blocks with no shared state.
//
// Layout. key = the generator's seed (k0 its low 32 bits, k1 its high 32 bits); counter =
// (lo32(b), hi32(b), 0, 0) for block b. A Generator hands blocks out with reserve(n), which
// returns its offset and moves it on by n, so no two draws share a block. A draw of n elements
// of T takes blocks base .. base + ceil(n / E) - 1, E = 16 / sizeof(T): every element takes as
// many random bits as it has (a block is 16 bytes). Element i lives in block base + i / E:
//   float32 (E = 4): lane i % 4.
//   float64 (E = 2): the 64-bit word w = lane 2m | lane 2m+1 << 32, m = i % 2.
// So a float32 and a float64 draw of one seed are different numbers (like PyTorch's); for the
// same numbers in both, draw in float64 and convert.
//
// Bits to uniforms (u, in [0, 1)): float32 takes the top 24 bits, (lane >> 8) * 2^-24; float64
// the top 53, (w >> 11) * 2^-53. Both are exact in their type (the significand holds every bit),
// so u never rounds up to 1. uniform(lo, hi) is fma(hi - lo, u, lo) in T: an explicit fma, one
// rounding, so no compiler can contract it differently on the two sides. A keep mask (dropout)
// is u < keep ? scale : 0, with keep and scale rounded to T first.
//
// Normals: Box-Muller on pairs, r = sqrt(-2 log u1), theta = 2 pi u2, giving r cos(theta) and
// r sin(theta). u1 is taken in (0, 1] instead ((lane >> 8) + 1) * 2^-24 or ((w >> 11) + 1) *
// 2^-53) so the log never sees 0: the largest |z| is 5.8 in float32 and 8.6 in float64.
// float32: lanes 0 (u1) and 1 (theta) give elements 4j (cos) and 4j+1 (sin), lanes 2 and 3
// give 4j+2 and 4j+3; float64: words 0 (u1) and 1 (theta) give elements 2j (cos) and 2j+1
// (sin). The math is in T, and mean + std * z is fma(std, z, mean).
//
// log, sin and cos are our own (log_unit, sincos_turn below), not libm's or CUDA's, whose last
// bits differ (CUDA documents up to 1 ulp for log/logf and 2 for sin/cos/sinf/cosf; glibc's
// are within 1), and CUDA's double sin/cos would also put a slow-path reduction array in local
// memory. Ours are built from IEEE operations only: exact bit moves (frexp, integer shifts),
// correctly rounded + - * / and sqrt, and explicit fma for every multiply-add, so no compiler
// may contract them differently. They are within 3 ulp of the true values (log 2.6, sin and
// cos 1.9 at worst over 2e7 samples against long double), plenty for Box-Muller.
//
// Caveats. Every result is then the same bits on every IEEE device: a random tensor or a
// dropout mask is bit-identical on the CPU, the emulator and a real GPU, normals included. That
// holds as long as nothing compiles this with fast-math (-ffast-math, --use_fast_math): those
// replace division and sqrt with approximations. Without hardware fma (no -march with FMA)
// the host fma is a library call: exact, but much slower.
#include <cmath>
#include <cstdint>
#include <cstring>

#include "core/convert.h"  // GB_HOST_DEVICE

namespace glassbox {

// What a random fill draws; the numbers are turned into the element's dtype before the
// kernel runs.
struct RandomDist {
  enum class Kind { Uniform, Normal, KeepMask };
  Kind kind = Kind::Uniform;
  double a = 0.0, b = 1.0;  // Uniform: lo, hi; Normal: mean, std; KeepMask: keep, scale

  static RandomDist uniform(double lo, double hi) { return {Kind::Uniform, lo, hi}; }
  static RandomDist normal(double mean, double std) { return {Kind::Normal, mean, std}; }
  // u < keep ? scale : 0, for dropout: keep = 1 - p, scale = 1 / (1 - p)
  static RandomDist keep_mask(double keep, double scale) { return {Kind::KeepMask, keep, scale}; }
};

namespace philox {

struct Block {
  uint32_t v[4];
};

constexpr uint32_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u;  // round multipliers
constexpr uint32_t kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;  // key bumps (golden ratio, sqrt 3)

GB_HOST_DEVICE inline Block philox_round(Block c, uint32_t k0, uint32_t k1) {
  const uint64_t p0 = uint64_t(kM0) * c.v[0], p1 = uint64_t(kM1) * c.v[2];
  return Block{{uint32_t(p1 >> 32) ^ c.v[1] ^ k0, uint32_t(p1), uint32_t(p0 >> 32) ^ c.v[3] ^ k1,
                uint32_t(p0)}};
}

// Philox4x32-10 of counter `c` under key (k0, k1).
GB_HOST_DEVICE inline Block philox4x32_10(Block c, uint32_t k0, uint32_t k1) {
  c = philox_round(c, k0, k1);
  for (int r = 1; r < 10; ++r) {
    k0 += kW0;
    k1 += kW1;
    c = philox_round(c, k0, k1);
  }
  return c;
}

// Block `b` of the stream keyed by `seed` (the layout above).
GB_HOST_DEVICE inline Block block_at(uint64_t seed, uint64_t b) {
  return philox4x32_10(Block{{uint32_t(b), uint32_t(b >> 32), 0u, 0u}}, uint32_t(seed),
                       uint32_t(seed >> 32));
}

// Elements of T per block, and the blocks n elements take.
template <class T>
constexpr int kPerBlock = int(16 / sizeof(T));
constexpr uint64_t blocks_for(int64_t n, int per_block) {
  return n <= 0 ? 0 : uint64_t((n + per_block - 1) / per_block);
}

GB_HOST_DEVICE inline uint64_t word(const Block& k, int m) {
  return uint64_t(k.v[2 * m]) | uint64_t(k.v[2 * m + 1]) << 32;
}
// [0, 1) and (0, 1], from the top 24 bits of a lane or the top 53 of a word
GB_HOST_DEVICE inline float unit_float(uint32_t x) { return float(x >> 8) * 0x1.0p-24f; }
GB_HOST_DEVICE inline float unit_float_open0(uint32_t x) {
  return float((x >> 8) + 1u) * 0x1.0p-24f;
}
GB_HOST_DEVICE inline double unit_double(uint64_t w) { return double(w >> 11) * 0x1.0p-53; }
GB_HOST_DEVICE inline double unit_double_open0(uint64_t w) {
  return double((w >> 11) + 1u) * 0x1.0p-53;
}

GB_HOST_DEVICE inline float fma_t(float a, float b, float c) { return ::fmaf(a, b, c); }
GB_HOST_DEVICE inline double fma_t(double a, double b, double c) { return ::fma(a, b, c); }
// m in [1/2, 1) and e with x = m 2^e, for a normal x > 0, from the bits (frexp, inlined)
GB_HOST_DEVICE inline float split_exponent(float x, int* e) {
  uint32_t b;
  memcpy(&b, &x, sizeof b);
  *e = int(b >> 23) - 126;
  b = (b & 0x007fffffu) | 0x3f000000u;
  memcpy(&x, &b, sizeof b);
  return x;
}
GB_HOST_DEVICE inline double split_exponent(double x, int* e) {
  uint64_t b;
  memcpy(&b, &x, sizeof b);
  *e = int(b >> 52) - 1022;
  b = (b & 0x000fffffffffffffu) | 0x3fe0000000000000u;
  memcpy(&x, &b, sizeof b);
  return x;
}
GB_HOST_DEVICE inline float sqrt_t(float x) { return ::sqrtf(x); }
GB_HOST_DEVICE inline double sqrt_t(double x) { return ::sqrt(x); }

// c0 + x (c1 + x (c2 + ...)) in T, every step one fma (the coefficients rounded to T)
template <class T>
GB_HOST_DEVICE inline T poly(T, double c0) {
  return T(c0);
}
template <class T, class... C>
GB_HOST_DEVICE inline T poly(T x, double c0, C... cs) {
  return fma_t(poly(x, cs...), x, T(c0));
}

// log(u) for u in (0, 1]. u = m 2^e with m in [sqrt(1/2), sqrt(2)) (frexp, exact); then
// log u = e ln 2 + 2 atanh(s), s = (m - 1) / (m + 1), |s| < 0.172, and
// atanh(s) = s (1 + s^2/3 + s^4/5 + ...), cut where the next term is below half an ulp
// (s^12/13 for float, s^24/25 for double).
GB_HOST_DEVICE inline float log_unit(float u) {
  int e = 0;
  float m = split_exponent(u, &e);
  const bool low = m < 0.70710678118654752f;  // selects, no branch: loops vectorise
  m = low ? m + m : m;
  e -= int(low);
  const float s = (m - 1.0f) / (m + 1.0f), s2 = s * s;
  const float p = poly(s2, 1.0f, 1.0 / 3, 1.0 / 5, 1.0 / 7, 1.0 / 9, 1.0 / 11);
  return fma_t(float(e), 0.693147180559945309f, 2.0f * s * p);
}
GB_HOST_DEVICE inline double log_unit(double u) {
  int e = 0;
  double m = split_exponent(u, &e);
  const bool low = m < 0.70710678118654752;
  m = low ? m + m : m;
  e -= int(low);
  const double s = (m - 1.0) / (m + 1.0), s2 = s * s;
  const double p = poly(s2, 1.0, 1.0 / 3, 1.0 / 5, 1.0 / 7, 1.0 / 9, 1.0 / 11, 1.0 / 13, 1.0 / 15,
                        1.0 / 17, 1.0 / 19, 1.0 / 21, 1.0 / 23);
  return fma_t(double(e), 0.693147180559945309, 2.0 * s * p);
}

// sin and cos of the angle 2 pi k / 2^B, k in [0, 2^B), B = 24 (float) or 53 (double): the
// nearest quarter turn q and the rest f = 4k / 2^B - q in [-1/2, 1/2] come out of k's bits
// exactly, x = f pi/2 is in [-pi/4, pi/4], and there the Taylor series (coefficients 1/n!)
//   sin x = x + x^3 (-1/3! + x^2/5! - ...),  cos x = 1 + x^2 (-1/2! + x^2/4! - ...)
// are cut where the next term is below half an ulp (float: after x^9 and x^10; double: after
// x^17 and x^18). The quarter q then rotates (sin x, cos x) into place:
// sin = (s, c, -s, -c)[q], cos = (c, -s, -c, s)[q].
template <class T>
GB_HOST_DEVICE inline void rotate_quarter(uint32_t q, T s, T c, T* sin_out, T* cos_out) {
  const bool odd = q & 1u;
  const T sin_abs = odd ? c : s, cos_abs = odd ? s : c;
  *sin_out = (q & 2u) ? -sin_abs : sin_abs;
  *cos_out = ((q + 1u) & 2u) ? -cos_abs : cos_abs;
}
GB_HOST_DEVICE inline void sincos_turn(uint32_t k, float* sin_out, float* cos_out) {
  const uint32_t q = (k + (1u << 21)) >> 22;
  const float f = float(int32_t(k - (q << 22))) * 0x1.0p-22f;
  const float x = f * 1.57079632679489662f, x2 = x * x;
  const float s = fma_t(x * x2, poly(x2, -1.0 / 6, 1.0 / 120, -1.0 / 5040, 1.0 / 362880), x);
  const float c = poly(x2, 1.0f, -1.0 / 2, 1.0 / 24, -1.0 / 720, 1.0 / 40320, -1.0 / 3628800);
  rotate_quarter(uint32_t(q), s, c, sin_out, cos_out);
}
GB_HOST_DEVICE inline void sincos_turn(uint64_t k, double* sin_out, double* cos_out) {
  const uint64_t q = (k + (uint64_t(1) << 50)) >> 51;
  const double f = double(int64_t(k - (q << 51))) * 0x1.0p-51;
  const double x = f * 1.57079632679489662, x2 = x * x;
  const double s = fma_t(x * x2,
                         poly(x2, -1.0 / 6, 1.0 / 120, -1.0 / 5040, 1.0 / 362880, -1.0 / 39916800,
                              1.0 / 6227020800.0, -1.0 / 1307674368000.0, 1.0 / 355687428096000.0),
                         x);
  const double c =
      poly(x2, 1.0, -1.0 / 2, 1.0 / 24, -1.0 / 720, 1.0 / 40320, -1.0 / 3628800, 1.0 / 479001600,
           -1.0 / 87178291200.0, 1.0 / 20922789888000.0, -1.0 / 6402373705728000.0);
  rotate_quarter(uint32_t(q), s, c, sin_out, cos_out);
}

// Box-Muller: r cos(theta), r sin(theta) with r = sqrt(-2 log u1), theta = 2 pi k / 2^B.
template <class T, class K>
GB_HOST_DEVICE inline void box_muller(T u1, K k, T* out) {
  const T r = sqrt_t(T(-2) * log_unit(u1));
  T s, c;
  sincos_turn(k, &s, &c);
  out[0] = r * c;
  out[1] = r * s;
}

// The uniforms of one block, in [0, 1): E values, in element order.
GB_HOST_DEVICE inline void unit_block(const Block& k, float* u) {
  for (int e = 0; e < 4; ++e) u[e] = unit_float(k.v[e]);
}
GB_HOST_DEVICE inline void unit_block(const Block& k, double* u) {
  for (int m = 0; m < 2; ++m) u[m] = unit_double(word(k, m));
}
GB_HOST_DEVICE inline void normal_block(const Block& k, float* z) {
  box_muller(unit_float_open0(k.v[0]), k.v[1] >> 8, z);
  box_muller(unit_float_open0(k.v[2]), k.v[3] >> 8, z + 2);
}
GB_HOST_DEVICE inline void normal_block(const Block& k, double* z) {
  box_muller(unit_double_open0(word(k, 0)), word(k, 1) >> 11, z);
}

// RandomDist with its numbers in T (the host converts once; kernels take this by value).
template <class T>
struct Dist {
  RandomDist::Kind kind;
  T a, b;
};
template <class T>
Dist<T> typed(const RandomDist& d) {
  if (d.kind == RandomDist::Kind::Uniform)  // fma(hi - lo, u, lo): pass the span
    return {d.kind, static_cast<T>(d.b - d.a), static_cast<T>(d.a)};
  return {d.kind, static_cast<T>(d.a), static_cast<T>(d.b)};
}

// The E values of `dist` (of kind K) drawn from block `b` of the stream keyed by `seed`. The
// kind is a template argument so a loop over blocks has no branch in it (the CPU's vectorise).
template <RandomDist::Kind K, class T>
GB_HOST_DEVICE inline void draw(const Dist<T>& dist, uint64_t seed, uint64_t b, T* out) {
  constexpr int E = kPerBlock<T>;
  const Block k = block_at(seed, b);
  if constexpr (K == RandomDist::Kind::Uniform) {  // a = hi - lo, b = lo
    unit_block(k, out);
    for (int e = 0; e < E; ++e) out[e] = fma_t(dist.a, out[e], dist.b);
  } else if constexpr (K == RandomDist::Kind::Normal) {  // a = mean, b = std
    normal_block(k, out);
    for (int e = 0; e < E; ++e) out[e] = fma_t(dist.b, out[e], dist.a);
  } else {  // KeepMask: a = keep probability, b = scale
    unit_block(k, out);
    for (int e = 0; e < E; ++e) out[e] = out[e] < dist.a ? dist.b : T(0);
  }
}

// The same, with the kind read at run time (a GPU thread: the branch is uniform).
template <class T>
GB_HOST_DEVICE inline void draw_block(const Dist<T>& dist, uint64_t seed, uint64_t b, T* out) {
  switch (dist.kind) {
    case RandomDist::Kind::Uniform:
      return draw<RandomDist::Kind::Uniform>(dist, seed, b, out);
    case RandomDist::Kind::Normal:
      return draw<RandomDist::Kind::Normal>(dist, seed, b, out);
    case RandomDist::Kind::KeepMask:
      return draw<RandomDist::Kind::KeepMask>(dist, seed, b, out);
  }
}

}  // namespace philox
}  // namespace glassbox
