#pragma once
// The index math of adaptive pooling and upsampling (internal), one copy that the CPU bodies
// (core/cpu/nn_resize.cpp) and the CUDA bodies (cuda/kernels/nn_resize.cuh) both compile, so
// the two backends pick the same source elements and weights. The formulas are PyTorch
// 1.13's (aten/src/ATen/native/AdaptivePooling.h, UpSample.h and UpSampleKernel.cpp's NCHW path).
#include <cstdint>

#include "core/convert.h"  // GB_HOST_DEVICE

namespace glassbox::resize {

// Adaptive pooling: output o of n pools inputs [floor(o * in / n), ceil((o + 1) * in / n)).
// The bins cover the input; neighbours overlap by one element where n does not divide in.
GB_HOST_DEVICE inline int64_t bin_start(int64_t o, int64_t in, int64_t n) { return o * in / n; }
GB_HOST_DEVICE inline int64_t bin_end(int64_t o, int64_t in, int64_t n) {
  return ((o + 1) * in + n - 1) / n;
}
// The outputs whose bin holds input i are [bin_start(i, n, in), bin_end(i, n, in)): the same
// formulas with the sizes swapped, since floor(o * in / n) <= i <=> o * in < (i + 1) * n
// <=> o < ceil((i + 1) * n / in); ceil((o + 1) * in / n) > i <=> (o + 1) * n > i * in <=>
// o >= floor(i * n / in).

// How one output row (or column) reads its input: two source indices and their weights.
// Nearest uses i0 with weight 1 (i1 = i0, l1 = 0).
template <class T>
struct Source {
  int64_t i0, i1;
  T l0, l1;
};

// Nearest (PyTorch's legacy "nearest", not "nearest-exact"): src = min(floor(dst * scale),
// in - 1) in float arithmetic, scale = 1 / scale_factor when one was given, else in / out.
// No shortcut for out == in: PyTorch's NCHW CPU kernel and its CUDA kernel apply the formula
// there too (so scale_factor 1.3 on 2 rows gives rows 0, 0); only its channels-last kernel
// (which a one-channel input also takes) copies.
GB_HOST_DEVICE inline int64_t nearest_source(int64_t dst, int64_t in, int64_t out,
                                             double scale_factor) {
  const float scale = scale_factor > 0 ? static_cast<float>(1.0 / scale_factor)
                                       : static_cast<float>(in) / static_cast<float>(out);
  const float f = static_cast<float>(dst) * scale;
  int64_t s = static_cast<int64_t>(f);  // f >= 0: truncation is floor
  return s < in - 1 ? s : in - 1;
}

// Bilinear along one dim, in T's precision (PyTorch's opmath for float and double):
//   align_corners: src = dst * (in - 1) / (out - 1)   (0 when out == 1)
//   otherwise:     src = max(0, (dst + 0.5) * scale - 0.5), scale = 1 / scale_factor when
//                  one was given, else in / out (the half-pixel centres line up)
// i0 = floor(src), i1 = i0 + 1 clamped to the input, l1 = src - i0, l0 = 1 - l1; out == in
// copies (PyTorch's shortcut, taken by its NCHW kernel too), whatever the scale_factor.
template <class T>
GB_HOST_DEVICE inline Source<T> linear_source(int64_t dst, int64_t in, int64_t out,
                                              bool align_corners, double scale_factor) {
  if (out == in) return {dst, dst, T(1), T(0)};
  T scale;
  if (align_corners)
    scale = out > 1 ? static_cast<T>(in - 1) / static_cast<T>(out - 1) : T(0);
  else
    scale = scale_factor > 0 ? static_cast<T>(1.0 / scale_factor)
                             : static_cast<T>(in) / static_cast<T>(out);
  T src =
      align_corners ? scale * static_cast<T>(dst) : scale * (static_cast<T>(dst) + T(0.5)) - T(0.5);
  if (src < T(0)) src = T(0);
  const int64_t i0 = static_cast<int64_t>(src);
  const int64_t i1 = i0 < in - 1 ? i0 + 1 : i0;
  T l1 = src - static_cast<T>(i0);
  l1 = l1 < T(0) ? T(0) : (l1 > T(1) ? T(1) : l1);
  return {i0, i1, T(1) - l1, l1};
}

template <class T>
GB_HOST_DEVICE inline Source<T> source_of(int64_t dst, int64_t in, int64_t out, bool bilinear,
                                          bool align_corners, double scale_factor) {
  if (bilinear) return linear_source<T>(dst, in, out, align_corners, scale_factor);
  const int64_t s = nearest_source(dst, in, out, scale_factor);
  return {s, s, T(1), T(0)};
}

}  // namespace glassbox::resize
