#pragma once
// Host-side helpers for cuda/*.cu: where a tensor's bytes are, how to describe a strided
// walk to a kernel, and how big a grid to launch.
#include <array>
#include <cstdint>

#include "core/cpu/loop.h"
#include "core/tensor.h"
#include "cuda/context.h"
#include "cuda/kernels/strided.cuh"

namespace glassbox::gpu {

inline char* bytes_of(const Tensor& t) { return static_cast<char*>(t.raw_data()); }
template <class T>
T* ptr_of(const Tensor& t) {
  return static_cast<T*>(t.raw_data());
}
inline int device_of(const Tensor& t) { return t.device().index; }
inline cudaStream_t stream_of(const Tensor& t) { return cuda::stream(t.device().index); }

inline Tensor empty_on(const Shape& shape, DType dt, Device device) {
  return empty(shape, TensorOptions().set_dtype(dt).set_device(device));
}

inline Shape byte_strides(const Tensor& t) {
  Shape s = t.strides();
  for (auto& v : s) v *= static_cast<int64_t>(dtype_size(t.dtype()));
  return s;
}

// Coalesces the walk (loop.h's plan) and packs it for a kernel argument.
template <int N>
Strided<N> make_strided(const Shape& shape, const std::array<Shape, N>& byte_strides,
                        const std::array<size_t, N>& elem_sizes, const char* op) {
  cpu::LoopPlan<N> p = cpu::make_plan<N>(shape, byte_strides);
  const int nd = static_cast<int>(p.sizes.size());
  GB_CHECK(nd <= kMaxDims, op, ": a ", shape_str(shape), " walk has ", nd,
           " dims after merging; CUDA kernels take at most ", kMaxDims);
  Strided<N> s{};
  s.ndim = nd;
  for (int d = 0; d < nd; ++d) {
    s.sizes[d] = p.sizes[d];
    for (int k = 0; k < N; ++k) s.strides[k][d] = p.strides[k][d];
  }
  s.contiguous = nd == 1;
  for (int k = 0; k < N; ++k)
    s.contiguous = s.contiguous && p.strides[k][0] == static_cast<int64_t>(elem_sizes[k]);
  return s;
}

// One thread per element, 256 to a block; the grid-stride loop covers the rest, so the grid
// stays small enough to launch anywhere (and for the emulator to walk quickly).
constexpr int kBlock = 256;
inline unsigned grid_for(int64_t n, int64_t max_blocks = 4096) {
  int64_t blocks = (n + kBlock - 1) / kBlock;
  if (blocks < 1) blocks = 1;
  return static_cast<unsigned>(blocks < max_blocks ? blocks : max_blocks);
}

}  // namespace glassbox::gpu
