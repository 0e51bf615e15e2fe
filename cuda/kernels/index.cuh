#pragma once
// Index kernel bodies: index_select / gather and their adjoints index_add_ / scatter_add_,
// one thread per element of the (index-shaped) iteration space. The adjoints add with
// atomicAdd because two index entries may name the same destination row; float atomics make
// the order of those additions (and so the last bits of the sum) vary from run to run.
//
// Indices are checked on the device by a deferred check queued before any of these run
// (cuda/checks.h): the host hears of a bad index at its next wait for the device, as the
// CPU backend's error. Until then these kernels must not read or write through it: an index
// outside [0, rows) reads 0 and adds nothing. A kernel cannot throw, and a wild index must
// never be followed.
#include <cstdint>

#include "cuda/kernels/strided.cuh"

namespace glassbox::gpu {

// out[o, i, j] = a[o, index[i], j] over [outer, n, inner], contiguous.
template <class T>
__global__ void index_select_kernel(int64_t total, int64_t n, int64_t inner, int64_t rows,
                                    const T* a, const int64_t* index, T* out) {
  for (int64_t t = global_thread(); t < total; t += grid_threads()) {
    const int64_t j = t % inner, i = (t / inner) % n, o = t / (inner * n), r = index[i];
    out[t] = (r >= 0 && r < rows) ? a[(o * rows + r) * inner + j] : T(0);
  }
}

// dst[o, index[i], j] += src[o, i, j]
template <class T>
__global__ void index_add_kernel(int64_t total, int64_t n, int64_t inner, int64_t rows, T* dst,
                                 const int64_t* index, const T* src) {
  for (int64_t t = global_thread(); t < total; t += grid_threads()) {
    const int64_t j = t % inner, i = (t / inner) % n, o = t / (inner * n), r = index[i];
    if (r >= 0 && r < rows) atomicAdd(&dst[(o * rows + r) * inner + j], src[t]);
  }
}

// For element t of the index (shape `is`, contiguous), the offset into the contiguous
// target (shape `ts`) with coordinate `dim` replaced by index[t].
struct GatherGeom {
  int ndim, dim;
  int64_t limit;  // the target's size along dim: an index must be in [0, limit)
  int64_t index_sizes[kMaxDims];
  int64_t target_strides[kMaxDims];
};

__device__ __forceinline__ int64_t target_offset(const GatherGeom& g, int64_t t, int64_t ix) {
  int64_t off = 0;
  for (int d = g.ndim - 1; d >= 0; --d) {
    const int64_t c = t % g.index_sizes[d];
    t /= g.index_sizes[d];
    off += (d == g.dim ? ix : c) * g.target_strides[d];
  }
  return off;
}

template <class T>
__global__ void gather_kernel(int64_t total, GatherGeom g, const T* a, const int64_t* index,
                              T* out) {
  for (int64_t t = global_thread(); t < total; t += grid_threads()) {
    const int64_t ix = index[t];
    out[t] = (ix >= 0 && ix < g.limit) ? a[target_offset(g, t, ix)] : T(0);
  }
}

template <class T>
__global__ void scatter_add_kernel(int64_t total, GatherGeom g, T* dst, const int64_t* index,
                                   const T* src) {
  for (int64_t t = global_thread(); t < total; t += grid_threads()) {
    const int64_t ix = index[t];
    if (ix >= 0 && ix < g.limit) atomicAdd(&dst[target_offset(g, t, ix)], src[t]);
  }
}

// dst[t] = value where mask[t] (both contiguous, one shape)
template <class T>
__global__ void masked_fill_kernel(int64_t total, T* dst, const bool* mask, T value) {
  for (int64_t t = global_thread(); t < total; t += grid_threads())
    if (mask[t]) dst[t] = value;
}

}  // namespace glassbox::gpu
