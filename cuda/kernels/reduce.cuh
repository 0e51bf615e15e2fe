#pragma once
// Reduction kernel bodies: sum / max / min over any set of dims, and max / min with the index
// of the winner over one dim.
//
// The input is seen as [outputs, count]: each output element o reduces the `count` elements
// of its reduced sub-space, addressed through ReduceGeom (kept dims give o's base offset,
// reduced dims the offset of element i). What is combined, and how, is a Reducer:
//   identity()          the neutral value (0, -inf/lowest, ...)
//   load(v, i)          element i of the sub-space as an accumulator
//   combine(a, b)       associative and commutative, so any tree order gives the same
//                       winner (ties go to the lower index, NaN wins as on the CPU)
//   shfl_down(v, d)     a warp shuffle of an accumulator
// and a Sink writes the finished accumulator of output o.
//
// Two shapes of work. Short reductions (count <= 64) take one thread per output: a plain
// loop, no barriers. Longer ones take a block per (output, chunk): the block's threads stride
// over the chunk, then reduce in registers with warp shuffles (__shfl_down_sync, five steps
// for 32 lanes), the warps' results meet in shared memory behind one __syncthreads, and warp
// 0 finishes with shuffles again. When there are few outputs and many elements (a whole-
// tensor sum), each output is split into chunks reduced in parallel and a second pass adds
// the chunks' partials. The chunking depends only on the shape, never on the GPU, so results
// are reproducible run to run. (CUB's BlockReduce would do the block step, but it is inline
// PTX that the emulator cannot run; these are a dozen lines.)
#include <cstdint>
#include <limits>
#include <type_traits>

#include "cuda/kernels/strided.cuh"

