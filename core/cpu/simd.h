#pragma once
// Vectors through the GCC/Clang vector extensions, as wide as the compile target allows.
// Arithmetic, comparisons (which give lane masks, Mask<T>) and `mask ? a : b` work lane by lane;
// the compiler keeps small arrays of them in registers. Used by kernels whose inner loops the
// compiler would not vectorise by itself (conv_flat.cpp, nn_pool.cpp).
#include <cstdint>
#include <cstring>
#include <type_traits>

// GCC notes that passing wide vectors by value changes ABI between -march levels. These
// helpers are inline and used only inside the library, which is built with one set of flags,
// so no call crosses such a boundary; the note is silenced for the files that include this.
#pragma GCC diagnostic ignored "-Wpsabi"

namespace glassbox::cpu::simd {

// The widest vectors the compile target has, and how many registers of that width: 64 bytes
// and 32 registers with AVX-512, 32 and 16 with AVX, else SSE2's 16 and 16. (Wider vectors
// than the target has would be split into several registers each, and register-blocked
// kernels sized for 32 registers would spill: a portable -march build must not pay that.)
#if defined(__AVX512F__)
constexpr int kVectorBytes = 64, kVectorRegisters = 32;
#elif defined(__AVX__)
constexpr int kVectorBytes = 32, kVectorRegisters = 16;
#else
constexpr int kVectorBytes = 16, kVectorRegisters = 16;
#endif

template <class T>
struct Simd {
  using Int = std::conditional_t<sizeof(T) == 4, int32_t, int64_t>;
  typedef T Vec __attribute__((vector_size(kVectorBytes)));
  typedef Int Mask __attribute__((vector_size(kVectorBytes)));  // a comparison of two Vec
  static constexpr int kWidth = kVectorBytes / sizeof(T);
};
template <class T>
using Vec = typename Simd<T>::Vec;
template <class T>
using Mask = typename Simd<T>::Mask;

template <class T>
inline Vec<T> load(const T* p) {
  Vec<T> v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
template <class T>
inline Vec<T> load_partial(const T* p, int n) {  // lanes >= n are zero
  Vec<T> v = {};
  for (int i = 0; i < n; ++i) v[i] = p[i];
  return v;
}
template <class T>
inline void store(T* p, const Vec<T>& v, int n = Simd<T>::kWidth) {
  if (n == Simd<T>::kWidth) {
    std::memcpy(p, &v, sizeof v);
  } else {
    for (int i = 0; i < n; ++i) p[i] = v[i];
  }
}
template <class T>
inline T lane_sum(const Vec<T>& v) {
  T s = 0;
  for (int i = 0; i < Simd<T>::kWidth; ++i) s += v[i];
  return s;
}

}  // namespace glassbox::cpu::simd
