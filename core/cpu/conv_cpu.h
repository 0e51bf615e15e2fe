#pragma once
// CPU bodies of core/kernels_conv.h, one file per algorithm (conv_direct.cpp,
// conv_shiftgemm.cpp, conv_flat.cpp, conv_im2col.cpp). Operands arrive contiguous, on the CPU, with
// one floating dtype; `b` may be undefined. Shared helpers for them live here too.
#include <algorithm>
#include <cstdint>
#include <mutex>
#include <utility>
#include <vector>

#include <Eigen/Core>

#include "core/allocator.h"
#include "core/kernels_conv.h"
#include "core/parallel.h"

namespace glassbox::cpu {
using kernels::ConvGeometry;

Tensor conv2d_forward_direct(const Tensor& x, const Tensor& w, const Tensor& b,
                             const ConvGeometry& g);
Tensor conv2d_grad_input_direct(const Tensor& dy, const Tensor& w, const Tensor& b,
                                const ConvGeometry& g);
Tensor conv2d_grad_weight_direct(const Tensor& x, const Tensor& dy, const ConvGeometry& g);

Tensor conv2d_forward_shiftgemm(const Tensor& x, const Tensor& w, const Tensor& b,
                                const ConvGeometry& g);
Tensor conv2d_grad_input_shiftgemm(const Tensor& dy, const Tensor& w, const Tensor& b,
                                   const ConvGeometry& g);
Tensor conv2d_grad_weight_shiftgemm(const Tensor& x, const Tensor& dy, const ConvGeometry& g);

Tensor conv2d_forward_flat(const Tensor& x, const Tensor& w, const Tensor& b,
                           const ConvGeometry& g);
Tensor conv2d_grad_input_flat(const Tensor& dy, const Tensor& w, const Tensor& b,
                              const ConvGeometry& g);
Tensor conv2d_grad_weight_flat(const Tensor& x, const Tensor& dy, const ConvGeometry& g);

Tensor conv2d_forward_im2col(const Tensor& x, const Tensor& w, const Tensor& b,
                             const ConvGeometry& g);
Tensor conv2d_grad_input_im2col(const Tensor& dy, const Tensor& w, const Tensor& b,
                                const ConvGeometry& g);
Tensor conv2d_grad_weight_im2col(const Tensor& x, const Tensor& dy, const ConvGeometry& g);

// db[c] = sum of dy[:, c] (conv_bias.cpp): the bias gradient for every algorithm.
Tensor conv2d_grad_bias(const Tensor& dy);

namespace conv_detail {

// Scratch memory, from the same caching allocator as tensors (counted in memory_stats, reused
// from step to step) and aligned like tensor storage: Eigen's vectorised loops then split a
// given problem the same way on every run, so results are reproducible bit for bit.
template <class T>
using Buffer = std::vector<T, detail::ScratchAllocator<T>>;

// Runs fn(begin, end, acc) over chunks of [0, n) in parallel (see parallel_for); each chunk
// accumulates into its own zeroed buffer of `size` elements. Returns the sum of the buffers,
// added in chunk order, so the result does not depend on thread timing.
template <class T, class F>
Buffer<T> parallel_sum(int64_t n, int64_t cost_per_item, int64_t size, F&& fn) {
  std::mutex mutex;
  std::vector<std::pair<int64_t, Buffer<T>>> parts;
  parallel_for(n, cost_per_item, [&](int64_t begin, int64_t end) {
    Buffer<T> acc(static_cast<size_t>(size), T(0));
    fn(begin, end, acc.data());
    std::lock_guard<std::mutex> lock(mutex);
    parts.emplace_back(begin, std::move(acc));
  });
  std::sort(parts.begin(), parts.end(),
            [](const auto& a, const auto& c) { return a.first < c.first; });
  Buffer<T> total(static_cast<size_t>(size), T(0));
  for (const auto& part : parts)
    for (int64_t i = 0; i < size; ++i) total[i] += part.second[i];
  return total;
}

// Adds b[c] to every element of channel c of a contiguous [N, C, HW] tensor.
template <class T>
void add_channel_bias(T* data, const T* b, int64_t batch, int64_t channels, int64_t plane) {
  if (b == nullptr) return;
  parallel_for(batch * channels, plane, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      T* p = data + i * plane;
      const T v = b[i % channels];
      for (int64_t k = 0; k < plane; ++k) p[k] += v;
    }
  });
}

template <class T>
const T* data_or_null(const Tensor& t) {
  return t.defined() ? t.data_ptr<T>() : nullptr;
}

inline int64_t ceil_div(int64_t a, int64_t b) {  // b > 0, any sign of a
  return a >= 0 ? (a + b - 1) / b : -((-a) / b);
}

}  // namespace conv_detail
}  // namespace glassbox::cpu
