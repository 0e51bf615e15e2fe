#pragma once
// Fused optimizer updates: one kernel per optimizer, one launch per parameter, every element
// of the parameter and its state read once and written once. The math is the CPU's
// (core/cpu/optim.cpp), element for element and in the same order:
//
//   SGD   d = g (+ wd * p);  buf = first ? d : mom * buf + keep * d;
//         d = nesterov ? d + mom * buf : buf;  p = p + (-lr) * d
//   Adam  d = g (+ wd * p);  m = b1 * m + (1 - b1) * d;  v = b2 * v + (1 - b2) * d * d
//         s = sqrt(amsgrad ? (vmax = max(vmax, v)) : v)
//         p = p (* (1 - lr * wd), AdamW) + (-lr / bc1) * m / (s / sqrt(bc2) + eps)
//
// with the constants the host computed (kernels::adam_consts) rounded to T. Where the CPU
// fuses a multiply-add (cpu::madd, on an FMA build: kFma) the kernel fuses the same one, and
// every other product, sum, quotient and square root is rounded on its own: nvcc would
// otherwise contract a * b + c wherever it likes, so those go through the _rn intrinsics,
// which it never contracts. Division and square root are IEEE (correctly rounded), as the
// CPU's are, so the results agree bit for bit with the CPU's.
//
// Each thread takes a pack of N elements (16 bytes: 4 floats or 2 doubles) per turn of a
// grid-stride loop, so loads and stores are single 128-bit accesses; the host picks N = 1
// when an operand is not 16-byte aligned (a view into a larger buffer). The n % N elements
// after the last pack are done one per thread at the end.
// Caveat: the bits agree only under IEEE build settings: nvcc's -ftz=true (implied by
// --use_fast_math) flushes float32 denormals even in the _rn intrinsics, and -ffast-math on
// the CPU side would let the compiler reorder the host loops.
#include <cmath>
#include <cstdint>
#include <cstring>

#include "cuda/kernels/strided.cuh"

