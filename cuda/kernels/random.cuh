#pragma once
// Random fill kernel body: out[i] = draw i of a distribution from the Philox stream. One
// thread per Philox block (4 float32 or 2 float64 elements) in a grid-stride loop; each
// thread computes its block from (seed, base + block) alone (core/philox.h, the functions the
// CPU body calls too), so there is no generator state on the device, no shared memory and no
// barrier, and the values do not depend on the grid. Stores are per element: a thread's E
// values are contiguous, neighbouring threads' blocks are 16 bytes apart.
#include <cstdint>

#include "core/philox.h"
#include "cuda/kernels/strided.cuh"

namespace glassbox::gpu {

template <class T>
__global__ void random_fill_kernel(int64_t n, T* out, philox::Dist<T> dist, uint64_t seed,
                                   uint64_t base) {
  constexpr int E = philox::kPerBlock<T>;
  const int64_t blocks = (n + E - 1) / E;
  for (int64_t j = global_thread(); j < blocks; j += grid_threads()) {
    T v[E] = {};  // draw_block fills every lane; the initialiser only quiets g++
    philox::draw_block(dist, seed, base + uint64_t(j), v);
    // a fixed trip count with a guard, not a loop to `count`: v stays in registers
    for (int e = 0; e < E; ++e)
      if (j * E + e < n) out[j * E + e] = v[e];
  }
}

}  // namespace glassbox::gpu
