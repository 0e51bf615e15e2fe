#pragma once
// The element-wise engine every CPU kernel shares. N operands are walked over one iteration
// shape; each operand has its own byte strides (0 along broadcast dims). Dimensions are
// coalesced first, so a contiguous op becomes one flat loop. The kernel sees whole rows:
// row(ptrs, strides, n) with no per-element call overhead, and branches once per row on
// whether the row is contiguous (the vectorisable case).
#include <array>
#include <cstdint>
#include <vector>

#include "core/parallel.h"
#include "core/shape.h"

namespace glassbox::cpu {

template <size_t N>
struct LoopPlan {
  Shape sizes;                                  // coalesced, outermost first
  std::array<std::vector<int64_t>, N> strides;  // bytes, per operand per dim
};

template <size_t N>
LoopPlan<N> make_plan(const Shape& shape, const std::array<Shape, N>& byte_strides) {
  LoopPlan<N> p;
  // drop size-1 dims: their strides never matter
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    p.sizes.push_back(shape[d]);
    for (size_t k = 0; k < N; ++k) p.strides[k].push_back(byte_strides[k][d]);
  }
  // merge dim d into d+1 when every operand steps through them as one flat run
  for (size_t d = p.sizes.size(); d-- > 1;) {
    bool mergeable = true;
    for (size_t k = 0; k < N; ++k) mergeable &= p.strides[k][d - 1] == p.strides[k][d] * p.sizes[d];
    if (!mergeable) continue;
    p.sizes[d] *= p.sizes[d - 1];
    p.sizes.erase(p.sizes.begin() + (d - 1));
    for (size_t k = 0; k < N; ++k) p.strides[k].erase(p.strides[k].begin() + (d - 1));
  }
  if (p.sizes.empty()) {
    p.sizes.push_back(1);
    for (size_t k = 0; k < N; ++k) p.strides[k].push_back(0);
  }
  return p;
}

// row(std::array<char*, N> ptrs, std::array<int64_t, N> strides, int64_t n)
template <size_t N, class Row>
void for_each_row(const Shape& shape, const std::array<Shape, N>& byte_strides,
                  const std::array<char*, N>& base, Row&& row) {
  if (numel_of(shape) == 0) return;
  LoopPlan<N> p = make_plan<N>(shape, byte_strides);
  const int64_t nd = static_cast<int64_t>(p.sizes.size());
  const int64_t inner = p.sizes[nd - 1];
  std::array<int64_t, N> inner_stride;
  for (size_t k = 0; k < N; ++k) inner_stride[k] = p.strides[k][nd - 1];
  int64_t rows = 1;
  for (int64_t d = 0; d < nd - 1; ++d) rows *= p.sizes[d];

  if (rows == 1) {
    // one flat run (every contiguous op coalesces to this): split the row itself, or a
    // large contiguous op would never use more than one thread
    parallel_for(inner, 1, [&](int64_t begin, int64_t end) {
      std::array<char*, N> ptr;
      for (size_t k = 0; k < N; ++k) ptr[k] = base[k] + begin * inner_stride[k];
      row(ptr, inner_stride, end - begin);
    });
    return;
  }

  parallel_for(rows, inner, [&](int64_t begin, int64_t end) {
    // multi-index of the first row of this chunk, then increment like an odometer
    std::vector<int64_t> idx(nd > 1 ? nd - 1 : 1, 0);
    int64_t rem = begin;
    for (int64_t d = nd - 2; d >= 0; --d) {
      idx[d] = rem % p.sizes[d];
      rem /= p.sizes[d];
    }
    std::array<char*, N> ptr;
    for (size_t k = 0; k < N; ++k) {
      ptr[k] = base[k];
      for (int64_t d = 0; d < nd - 1; ++d) ptr[k] += idx[d] * p.strides[k][d];
    }
    for (int64_t r = begin; r < end; ++r) {
      row(ptr, inner_stride, inner);
      for (int64_t d = nd - 2; d >= 0; --d) {
        for (size_t k = 0; k < N; ++k) ptr[k] += p.strides[k][d];
        if (++idx[d] < p.sizes[d]) break;
        for (size_t k = 0; k < N; ++k) ptr[k] -= p.strides[k][d] * p.sizes[d];
        idx[d] = 0;
      }
    }
  });
}

// Byte strides of `strides` (elements) broadcast from `from` to `to` (0 where broadcast).
// `from` may have extra leading dims when they are all size 1 (an in-place op or copy_ of a
// [1,2,3] source into a [2,3] destination); they address nothing and are skipped.
inline Shape broadcast_byte_strides(const Shape& from, const Shape& strides, const Shape& to,
                                    size_t elem_size) {
  Shape out(to.size(), 0);
  const size_t skip = from.size() > to.size() ? from.size() - to.size() : 0;
  const size_t lead = to.size() - (from.size() - skip);
  for (size_t i = skip; i < from.size(); ++i)
    out[lead + i - skip] = from[i] == 1 ? 0 : strides[i] * static_cast<int64_t>(elem_size);
  return out;
}

}  // namespace glassbox::cpu
