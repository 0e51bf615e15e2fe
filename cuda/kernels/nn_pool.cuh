#pragma once
// 2-D pooling kernel bodies over planes [P, H, W] (P = N * C), one thread per output element
// forward and one per input element backward, in grid-stride loops; no shared memory, no
// barriers. The window geometry is the CPU's (core/cpu/nn_pool.cpp): output (oh, ow) reads
// rows oh * sH - pH + kh * dH and columns ow * sW - pW + kw * dW, taps outside the input are
// skipped (max) or count as zeros in the divisor (avg with count_include_pad).
//
// The backward passes are gathers, not scatters: input element (h, w) sums the gradients of
// the outputs whose window holds it. Tap kh of output oh lands on h when
//   oh * sH = h + pH - kh * dH,
// so walking the taps kh = kH-1 .. 0 (and kw likewise) visits exactly those outputs, in
// increasing (oh, ow): the CPU's order, so the sums are the CPU's bit for bit, the same on
// every run, and no atomics are needed. For max pooling an output counts only when its
// argmax is (h, w); for avg pooling each output gives grad / divisor. The gather costs
// kH * kW index tests per input element, whatever the overlap.
#include <cstdint>
#include <limits>

#include "cuda/kernels/reduce.cuh"
#include "cuda/kernels/strided.cuh"

