#pragma once
// Batch-norm kernel bodies over a contiguous [N, C, S]. Channel c owns the M = N * S elements
//   x[(n * C + c) * S + s],  n < N, s < S
// and every per-channel quantity is a sum over them, so the statistics and the backward take
// one block per channel: the block's threads stride over the channel's elements, keep
// partial sums in double, and meet through block_reduce (warp shuffles, one barrier; the
// same tree every run, so the results are reproducible); thread 0 then broadcasts the total
// through shared memory when the block needs it for a second pass. No atomics.
//
//   stats:    mean and biased var = sum (x - mean)^2 / M in one pass with Welford's update
//             per thread (n += 1; d = x - mean; mean += d / n; m2 += d * (x - mean)), and the
//             threads' (n, mean, m2) merged pairwise by Chan et al.'s formula
//               n = na + nb, d = mb - ma, mean = ma + d * nb / n, m2 = m2a + m2b + d^2 na nb / n
//             in the block reduction: one read of the data and no cancellation from
//             E[x^2] - E[x]^2 (the CPU's two passes agree to rounding)
//   forward:  y = x * scale + shift,  scale = invstd * w,  shift = b - mean * scale
//             (element-wise, one thread per element)
//   backward: sum_g = sum g,  sum_gd = sum g * (x - mean);  grad_bias = sum_g,
//             grad_weight = sum_gd * invstd, and with batch statistics
//               dx = w * invstd * (g - sum_g / M - (x - mean) * sum_gd * invstd^2 / M)
//             (mean and invstd are functions of x), without them dx = g * w * invstd.
// The math is in double as on the CPU; results are rounded to T once. One block per channel
// leaves a large GPU mostly idle when C is small and M huge (a split of M into chunks with a
// second pass would fix that); the notebook's layers have M in the thousands.
#include <cstdint>

#include "cuda/kernels/reduce.cuh"
#include "cuda/kernels/strided.cuh"

namespace glassbox::gpu {

struct ChannelGeom {
  int64_t N, C, S;
  __device__ int64_t count() const { return N * S; }
  // element i < N * S of channel c
  __device__ int64_t at(int64_t c, int64_t i) const { return ((i / S) * C + c) * S + i % S; }
};

// Welford's running (count, mean, sum of squared deviations), merged as a Reducer.
struct Moments {
  double n, mean, m2;
};
struct MomentsReducer {
  using acc_t = Moments;
  __device__ Moments identity() const { return {0.0, 0.0, 0.0}; }
  __device__ Moments combine(Moments a, Moments b) const {
    if (a.n == 0.0) return b;
    if (b.n == 0.0) return a;
    const double n = a.n + b.n, d = b.mean - a.mean;
    return {n, a.mean + d * (b.n / n), a.m2 + b.m2 + d * d * (a.n * b.n / n)};
  }
  __device__ Moments shfl_down(Moments v, int d) const {
    return {shfl_down_value(v.n, d), shfl_down_value(v.mean, d), shfl_down_value(v.m2, d)};
  }
};

// Dynamic shared memory: blockDim.x / 32 Moments.
template <class T>
__global__ void batch_norm_stats_kernel(ChannelGeom g, const T* x, T* mean, T* var) {
  GB_DYN_SHARED(Moments, warp_totals);
  const MomentsReducer r{};
  const int64_t M = g.count();
  for (int64_t c = blockIdx.x; c < g.C; c += gridDim.x) {
    Moments t{0.0, 0.0, 0.0};
    for (int64_t i = threadIdx.x; i < M; i += blockDim.x) {
      const double v = double(x[g.at(c, i)]);
      t.n += 1.0;
      const double d = v - t.mean;
      t.mean += d / t.n;
      t.m2 += d * (v - t.mean);
    }
    t = block_reduce(r, t, warp_totals);
    if (threadIdx.x == 0) {
      mean[c] = T(t.n > 0.0 ? t.mean : 0.0);
      var[c] = T(t.n > 0.0 ? t.m2 / t.n : 0.0);
    }
    __syncthreads();  // warp_totals is rewritten for the next channel
  }
}
template <class T>
__global__ void batch_norm_forward_kernel(ChannelGeom g, const T* x, const T* mean, const T* invstd,
                                          const T* weight, const T* bias, T* y) {
  const int64_t total = g.N * g.C * g.S;
  for (int64_t i = global_thread(); i < total; i += grid_threads()) {
    const int64_t c = (i / g.S) % g.C;
    const T scale = invstd[c] * (weight ? weight[c] : T(1));
    const T shift = (bias ? bias[c] : T(0)) - mean[c] * scale;
    y[i] = x[i] * scale + shift;
  }
}

// sum g and sum g * (x - mean), reduced together.
struct GradSums {
  double g, gd;
};
struct GradSumsReducer {
  using acc_t = GradSums;
  __device__ GradSums identity() const { return {0.0, 0.0}; }
  __device__ GradSums combine(GradSums a, GradSums b) const { return {a.g + b.g, a.gd + b.gd}; }
  __device__ GradSums shfl_down(GradSums v, int d) const {
    return {shfl_down_value(v.g, d), shfl_down_value(v.gd, d)};
  }
};

// Any of grad_in, grad_weight, grad_bias may be null (not needed). Dynamic shared memory:
// (blockDim.x / 32 + 1) GradSums. kSums: the per-channel sums are needed (a weight or bias
// gradient, or an input gradient through batch statistics). It is a template argument, not
// a runtime flag, so that each instantiation either always or never reaches the barriers:
// whether a kernel synchronises must not depend on its arguments (the emulator checks).
template <class T, bool kSums>
__global__ void batch_norm_backward_kernel(ChannelGeom g, const T* grad, const T* x, const T* mean,
                                           const T* invstd, const T* weight, bool batch_stats,
                                           T* grad_in, T* grad_weight, T* grad_bias) {
  GB_DYN_SHARED(GradSums, warp_totals);
  GradSums* total = warp_totals + blockDim.x / 32;
  const int64_t M = g.count();
  for (int64_t c = blockIdx.x; c < g.C; c += gridDim.x) {
    const double mu = mean[c], inv = invstd[c], wc = weight ? double(weight[c]) : 1.0;
    GradSums t{0.0, 0.0};
    if (kSums) {
      for (int64_t i = threadIdx.x; i < M; i += blockDim.x) {
        const int64_t at = g.at(c, i);
        t.g += double(grad[at]);
        t.gd += double(grad[at]) * (double(x[at]) - mu);
      }
      t = block_reduce(GradSumsReducer{}, t, warp_totals);
      if (threadIdx.x == 0) {
        if (grad_bias) grad_bias[c] = T(t.g);
        if (grad_weight) grad_weight[c] = T(t.gd * inv);
        *total = t;
      }
      __syncthreads();
      t = *total;
    }
    if (grad_in && batch_stats) {
      const double mean_g = t.g / double(M), proj = t.gd * inv * inv / double(M);
      for (int64_t i = threadIdx.x; i < M; i += blockDim.x) {
        const int64_t at = g.at(c, i);
        grad_in[at] = T(wc * inv * (double(grad[at]) - mean_g - (double(x[at]) - mu) * proj));
      }
    } else if (grad_in) {
      const double scale = wc * inv;
      for (int64_t i = threadIdx.x; i < M; i += blockDim.x) {
        const int64_t at = g.at(c, i);
        grad_in[at] = T(double(grad[at]) * scale);
      }
    }
    if (kSums) __syncthreads();  // warp_totals and total are rewritten for channel c + 1
  }
}

}  // namespace glassbox::gpu
