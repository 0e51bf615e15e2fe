#pragma once
// Device-side addressing shared by the element-wise, reduction and index kernels.
//
// A tensor view is (sizes, strides, offset). The host coalesces the iteration shape first
// (core/cpu/loop.h's make_plan: size-1 dims dropped, dims that every operand walks as one
// flat run merged), so a contiguous op reaches the kernel as ndim == 1 with unit strides and
// takes the branch-free path. Otherwise each thread turns its linear index into per-operand
// byte offsets: one division per remaining dim, innermost first.
#include <cstdint>

#include "cuda/kernels/device.cuh"

namespace glassbox::gpu {

constexpr int kMaxDims = 10;

// N operands walked over one iteration shape; strides in bytes (0 along broadcast dims).
template <int N>
struct Strided {
  int ndim;
  bool contiguous;  // ndim == 1 and every stride equals its operand's element size
  int64_t sizes[kMaxDims];
  int64_t strides[N][kMaxDims];
};

template <int N>
__device__ __forceinline__ void byte_offsets(const Strided<N>& s, int64_t linear,
                                             int64_t (&off)[N]) {
  for (int k = 0; k < N; ++k) off[k] = 0;
  for (int d = s.ndim - 1; d >= 0; --d) {
    const int64_t i = linear % s.sizes[d];
    linear /= s.sizes[d];
    for (int k = 0; k < N; ++k) off[k] += i * s.strides[k][d];
  }
}

// The grid-stride loop every element-wise kernel uses: any grid size covers any n.
__device__ __forceinline__ int64_t global_thread() {
  return int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
}
__device__ __forceinline__ int64_t grid_threads() { return int64_t(gridDim.x) * blockDim.x; }

}  // namespace glassbox::gpu
