#pragma once
// Adaptive pooling and upsampling kernel bodies over planes [P, H, W], one thread per output
// element forward and one per input element backward, in grid-stride loops; no shared memory,
// no atomics. The index math is core/resize_index.h's, the CPU's own.
//
// The backward passes are gathers. Adaptive pooling: input (h, w) is in the bins of outputs
// [bin_start(h, oH, H), bin_end(h, oH, H)) x [...) (resize_index.h derives the swap); walking
// them in increasing (oh, ow) adds the CPU scatter's terms in the CPU's order, so the sums
// are the CPU's bit for bit. Upsampling: output row oh reads rows i0(oh) and i1(oh) in
// {i0, i0 + 1}, and i0 is non-decreasing in oh (a product by a positive scale, rounded, then
// floored), so the rows that read h are among those with i0 in [h - 1, h] (nearest: i0 == h),
// a contiguous run found by binary search in log2(oH) steps; each is weighed exactly as the
// forward weighs it. The bilinear sums group terms differently from the CPU's four separate
// adds, so they agree to rounding, not bit for bit.
#include <cstdint>
#include <limits>

#include "core/resize_index.h"
#include "cuda/kernels/reduce.cuh"
#include "cuda/kernels/strided.cuh"

namespace glassbox::gpu {

struct ResizeGeom {
  int64_t planes, H, W, oH, oW;
  bool bilinear, align_corners;
  double sf_h, sf_w;  // the user's scale_factor, 0 when a size was given
};

template <class T>
__global__ void adaptive_avg_pool2d_kernel(ResizeGeom g, const T* in, T* out) {
  const int64_t total = g.planes * g.oH * g.oW;
  for (int64_t o = global_thread(); o < total; o += grid_threads()) {
    const int64_t ow = o % g.oW, oh = (o / g.oW) % g.oH, p = o / (g.oW * g.oH);
    const int64_t h0 = resize::bin_start(oh, g.H, g.oH), h1 = resize::bin_end(oh, g.H, g.oH);
    const int64_t w0 = resize::bin_start(ow, g.W, g.oW), w1 = resize::bin_end(ow, g.W, g.oW);
    const T* x = in + p * g.H * g.W;
    T s = T(0);
    for (int64_t h = h0; h < h1; ++h)
      for (int64_t w = w0; w < w1; ++w) s += x[h * g.W + w];
    out[o] = s / T((h1 - h0) * (w1 - w0));
  }
}

template <class T>
__global__ void adaptive_avg_pool2d_backward_kernel(ResizeGeom g, const T* grad, T* grad_in) {
  const int64_t total = g.planes * g.H * g.W;
  for (int64_t i = global_thread(); i < total; i += grid_threads()) {
    const int64_t w = i % g.W, h = (i / g.W) % g.H, p = i / (g.W * g.H);
    const T* gp = grad + p * g.oH * g.oW;
    T acc = T(0);
    const int64_t oh1 = resize::bin_end(h, g.oH, g.H), ow1 = resize::bin_end(w, g.oW, g.W);
    for (int64_t oh = resize::bin_start(h, g.oH, g.H); oh < oh1; ++oh) {
      const int64_t kh = resize::bin_end(oh, g.H, g.oH) - resize::bin_start(oh, g.H, g.oH);
      for (int64_t ow = resize::bin_start(w, g.oW, g.W); ow < ow1; ++ow) {
        const int64_t kw = resize::bin_end(ow, g.W, g.oW) - resize::bin_start(ow, g.W, g.oW);
        acc += gp[oh * g.oW + ow] / T(kh * kw);
      }
    }
    grad_in[i] = acc;
  }
}

// values and argmax h * W + w (the first maximum; a NaN wins)
template <class T>
__global__ void adaptive_max_pool2d_kernel(ResizeGeom g, const T* in, T* out, int64_t* indices) {
  const int64_t total = g.planes * g.oH * g.oW;
  for (int64_t o = global_thread(); o < total; o += grid_threads()) {
    const int64_t ow = o % g.oW, oh = (o / g.oW) % g.oH, p = o / (g.oW * g.oH);
    const int64_t h0 = resize::bin_start(oh, g.H, g.oH), h1 = resize::bin_end(oh, g.H, g.oH);
    const int64_t w0 = resize::bin_start(ow, g.W, g.oW), w1 = resize::bin_end(ow, g.W, g.oW);
    const T* x = in + p * g.H * g.W;
    int64_t arg = h0 * g.W + w0;
    T best = x[arg];
    for (int64_t h = h0; h < h1; ++h)
      for (int64_t w = w0; w < w1; ++w) {
        const T v = x[h * g.W + w];
        if (v > best || (is_nan(v) && !is_nan(best))) best = v, arg = h * g.W + w;
      }
    out[o] = best;
    indices[o] = arg;
  }
}

template <class T>
__global__ void adaptive_max_pool2d_backward_kernel(ResizeGeom g, const T* grad,
                                                    const int64_t* indices, T* grad_in) {
  const int64_t total = g.planes * g.H * g.W;
  for (int64_t i = global_thread(); i < total; i += grid_threads()) {
    const int64_t w = i % g.W, h = (i / g.W) % g.H, p = i / (g.W * g.H);
    const int64_t at = h * g.W + w;
    const T* gp = grad + p * g.oH * g.oW;
    const int64_t* ip = indices + p * g.oH * g.oW;
    T acc = T(0);
    const int64_t oh1 = resize::bin_end(h, g.oH, g.H), ow1 = resize::bin_end(w, g.oW, g.W);
    for (int64_t oh = resize::bin_start(h, g.oH, g.H); oh < oh1; ++oh)
      for (int64_t ow = resize::bin_start(w, g.oW, g.W); ow < ow1; ++ow)
        if (ip[oh * g.oW + ow] == at) acc += gp[oh * g.oW + ow];
    grad_in[i] = acc;
  }
}

template <class T>
__device__ __forceinline__ resize::Source<T> source_h(const ResizeGeom& g, int64_t oh) {
  return resize::source_of<T>(oh, g.H, g.oH, g.bilinear, g.align_corners, g.sf_h);
}
template <class T>
__device__ __forceinline__ resize::Source<T> source_w(const ResizeGeom& g, int64_t ow) {
  return resize::source_of<T>(ow, g.W, g.oW, g.bilinear, g.align_corners, g.sf_w);
}

template <class T>
__global__ void upsample2d_kernel(ResizeGeom g, const T* in, T* out) {
  const int64_t total = g.planes * g.oH * g.oW;
  for (int64_t o = global_thread(); o < total; o += grid_threads()) {
    const int64_t ow = o % g.oW, oh = (o / g.oW) % g.oH, p = o / (g.oW * g.oH);
    const T* x = in + p * g.H * g.W;
    const resize::Source<T> h = source_h<T>(g, oh), w = source_w<T>(g, ow);
    if (!g.bilinear) {  // a copy
      out[o] = x[h.i0 * g.W + w.i0];
      continue;
    }
    out[o] = h.l0 * (w.l0 * x[h.i0 * g.W + w.i0] + w.l1 * x[h.i0 * g.W + w.i1]) +
             h.l1 * (w.l0 * x[h.i1 * g.W + w.i0] + w.l1 * x[h.i1 * g.W + w.i1]);
  }
}

// The first output index in [0, n) whose source i0 is >= target (n when none): i0 is
// non-decreasing in the output index.
template <class T, bool Rows>
__device__ __forceinline__ int64_t first_reading(const ResizeGeom& g, int64_t n, int64_t target) {
  int64_t lo = 0, hi = n;
  while (lo < hi) {
    const int64_t mid = lo + (hi - lo) / 2;
    const int64_t i0 = Rows ? source_h<T>(g, mid).i0 : source_w<T>(g, mid).i0;
    if (i0 < target)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

// how much output source s puts on input index k: its weights where its indices are k
template <class T>
__device__ __forceinline__ T weight_at(const resize::Source<T>& s, int64_t k) {
  return (s.i0 == k ? s.l0 : T(0)) + (s.i1 == k ? s.l1 : T(0));
}

template <class T>
__global__ void upsample2d_backward_kernel(ResizeGeom g, const T* grad, T* grad_in) {
  const int64_t total = g.planes * g.H * g.W;
  const int64_t back = g.bilinear ? 1 : 0;  // rows that read h have i0 in [h - back, h]
  for (int64_t i = global_thread(); i < total; i += grid_threads()) {
    const int64_t w = i % g.W, h = (i / g.W) % g.H, p = i / (g.W * g.H);
    const T* gp = grad + p * g.oH * g.oW;
    const int64_t oh0 = first_reading<T, true>(g, g.oH, h - back);
    const int64_t oh1 = first_reading<T, true>(g, g.oH, h + 1);
    const int64_t ow0 = first_reading<T, false>(g, g.oW, w - back);
    const int64_t ow1 = first_reading<T, false>(g, g.oW, w + 1);
    T acc = T(0);
    for (int64_t oh = oh0; oh < oh1; ++oh) {
      const resize::Source<T> sh = source_h<T>(g, oh);
      if (!g.bilinear) {  // every row in the run reads h, with weight 1
        for (int64_t ow = ow0; ow < ow1; ++ow) acc += gp[oh * g.oW + ow];
        continue;
      }
      const T wh = weight_at(sh, h);
      T row = T(0);
      for (int64_t ow = ow0; ow < ow1; ++ow)
        row += weight_at(source_w<T>(g, ow), w) * gp[oh * g.oW + ow];
      acc += wh * row;
    }
    grad_in[i] = acc;
  }
}

}  // namespace glassbox::gpu
