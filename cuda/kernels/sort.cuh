#pragma once
// Row sort kernel bodies: a bitonic sorting network over each row, padded to P = 2^m >= n.
//
// Bitonic sort: for k = 2, 4, .., P and j = k/2, .., 1, every position i with bit j clear is
// compared with l = i + j and the pair is put in order, ascending where bit k of i is clear
// and descending where it is set; after the k = P stage the row is sorted (Batcher, 1968).
// That is log2(P) (log2(P) + 1) / 2 steps of P/2 independent compare-exchanges each.
//
// The network is not stable by itself, so it sorts (value, index) pairs under a total order:
// padding (index >= n) after everything, then by value (NaN largest, as in PyTorch; reversed
// when descending), then by original index. No two pairs are equal, so the result is the one
// a stable sort gives, bit for bit equal to the CPU's std::stable_sort.
//
// Rows with P <= kSharedSortMax are sorted by one block each in shared memory (one
// __syncthreads per step). Longer rows run the same network in global memory, one launch per
// step, over a padded scratch copy: ~log2(P)^2 / 2 launches, each a plain grid-stride loop.
#include <cstdint>
#include <type_traits>

#include "cuda/kernels/strided.cuh"

namespace glassbox::gpu {

constexpr int64_t kSharedSortMax = 2048;  // 2048 * (8 + 8) bytes = 32 KB of shared memory

template <class T>
__device__ __forceinline__ bool sort_is_nan(T v) {
  if constexpr (std::is_floating_point_v<T>)
    return v != v;
  else
    return false;
}

// a before b in ascending order, NaN as the largest value
template <class T>
__device__ __forceinline__ bool value_before(T a, T b) {
  return !sort_is_nan(a) && (sort_is_nan(b) || a < b);
}

// The total order the network sorts (value, index) pairs by (see the top of the file).
template <class T>
__device__ __forceinline__ bool goes_first(T va, int64_t ia, T vb, int64_t ib, int64_t n,
                                           bool desc) {
  const bool pa = ia >= n, pb = ib >= n;
  if (pa != pb) return pb;
  if (!pa) {
    if (desc ? value_before(vb, va) : value_before(va, vb)) return true;
    if (desc ? value_before(va, vb) : value_before(vb, va)) return false;
  }
  return ia < ib;
}

// One compare-exchange of stage k between positions i < l of a row.
template <class T>
__device__ __forceinline__ void bitonic_exchange(T* v, int64_t* ix, int64_t i, int64_t l, int64_t k,
                                                 int64_t n, bool desc) {
  const bool up = (i & k) == 0;
  const bool swap = up ? goes_first(v[l], ix[l], v[i], ix[i], n, desc)
                       : goes_first(v[i], ix[i], v[l], ix[l], n, desc);
  if (swap) {
    const T tv = v[i];
    v[i] = v[l];
    v[l] = tv;
    const int64_t ti = ix[i];
    ix[i] = ix[l];
    ix[l] = ti;
  }
}

// Pair t of a step with distance j: i has bit j clear, l = i + j.
__device__ __forceinline__ int64_t pair_low(int64_t t, int64_t j) {
  return (t / j) * 2 * j + t % j;
}

// One block per row (grid-stride over rows); shared memory: P int64 indices, then P values.
template <class T>
__global__ void sort_rows_shared_kernel(int64_t rows, int64_t n, int64_t P, bool desc, const T* in,
                                        T* out_v, int64_t* out_i) {
  GB_DYN_SHARED(unsigned char, smem);
  int64_t* ix = reinterpret_cast<int64_t*>(smem);
  T* v = reinterpret_cast<T*>(smem + P * sizeof(int64_t));
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    for (int64_t t = threadIdx.x; t < P; t += blockDim.x) {
      ix[t] = t;
      v[t] = t < n ? in[r * n + t] : T(0);
    }
    __syncthreads();
    for (int64_t k = 2; k <= P; k <<= 1)
      for (int64_t j = k >> 1; j > 0; j >>= 1) {
        for (int64_t t = threadIdx.x; t < P / 2; t += blockDim.x) {
          const int64_t i = pair_low(t, j);
          bitonic_exchange(v, ix, i, i + j, k, n, desc);
        }
        __syncthreads();
      }
    for (int64_t t = threadIdx.x; t < n; t += blockDim.x) {
      out_v[r * n + t] = v[t];
      out_i[r * n + t] = ix[t];
    }
    __syncthreads();  // the next row overwrites the shared arrays
  }
}

// The global path: scratch [rows, P] of values and indices, padded.
template <class T>
__global__ void sort_pad_kernel(int64_t rows, int64_t n, int64_t P, const T* in, T* v,
                                int64_t* ix) {
  for (int64_t t = global_thread(); t < rows * P; t += grid_threads()) {
    const int64_t r = t / P, c = t % P;
    ix[t] = c;
    v[t] = c < n ? in[r * n + c] : T(0);
  }
}

template <class T>
__global__ void sort_step_kernel(int64_t rows, int64_t n, int64_t P, int64_t k, int64_t j,
                                 bool desc, T* v, int64_t* ix) {
  const int64_t half = P / 2;
  for (int64_t t = global_thread(); t < rows * half; t += grid_threads()) {
    const int64_t r = t / half, i = pair_low(t % half, j);
    bitonic_exchange(v + r * P, ix + r * P, i, i + j, k, n, desc);
  }
}

template <class T>
__global__ void sort_unpad_kernel(int64_t rows, int64_t n, int64_t P, const T* v, const int64_t* ix,
                                  T* out_v, int64_t* out_i) {
  for (int64_t t = global_thread(); t < rows * n; t += grid_threads()) {
    const int64_t r = t / n, c = t % n;
    out_v[t] = v[r * P + c];
    out_i[t] = ix[r * P + c];
  }
}

}  // namespace glassbox::gpu
