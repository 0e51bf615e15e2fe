#pragma once
// Convolution kernel bodies, part 1: the readable reference (Direct) and the data movers of
// the GEMM path (im2col, col2im, the channel transpose). The fast few-channel kernels are in
// conv_tiled.cuh; the host side that picks among them is cuda/conv.cu.
//
// With x [N, C, H, W], w [K, G, kh, kw] (G = C / groups input channels per group, M = K /
// groups outputs per group, g = o / M), conv2d is
//
//   y[n, o, i, j] = b[o] + sum_{c < G, p < kh, q < kw} w[o, c, p, q]
//                          * x[n, g*G + c, i*sh - ph + p*dh, j*sw - pw + q*dw]
//
// with x zero outside the image. Each pass is written the way a GPU wants it: one thread per
// element it *writes*, so no two threads write one address and nothing needs atomics.
// - forward: one thread per y element, the sum above;
// - input gradient: one thread per x element gathers every (o, p, q) whose window covers it:
//   the row it feeds is i = (y + ph - p*dh) / sh when that divides exactly and 0 <= i < OH
//   (likewise j), so dx[n, g*G+c, y, x] = sum_{m, p, q} w[g*M+m, c, p, q] * dy[n, g*M+m, i, j];
// - weight gradient: one block per weight element; its threads stride over the N*OH*OW
//   products dy[n, o, i, j] * x[n, g*G+c, ...] and meet in a block reduction (reduce.cuh),
//   accumulated in double for float32, so the reference is also the most accurate one.
// The GEMM path's im2col lays the taps of a chunk of nc images out as col[g][kk][nn*L + l]
// (kk = (c*kh + p)*kw + q, l = i*OW + j, L = OH*OW): every group's product is then one
// [M, Kg] x [Kg, nc*L] GEMM, batched over the groups. col2im is the input-gradient gather
// above reading that layout; transpose_channels moves [nc, K, L] <-> [K, nc, L].
#include <cstdint>

#include "cuda/kernels/reduce.cuh"