namespace glassbox::gpu {

struct PoolGeom {
  int64_t planes, H, W, oH, oW;
  int64_t kH, kW, sH, sW, pH, pW, dH, dW;
  bool count_include_pad;
};

// values [P, oH, oW] and argmax h * W + w (the first maximum; a NaN wins; -1 for a window
// that holds no input element, whose value is then -inf)
template <class T>
__global__ void max_pool2d_kernel(PoolGeom g, const T* in, T* out, int64_t* indices) {
  const int64_t total = g.planes * g.oH * g.oW;
  for (int64_t o = global_thread(); o < total; o += grid_threads()) {
    const int64_t ow = o % g.oW, oh = (o / g.oW) % g.oH, plane = o / (g.oW * g.oH);
    const T* x = in + plane * g.H * g.W;
    const int64_t h0 = oh * g.sH - g.pH, w0 = ow * g.sW - g.pW;
    T best = -std::numeric_limits<T>::infinity();
    int64_t arg = -1;
    for (int64_t kh = 0; kh < g.kH; ++kh) {
      const int64_t h = h0 + kh * g.dH;
      if (h < 0 || h >= g.H) continue;
      for (int64_t kw = 0; kw < g.kW; ++kw) {
        const int64_t w = w0 + kw * g.dW;
        if (w < 0 || w >= g.W) continue;
        const T v = x[h * g.W + w];
        if (arg < 0 || v > best || (is_nan(v) && !is_nan(best))) {
          best = v;
          arg = h * g.W + w;
        }
      }
    }
    out[o] = best;
    indices[o] = arg;
  }
}

// grad_in[plane, at] = sum of grad[plane, o] over the outputs o whose argmax is `at`
template <class T>
__global__ void max_pool2d_backward_kernel(PoolGeom g, const T* grad, const int64_t* indices,
                                           T* grad_in) {
  const int64_t total = g.planes * g.H * g.W;
  for (int64_t i = global_thread(); i < total; i += grid_threads()) {
    const int64_t w = i % g.W, h = (i / g.W) % g.H, plane = i / (g.W * g.H);
    const int64_t at = h * g.W + w;
    const T* gp = grad + plane * g.oH * g.oW;
    const int64_t* ip = indices + plane * g.oH * g.oW;
    T acc = T(0);
    for (int64_t kh = g.kH - 1; kh >= 0; --kh) {
      const int64_t th = h + g.pH - kh * g.dH;  // = oh * sH
      if (th < 0 || th % g.sH != 0 || th / g.sH >= g.oH) continue;
      const int64_t oh = th / g.sH;
      for (int64_t kw = g.kW - 1; kw >= 0; --kw) {
        const int64_t tw = w + g.pW - kw * g.dW;
        if (tw < 0 || tw % g.sW != 0 || tw / g.sW >= g.oW) continue;
        const int64_t o = oh * g.oW + tw / g.sW;
        if (ip[o] == at) acc += gp[o];
      }
    }
    grad_in[i] = acc;
  }
}

// One average-pooling window clipped to the input, with PyTorch's divisor (the CPU's
// avg_window): the padded extent when count_include_pad, else the taps inside.
struct AvgWindow {
  int64_t h0, h1, w0, w1;  // [h0, h1) x [w0, w1) inside the input
  int64_t divisor;         // 0 when the window holds no input element
};

__device__ __forceinline__ AvgWindow avg_window(const PoolGeom& g, int64_t oh, int64_t ow) {
  int64_t h0 = oh * g.sH - g.pH, w0 = ow * g.sW - g.pW;
  int64_t h1 = h0 + g.kH < g.H + g.pH ? h0 + g.kH : g.H + g.pH;
  int64_t w1 = w0 + g.kW < g.W + g.pW ? w0 + g.kW : g.W + g.pW;
  const int64_t padded_size = (h1 - h0) * (w1 - w0);
  h0 = h0 > 0 ? h0 : 0;
  w0 = w0 > 0 ? w0 : 0;
  h1 = h1 < g.H ? h1 : g.H;
  w1 = w1 < g.W ? w1 : g.W;
  if (h0 >= h1 || w0 >= w1) return {h0, h0, w0, w0, 0};
  return {h0, h1, w0, w1, g.count_include_pad ? padded_size : (h1 - h0) * (w1 - w0)};
}

template <class T>
__global__ void avg_pool2d_kernel(PoolGeom g, const T* in, T* out) {
  const int64_t total = g.planes * g.oH * g.oW;
  for (int64_t o = global_thread(); o < total; o += grid_threads()) {
    const int64_t ow = o % g.oW, oh = (o / g.oW) % g.oH, plane = o / (g.oW * g.oH);
    const T* x = in + plane * g.H * g.W;
    const AvgWindow win = avg_window(g, oh, ow);
    T s = T(0);
    for (int64_t h = win.h0; h < win.h1; ++h)
      for (int64_t w = win.w0; w < win.w1; ++w) s += x[h * g.W + w];
    out[o] = win.divisor > 0 ? s / T(win.divisor) : T(0);
  }
}

// grad_in[h, w] = sum over the windows holding (h, w) of grad / divisor. The divisor is an
// integer, exact in T, so T(grad) / T(divisor) rounds exactly as the CPU's double quotient
// converted to T does.
template <class T>
__global__ void avg_pool2d_backward_kernel(PoolGeom g, const T* grad, T* grad_in) {
  const int64_t total = g.planes * g.H * g.W;
  for (int64_t i = global_thread(); i < total; i += grid_threads()) {
    const int64_t w = i % g.W, h = (i / g.W) % g.H, plane = i / (g.W * g.H);
    const T* gp = grad + plane * g.oH * g.oW;
    T acc = T(0);
    for (int64_t kh = g.kH - 1; kh >= 0; --kh) {
      const int64_t th = h + g.pH - kh;
      if (th < 0 || th % g.sH != 0 || th / g.sH >= g.oH) continue;
      const int64_t oh = th / g.sH;
      for (int64_t kw = g.kW - 1; kw >= 0; --kw) {
        const int64_t tw = w + g.pW - kw;
        if (tw < 0 || tw % g.sW != 0 || tw / g.sW >= g.oW) continue;
        const int64_t ow = tw / g.sW;
        const AvgWindow win = avg_window(g, oh, ow);  // holds (h, w): divisor > 0
        acc += gp[oh * g.oW + ow] / T(win.divisor);
      }
    }
    grad_in[i] = acc;
  }
}

}  // namespace glassbox::gpu
