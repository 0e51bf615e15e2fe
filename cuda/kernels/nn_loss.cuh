#pragma once
// Negative log-likelihood kernel bodies. log_probs is [N, C, S] and target [N, S], both
// contiguous; element (n, s) picks class c = target[n, s]:
//   loss[n, s] = -log_probs[n, c, s]        (0 where c == ignore_index)
// and the backward puts -grad[n, s] back at (n, c, s), 0 everywhere else, written in one pass
// over [N, C, S] (no separate zero fill). The loss kernel also counts the targets that are
// not ignored: each thread counts its own, the block adds them with warp shuffles
// (block_reduce), and one integer atomicAdd per block makes the total. Integer addition is
// exact in any order, so the count is too.
//
// Targets are range-checked by a deferred check queued first (cuda/checks.h), which the host
// hears of at its next wait. Until then the kernels must never read a class outside [0, C):
// a bad target gives a NaN loss and is not counted.
#include <cstdint>
#include <limits>

#include "cuda/kernels/reduce.cuh"
#include "cuda/kernels/strided.cuh"

namespace glassbox::gpu {

// Dynamic shared memory: one int64 per warp.
template <class T>
__global__ void nll_loss_kernel(int64_t N, int64_t C, int64_t S, const T* log_probs,
                                const int64_t* target, int64_t ignore_index, T* loss,
                                unsigned long long* count) {
  GB_DYN_SHARED(int64_t, warp_totals);
  int64_t counted = 0;
  for (int64_t i = global_thread(); i < N * S; i += grid_threads()) {
    const int64_t c = target[i];
    if (c == ignore_index) {
      loss[i] = T(0);
    } else if (c < 0 || c >= C) {
      loss[i] = std::numeric_limits<T>::quiet_NaN();
    } else {
      loss[i] = -log_probs[((i / S) * C + c) * S + i % S];
      ++counted;
    }
  }
  counted = block_reduce(SumReducer<int64_t, int64_t>{}, counted, warp_totals);
  if (threadIdx.x == 0 && counted > 0) atomicAdd(count, (unsigned long long)counted);
}

template <class T>
__global__ void nll_loss_backward_kernel(int64_t N, int64_t C, int64_t S, const T* grad,
                                         const int64_t* target, int64_t ignore_index, T* grad_in) {
  for (int64_t i = global_thread(); i < N * C * S; i += grid_threads()) {
    const int64_t s = i % S, c = (i / S) % C, n = i / (S * C);
    const int64_t t = target[n * S + s];
    grad_in[i] = t == c && t != ignore_index ? -grad[n * S + s] : T(0);
  }
}

}  // namespace glassbox::gpu