namespace glassbox::gpu {

// The geometry as plain integers (kernels/ cannot call ConvGeometry's host methods).
struct ConvDims {
  int64_t N, C, H, W;  // input
  int64_t K, OH, OW;   // output channels and extent
  int64_t kh, kw, sh, sw, ph, pw, dh, dw;
  int64_t groups, G, M;  // in and out channels per group
};

// floor(a / b) and whether b divides a, for b > 0 and a of any sign.
__device__ __forceinline__ int64_t floor_div(int64_t a, int64_t b) {
  return a >= 0 ? a / b : -((-a + b - 1) / b);
}

// Output row i fed by input row y through tap p, or -1.
__device__ __forceinline__ int64_t source_row(int64_t y, int64_t p, int64_t pad, int64_t dil,
                                              int64_t stride, int64_t out) {
  const int64_t t = y + pad - p * dil;
  if (t < 0 || t % stride != 0) return -1;
  const int64_t i = t / stride;
  return i < out ? i : -1;
}

template <class T>
__global__ void conv_forward_direct_kernel(ConvDims d, const T* x, const T* w, const T* b, T* y) {
  const int64_t total = d.N * d.K * d.OH * d.OW;
  for (int64_t e = global_thread(); e < total; e += grid_threads()) {
    const int64_t j = e % d.OW, i = (e / d.OW) % d.OH, o = (e / (d.OW * d.OH)) % d.K;
    const int64_t n = e / (d.OW * d.OH * d.K), g = o / d.M;
    const T* xg = x + (n * d.C + g * d.G) * d.H * d.W;
    const T* wo = w + o * d.G * d.kh * d.kw;
    T acc = b ? b[o] : T(0);
    for (int64_t c = 0; c < d.G; ++c)
      for (int64_t p = 0; p < d.kh; ++p) {
        const int64_t yy = i * d.sh - d.ph + p * d.dh;
        if (yy < 0 || yy >= d.H) continue;
        for (int64_t q = 0; q < d.kw; ++q) {
          const int64_t xx = j * d.sw - d.pw + q * d.dw;
          if (xx < 0 || xx >= d.W) continue;
          acc += wo[(c * d.kh + p) * d.kw + q] * xg[(c * d.H + yy) * d.W + xx];
        }
      }
    y[e] = acc;
  }
}

// b (optional, [C]) is added to every element of channel c: conv_transpose2d's bias.
template <class T>
__global__ void conv_grad_input_direct_kernel(ConvDims d, const T* dy, const T* w, const T* b,
                                              T* dx) {
  const int64_t total = d.N * d.C * d.H * d.W;
  for (int64_t e = global_thread(); e < total; e += grid_threads()) {
    const int64_t xx = e % d.W, yy = (e / d.W) % d.H, c = (e / (d.W * d.H)) % d.C;
    const int64_t n = e / (d.W * d.H * d.C), g = c / d.G, cl = c % d.G;
    T acc = b ? b[c] : T(0);
    for (int64_t m = 0; m < d.M; ++m) {
      const int64_t o = g * d.M + m;
      const T* dyo = dy + (n * d.K + o) * d.OH * d.OW;
      const T* wo = w + (o * d.G + cl) * d.kh * d.kw;
      for (int64_t p = 0; p < d.kh; ++p) {
        const int64_t i = source_row(yy, p, d.ph, d.dh, d.sh, d.OH);
        if (i < 0) continue;
        for (int64_t q = 0; q < d.kw; ++q) {
          const int64_t j = source_row(xx, q, d.pw, d.dw, d.sw, d.OW);
          if (j >= 0) acc += wo[p * d.kw + q] * dyo[i * d.OW + j];
        }
      }
    }
    dx[e] = acc;
  }
}

// Block b computes dw element b (grid-stride over the K*G*kh*kw elements); dynamic shared
// memory: one accumulator per warp.
template <class T>
__global__ void conv_grad_weight_direct_kernel(ConvDims d, const T* x, const T* dy, T* dw) {
  using Acc = double;
  GB_DYN_SHARED(Acc, warp_totals);
  const SumReducer<Acc, Acc> sum;
  const int64_t weights = d.K * d.G * d.kh * d.kw, per_image = d.OH * d.OW;
  for (int64_t e = blockIdx.x; e < weights; e += gridDim.x) {
    const int64_t q = e % d.kw, p = (e / d.kw) % d.kh, c = (e / (d.kw * d.kh)) % d.G;
    const int64_t o = e / (d.kw * d.kh * d.G), g = o / d.M;
    Acc acc = 0;
    for (int64_t r = threadIdx.x; r < d.N * per_image; r += blockDim.x) {
      const int64_t n = r / per_image, i = (r % per_image) / d.OW, j = r % d.OW;
      const int64_t yy = i * d.sh - d.ph + p * d.dh, xx = j * d.sw - d.pw + q * d.dw;
      if (yy < 0 || yy >= d.H || xx < 0 || xx >= d.W) continue;
      acc += Acc(dy[(n * d.K + o) * per_image + i * d.OW + j]) *
             Acc(x[((n * d.C + g * d.G + c) * d.H + yy) * d.W + xx]);
    }
    acc = block_reduce(sum, acc, warp_totals);
    if (threadIdx.x == 0) dw[e] = T(acc);
    __syncthreads();  // warp_totals is reused by the next element
  }
}

// ------------------------------------------------------------------ the GEMM path
// col[g][kk][nn*L + l] for images n0 .. n0+nc-1 (zero where the tap reads padding).
template <class T>
__global__ void im2col_kernel(ConvDims d, int64_t n0, int64_t nc, const T* x, T* col) {
  const int64_t L = d.OH * d.OW, Kg = d.G * d.kh * d.kw;
  const int64_t total = d.groups * Kg * nc * L;
  for (int64_t e = global_thread(); e < total; e += grid_threads()) {
    const int64_t l = e % L, nn = (e / L) % nc, kk = (e / (L * nc)) % Kg, g = e / (L * nc * Kg);
    const int64_t q = kk % d.kw, p = (kk / d.kw) % d.kh, c = kk / (d.kw * d.kh);
    const int64_t yy = (l / d.OW) * d.sh - d.ph + p * d.dh,
                  xx = (l % d.OW) * d.sw - d.pw + q * d.dw;
    T v = T(0);
    if (yy >= 0 && yy < d.H && xx >= 0 && xx < d.W)
      v = x[(((n0 + nn) * d.C + g * d.G + c) * d.H + yy) * d.W + xx];
    col[e] = v;
  }
}

// dx for images n0 .. n0+nc-1 from dcol (im2col's layout): the input-gradient gather.
template <class T>
__global__ void col2im_kernel(ConvDims d, int64_t n0, int64_t nc, const T* dcol, const T* b,
                              T* dx) {
  const int64_t L = d.OH * d.OW, Kg = d.G * d.kh * d.kw, plane = d.H * d.W;
  const int64_t total = nc * d.C * plane;
  for (int64_t e = global_thread(); e < total; e += grid_threads()) {
    const int64_t xx = e % d.W, yy = (e / d.W) % d.H, c = (e / plane) % d.C, nn = e / (plane * d.C);
    const int64_t g = c / d.G, cl = c % d.G;
    T acc = b ? b[c] : T(0);
    for (int64_t p = 0; p < d.kh; ++p) {
      const int64_t i = source_row(yy, p, d.ph, d.dh, d.sh, d.OH);
      if (i < 0) continue;
      for (int64_t q = 0; q < d.kw; ++q) {
        const int64_t j = source_row(xx, q, d.pw, d.dw, d.sw, d.OW);
        if (j < 0) continue;
        const int64_t kk = (cl * d.kh + p) * d.kw + q;
        acc += dcol[((g * Kg + kk) * nc + nn) * L + i * d.OW + j];
      }
    }
    dx[n0 * d.C * plane + e] = acc;
  }
}

// [nc, K, L] <-> [K, nc, L]; to_channel_major: src is [nc, K, L]. b (optional, [K]) is added
// on the way to [nc, K, L] (the forward's bias).
template <class T>
__global__ void transpose_channels_kernel(int64_t nc, int64_t K, int64_t L, bool to_channel_major,
                                          const T* src, const T* b, T* dst) {
  const int64_t total = nc * K * L;
  for (int64_t e = global_thread(); e < total; e += grid_threads()) {
    // e indexes dst; (nn, k, l) are its coordinates in the [nc, K, L] view
    const int64_t l = e % L;
    int64_t nn, k;
    if (to_channel_major)
      k = e / (nc * L), nn = (e / L) % nc;
    else
      nn = e / (K * L), k = (e / L) % K;
    const int64_t batch_major = (nn * K + k) * L + l, channel_major = (k * nc + nn) * L + l;
    if (to_channel_major)
      dst[e] = src[batch_major];
    else
      dst[e] = src[channel_major] + (b ? b[k] : T(0));
  }
}

}  // namespace glassbox::gpu