namespace glassbox::gpu {

struct ReduceGeom {
  int kept_ndim, red_ndim;
  int64_t count;  // elements reduced into each output
  int64_t kept_sizes[kMaxDims], kept_strides[kMaxDims];
  int64_t red_sizes[kMaxDims], red_strides[kMaxDims];
};

__device__ __forceinline__ int64_t kept_offset(const ReduceGeom& g, int64_t o) {
  int64_t off = 0;
  for (int d = g.kept_ndim - 1; d >= 0; --d) {
    off += (o % g.kept_sizes[d]) * g.kept_strides[d];
    o /= g.kept_sizes[d];
  }
  return off;
}
__device__ __forceinline__ int64_t reduced_offset(const ReduceGeom& g, int64_t i) {
  int64_t off = 0;
  for (int d = g.red_ndim - 1; d >= 0; --d) {
    off += (i % g.red_sizes[d]) * g.red_strides[d];
    i /= g.red_sizes[d];
  }
  return off;
}

constexpr unsigned kFullMask = 0xffffffffu;

// __shfl_down_sync takes 4- and 8-byte types only: narrower ones travel as int.
template <class T>
__device__ __forceinline__ T shfl_down_value(T v, int d) {
  if constexpr (sizeof(T) < 4)
    return static_cast<T>(__shfl_down_sync(kFullMask, static_cast<int>(v), d));
  else
    return __shfl_down_sync(kFullMask, v, d);
}

// ------------------------------------------------------------------ reducers
template <class T>
__device__ __forceinline__ bool is_nan(T v) {
  if constexpr (std::is_floating_point_v<T>)
    return v != v;
  else
    return false;
}
template <class T>
__device__ __forceinline__ T lowest_value() {
  if constexpr (std::is_floating_point_v<T>)
    return -std::numeric_limits<T>::infinity();
  else
    return std::numeric_limits<T>::lowest();
}
template <class T>
__device__ __forceinline__ T highest_value() {
  if constexpr (std::is_floating_point_v<T>)
    return std::numeric_limits<T>::infinity();
  else
    return std::numeric_limits<T>::max();
}

// Sums in Acc (double for floating inputs, int64 for integers and bool); integer sums wrap.
template <class In, class Acc>
struct SumReducer {
  using acc_t = Acc;
  __device__ Acc identity() const { return Acc(0); }
  __device__ Acc load(In v, int64_t) const { return Acc(v); }
  __device__ Acc combine(Acc a, Acc b) const {
    if constexpr (std::is_integral_v<Acc>)
      return static_cast<Acc>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
    else
      return a + b;
  }
  __device__ Acc shfl_down(Acc v, int d) const { return shfl_down_value(v, d); }
  SumReducer<Acc, Acc> second_pass() const { return {}; }
};

// Max (or min): NaN wins, as on the CPU.
template <class T, bool kMax>
struct ExtremumReducer {
  using acc_t = T;
  __device__ T identity() const { return kMax ? lowest_value<T>() : highest_value<T>(); }
  __device__ T load(T v, int64_t) const { return v; }
  __device__ T combine(T a, T b) const {
    if (is_nan(a)) return a;
    if (is_nan(b)) return b;
    return (kMax ? b > a : b < a) ? b : a;
  }
  __device__ T shfl_down(T v, int d) const { return shfl_down_value(v, d); }
  ExtremumReducer second_pass() const { return {}; }
};

template <class T>
struct ValueIndex {
  T value;
  int64_t index;
};

// Max (or min) with the index of the winner: the first on ties, the first NaN if any.
template <class T, bool kMax>
struct ArgExtremumReducer {
  using acc_t = ValueIndex<T>;
  __device__ acc_t identity() const {
    return {kMax ? lowest_value<T>() : highest_value<T>(), std::numeric_limits<int64_t>::max()};
  }
  __device__ acc_t load(T v, int64_t i) const { return {v, i}; }
  __device__ acc_t combine(acc_t a, acc_t b) const {
    const bool an = is_nan(a.value), bn = is_nan(b.value);
    if (an || bn) {
      if (an && bn) return b.index < a.index ? b : a;
      return an ? a : b;
    }
    if (kMax ? b.value > a.value : b.value < a.value) return b;
    if (kMax ? a.value > b.value : a.value < b.value) return a;
    return b.index < a.index ? b : a;
  }
  __device__ acc_t shfl_down(acc_t v, int d) const {
    return {shfl_down_value(v.value, d), shfl_down_value(v.index, d)};
  }
};

// ------------------------------------------------------------------ sinks
template <class Acc, class Out>
struct ValueSink {
  Out* out;
  __device__ void operator()(int64_t o, Acc v) const { out[o] = static_cast<Out>(v); }
};
template <class T>
struct ValueIndexSink {
  T* values;
  int64_t* indices;
  __device__ void operator()(int64_t o, ValueIndex<T> v) const {
    values[o] = v.value;
    indices[o] = v.index;
  }
};

// ------------------------------------------------------------------ kernels
template <class R, class In, class Sink>
__global__ void reduce_per_thread_kernel(ReduceGeom g, int64_t outputs, const In* in, Sink sink,
                                         R r) {
  for (int64_t o = global_thread(); o < outputs; o += grid_threads()) {
    const In* base = in + kept_offset(g, o);
    typename R::acc_t acc = r.identity();
    for (int64_t i = 0; i < g.count; ++i)
      acc = r.combine(acc, r.load(base[reduced_offset(g, i)], i));
    sink(o, acc);
  }
}

// The block's threads hold one accumulator each; returns the block's total in thread 0.
// blockDim.x is a multiple of 32, so every shuffle has all 32 lanes.
template <class R>
__device__ typename R::acc_t block_reduce(const R& r, typename R::acc_t v,
                                          typename R::acc_t* warp_totals) {
  const unsigned lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  for (int d = 16; d > 0; d /= 2) v = r.combine(v, r.shfl_down(v, d));
  if (lane == 0) warp_totals[warp] = v;
  __syncthreads();
  if (warp == 0) {
    const unsigned warps = blockDim.x / 32;
    v = lane < warps ? warp_totals[lane] : r.identity();
    for (int d = 16; d > 0; d /= 2) v = r.combine(v, r.shfl_down(v, d));
  }
  return v;
}

// Block b reduces chunk (b % chunks) of output (b / chunks); the sink gets position b.
template <class R, class In, class Sink>
__global__ void reduce_per_block_kernel(ReduceGeom g, int64_t outputs, int64_t chunks, const In* in,
                                        Sink sink, R r) {
  using Acc = typename R::acc_t;
  GB_DYN_SHARED(Acc, warp_totals);  // one per warp
  for (int64_t b = blockIdx.x; b < outputs * chunks; b += gridDim.x) {
    const int64_t o = b / chunks, c = b % chunks;
    const int64_t begin = g.count * c / chunks, end = g.count * (c + 1) / chunks;
    const In* base = in + kept_offset(g, o);
    Acc acc = r.identity();
    for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x)
      acc = r.combine(acc, r.load(base[reduced_offset(g, i)], i));
    acc = block_reduce(r, acc, warp_totals);
    if (threadIdx.x == 0) sink(b, acc);
    __syncthreads();  // warp_totals is rewritten by the next iteration
  }
}

}  // namespace glassbox::gpu
