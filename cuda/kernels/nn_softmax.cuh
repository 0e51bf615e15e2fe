#pragma once
// softmax / log_softmax kernel bodies, forward and backward. The (contiguous) tensor is seen
// as [outer, n, inner] with the softmax dim in the middle; row (o, i) is the n elements
// o * n * inner + i + j * inner, j < n. Per row:
//   m = max_j x_j,  s = sum_j exp(x_j - m)
//   softmax:     y_j = exp(x_j - m) / s        log_softmax:  y_j = x_j - (m + log s)
// Subtracting the max first keeps every exp in (0, 1]: no overflow, and s >= 1. A NaN in the
// row wins the max (as on the CPU), so the whole row comes out NaN. The backward, from the
// saved output y and the incoming gradient g:
//   softmax:     dx_j = y_j * (g_j - sum_k g_k y_k)
//   log_softmax: dx_j = g_j - exp(y_j) * sum_k g_k
//
// Two shapes of work. When the dim is innermost (inner == 1) and rows are not tiny, a row is
// one contiguous run and gets one warp: lane l takes elements l, l + 32, ... (coalesced), and
// the max and the sum meet with five butterfly shuffles (__shfl_xor_sync), after which every
// lane holds the same total, bit for bit. Otherwise one thread takes one row and walks it
// `inner` apart: neighbouring threads are neighbouring rows, so the loads still coalesce.
// Sums accumulate in T (the CPU's in double), so float32 differs from the CPU in the last
// bits; one pass reads the row three times (max, sum, write) rather than keeping it in
// registers, so any n works. Rows of many thousands of elements would want a block per row.
#include <cstdint>
#include <limits>

#include "cuda/kernels/elementwise.cuh"
#include "cuda/kernels/reduce.cuh"

namespace glassbox::gpu {

// The larger of a and b, NaN winning.
template <class T>
__device__ __forceinline__ T nan_max(T a, T b) {
  if (is_nan(a)) return a;
  if (is_nan(b)) return b;
  return b > a ? b : a;
}
template <class T>
__device__ __forceinline__ T warp_max(T v) {
  for (int d = 16; d > 0; d /= 2) v = nan_max(v, __shfl_xor_sync(kFullMask, v, d));
  return v;
}
template <class T>
__device__ __forceinline__ T warp_sum(T v) {
  for (int d = 16; d > 0; d /= 2) v += __shfl_xor_sync(kFullMask, v, d);
  return v;
}

// Rows of n contiguous elements, one warp each (blockDim.x a multiple of 32).
template <class T, bool kLog>
__global__ void softmax_warp_kernel(int64_t rows, int64_t n, const T* in, T* out) {
  const int lane = int(threadIdx.x % 32);
  const int64_t warps = grid_threads() / 32;
  for (int64_t r = global_thread() / 32; r < rows; r += warps) {  // the same r in all lanes
    const T* x = in + r * n;
    T* y = out + r * n;
    T m = -std::numeric_limits<T>::infinity();
    for (int64_t j = lane; j < n; j += 32) m = nan_max(m, x[j]);
    m = warp_max(m);
    T s = T(0);
    for (int64_t j = lane; j < n; j += 32) s += dev_exp(x[j] - m);
    s = warp_sum(s);
    if (kLog) {
      const T shift = m + dev_log(s);
      for (int64_t j = lane; j < n; j += 32) y[j] = x[j] - shift;
    } else {
      const T inv = T(1) / s;
      for (int64_t j = lane; j < n; j += 32) y[j] = dev_exp(x[j] - m) * inv;
    }
  }
}

// One thread per row (o, i), elements `inner` apart.
template <class T, bool kLog>
__global__ void softmax_thread_kernel(int64_t outer, int64_t n, int64_t inner, const T* in,
                                      T* out) {
  for (int64_t r = global_thread(); r < outer * inner; r += grid_threads()) {
    const int64_t base = (r / inner) * n * inner + r % inner;
    const T* x = in + base;
    T* y = out + base;
    T m = -std::numeric_limits<T>::infinity();
    for (int64_t j = 0; j < n; ++j) m = nan_max(m, x[j * inner]);
    T s = T(0);
    for (int64_t j = 0; j < n; ++j) s += dev_exp(x[j * inner] - m);
    if (kLog) {
      const T shift = m + dev_log(s);
      for (int64_t j = 0; j < n; ++j) y[j * inner] = x[j * inner] - shift;
    } else {
      const T inv = T(1) / s;
      for (int64_t j = 0; j < n; ++j) y[j * inner] = dev_exp(x[j * inner] - m) * inv;
    }
  }
}

// What the backward sums over a row: g_k y_k (softmax) or g_k (log_softmax)...
template <class T, bool kLog>
__device__ __forceinline__ T backward_term(T g, T y) {
  return kLog ? g : g * y;
}
// ... and dx_j given that sum.
template <class T, bool kLog>
__device__ __forceinline__ T backward_value(T g, T y, T s) {
  return kLog ? g - dev_exp(y) * s : y * (g - s);
}

template <class T, bool kLog>
__global__ void softmax_backward_warp_kernel(int64_t rows, int64_t n, const T* grad, const T* out,
                                             T* grad_in) {
  const int lane = int(threadIdx.x % 32);
  const int64_t warps = grid_threads() / 32;
  for (int64_t r = global_thread() / 32; r < rows; r += warps) {
    const T *g = grad + r * n, *y = out + r * n;
    T* dx = grad_in + r * n;
    T s = T(0);
    for (int64_t j = lane; j < n; j += 32) s += backward_term<T, kLog>(g[j], y[j]);
    s = warp_sum(s);
    for (int64_t j = lane; j < n; j += 32) dx[j] = backward_value<T, kLog>(g[j], y[j], s);
  }
}

template <class T, bool kLog>
__global__ void softmax_backward_thread_kernel(int64_t outer, int64_t n, int64_t inner,
                                               const T* grad, const T* out, T* grad_in) {
  for (int64_t r = global_thread(); r < outer * inner; r += grid_threads()) {
    const int64_t base = (r / inner) * n * inner + r % inner;
    const T *g = grad + base, *y = out + base;
    T* dx = grad_in + base;
    T s = T(0);
    for (int64_t j = 0; j < n; ++j) s += backward_term<T, kLog>(g[j * inner], y[j * inner]);
    for (int64_t j = 0; j < n; ++j)
      dx[j * inner] = backward_value<T, kLog>(g[j * inner], y[j * inner], s);
  }
}

}  // namespace glassbox::gpu