namespace glassbox::gpu {

template <class T>
struct SgdArgs {
  T wd, mom, keep, neg_lr;
  bool decay, nesterov, first;
};

template <class T>
struct AdamArgs {
  T b1, b2, one_minus_b1, one_minus_b2, eps, wd, shrink, neg_step_size, bc2_sqrt;
  bool l2, decoupled;
};

// ------------------------------------------------------------ rounding spelled out
#if defined(GLASSBOX_CUDA_EMU)
template <class T>
__device__ __forceinline__ T mul_rn(T a, T b) {
  return a * b;
}
template <class T>
__device__ __forceinline__ T add_rn(T a, T b) {
  return a + b;
}
template <class T>
__device__ __forceinline__ T div_rn(T a, T b) {
  return a / b;
}
template <class T>
__device__ __forceinline__ T sqrt_rn(T a) {
  return std::sqrt(a);
}
template <class T>
__device__ __forceinline__ T fma_rn(T a, T b, T c) {
  return std::fma(a, b, c);
}
#else
__device__ __forceinline__ float mul_rn(float a, float b) { return __fmul_rn(a, b); }
__device__ __forceinline__ double mul_rn(double a, double b) { return __dmul_rn(a, b); }
__device__ __forceinline__ float add_rn(float a, float b) { return __fadd_rn(a, b); }
__device__ __forceinline__ double add_rn(double a, double b) { return __dadd_rn(a, b); }
__device__ __forceinline__ float div_rn(float a, float b) { return __fdiv_rn(a, b); }
__device__ __forceinline__ double div_rn(double a, double b) { return __ddiv_rn(a, b); }
__device__ __forceinline__ float sqrt_rn(float a) { return __fsqrt_rn(a); }
__device__ __forceinline__ double sqrt_rn(double a) { return __dsqrt_rn(a); }
__device__ __forceinline__ float fma_rn(float a, float b, float c) { return __fmaf_rn(a, b, c); }
__device__ __forceinline__ double fma_rn(double a, double b, double c) { return __fma_rn(a, b, c); }
#endif

// a * b + c as cpu::madd computes it: one rounding when the CPU build fuses, two otherwise.
template <bool kFma, class T>
__device__ __forceinline__ T madd(T a, T b, T c) {
  if constexpr (kFma)
    return fma_rn(a, b, c);
  else
    return add_rn(mul_rn(a, b), c);
}

// ------------------------------------------------------------ one element
// buf is read only when has_buf and not first.
template <bool kFma, class T>
__device__ __forceinline__ void sgd_update(T& p, T g, T& buf, bool has_buf, const SgdArgs<T>& a) {
  T d = g;
  if (a.decay) d = madd<kFma>(a.wd, p, d);
  if (has_buf) {
    buf = a.first ? d : madd<kFma>(buf, a.mom, mul_rn(a.keep, d));
    d = a.nesterov ? madd<kFma>(a.mom, buf, d) : buf;
  }
  p = madd<kFma>(a.neg_lr, d, p);
}

// vmax is read only when has_vmax.
template <bool kFma, class T>
__device__ __forceinline__ void adam_update(T& p, T g, T& m, T& v, T& vmax, bool has_vmax,
                                            const AdamArgs<T>& a) {
  T d = g;
  if (a.l2) d = madd<kFma>(a.wd, p, d);  // grad.add(param, alpha=wd)
  m = madd<kFma>(m, a.b1, mul_rn(a.one_minus_b1, d));
  v = madd<kFma>(v, a.b2, mul_rn(mul_rn(a.one_minus_b2, d), d));
  T second = v;
  if (has_vmax) {
    const T old = vmax;
    vmax = (old >= v || old != old) ? old : v;  // torch.maximum: NaN wins
    second = vmax;
  }
  const T denom = add_rn(div_rn(sqrt_rn(second), a.bc2_sqrt), a.eps);
  const T step = div_rn(mul_rn(a.neg_step_size, m), denom);
  p = a.decoupled ? madd<kFma>(p, a.shrink, step) : add_rn(p, step);
}

// ------------------------------------------------------------ packs of N elements
template <class T, int N>
struct alignas(sizeof(T) * N) Pack {
  T v[N];
};

template <int N, class T>
__device__ __forceinline__ Pack<T, N> load_pack(const T* base, int64_t i) {
#if defined(GLASSBOX_CUDA_EMU)
  Pack<T, N> out;
  std::memcpy(&out, base + i, sizeof out);
  return out;
#else
  return *reinterpret_cast<const Pack<T, N>*>(base + i);
#endif
}
template <int N, class T>
__device__ __forceinline__ void store_pack(T* base, int64_t i, const Pack<T, N>& v) {
#if defined(GLASSBOX_CUDA_EMU)
  std::memcpy(base + i, &v, sizeof v);
#else
  *reinterpret_cast<Pack<T, N>*>(base + i) = v;
#endif
}

// n elements; buf null without momentum.
template <class T, int N, bool kFma>
__global__ void sgd_kernel(int64_t n, T* p, const T* g, T* buf, SgdArgs<T> a) {
  const bool has_buf = buf != nullptr, read_buf = has_buf && !a.first;
  const int64_t packs = n / N;
  for (int64_t k = global_thread(); k < packs; k += grid_threads()) {
    const int64_t i = k * N;
    Pack<T, N> pv = load_pack<N>(p, i), bv{};
    const Pack<T, N> gv = load_pack<N>(g, i);
    if (read_buf) bv = load_pack<N>(buf, i);
    for (int j = 0; j < N; ++j) sgd_update<kFma>(pv.v[j], gv.v[j], bv.v[j], has_buf, a);
    store_pack<N>(p, i, pv);
    if (has_buf) store_pack<N>(buf, i, bv);
  }
  for (int64_t i = packs * N + global_thread(); i < n; i += grid_threads()) {
    T bi = read_buf ? buf[i] : T(0);
    sgd_update<kFma>(p[i], g[i], bi, has_buf, a);
    if (has_buf) buf[i] = bi;
  }
}

// n elements; vmax null without amsgrad.
template <class T, int N, bool kFma>
__global__ void adam_kernel(int64_t n, T* p, const T* g, T* m, T* v, T* vmax, AdamArgs<T> a) {
  const bool has_vmax = vmax != nullptr;
  const int64_t packs = n / N;
  for (int64_t k = global_thread(); k < packs; k += grid_threads()) {
    const int64_t i = k * N;
    Pack<T, N> pv = load_pack<N>(p, i), mv = load_pack<N>(m, i), vv = load_pack<N>(v, i), xv{};
    const Pack<T, N> gv = load_pack<N>(g, i);
    if (has_vmax) xv = load_pack<N>(vmax, i);
    for (int j = 0; j < N; ++j)
      adam_update<kFma>(pv.v[j], gv.v[j], mv.v[j], vv.v[j], xv.v[j], has_vmax, a);
    store_pack<N>(p, i, pv);
    store_pack<N>(m, i, mv);
    store_pack<N>(v, i, vv);
    if (has_vmax) store_pack<N>(vmax, i, xv);
  }
  for (int64_t i = packs * N + global_thread(); i < n; i += grid_threads()) {
    T xi = has_vmax ? vmax[i] : T(0);
    adam_update<kFma>(p[i], g[i], m[i], v[i], xi, has_vmax, a);
    if (has_vmax) vmax[i] = xi;
  }
}

}  // namespace glassbox::gpu
