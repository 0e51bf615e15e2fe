#pragma once
// Convolution kernel bodies, part 2: the tiled kernels for few channels ("flat" on the GPU),
// the case that dominates the notebook's CNN (1..6 channels, 3x3, 28x28, batch 1000), where a
// GEMM has inner dimensions of 9..54 and spends its time moving im2col buffers.
//
// A block owns a 16x16 tile of the pixels it writes, one per thread, for one image and one
// group, and keeps in registers one accumulator per channel it writes for that pixel (all M
// outputs of the group in the forward, all G inputs in the input gradient: up to 32, chosen
// at compile time so the unrolled loops keep them in registers). Shared memory holds the
// group's weights (read by every thread: a broadcast) and, one channel at a time, the input
// region the tile reads, halo included:
//
//   forward:  rows (16-1)*sh + (kh-1)*dh + 1 of x starting at i0*sh - ph (zeros off the image);
//             acc[m] += xs[ti*sh + p*dh][tj*sw + q*dw] * w[m, c, p, q]
//   input gradient: the dy rows that can reach the tile, from ceil((y0 + ph - (kh-1)*dh) / sh)
//             to floor((y0 + 15 + ph) / sh) (at most (15 + (kh-1)*dh) / sh + 1 of them);
//             acc[c] += dys[i - lo][j - lo'] * w[m, c, p, q] for the taps where
//             i = (y + ph - p*dh) / sh divides exactly (the gather of conv.cuh, tiled).
//
// Weight gradient, dw[o, c, p, q] = sum_{n, i, j} dy[n, o, i, j] * x[n, c, i*sh - ph + p*dh, ...]:
// a block takes one (image, group, tile) item and stages the tile's dy for all M outputs and
// its x region for all G inputs; a thread then owns one weight (or several, when the group has
// more weights than the block has threads) and sums over the tile's pixels, or, when there are
// fewer weights than threads, a slice of the pixels that the block then adds in shared memory.
// Each item writes its partial sums to its own row of a [groups, items, M*G*kh*kw] buffer,
// which one reduction (reduce.cu, double accumulators) adds up: no atomics, and the same
// order on every run. Output pixels past the image edge are skipped, so an inf in the input
// never meets a padding zero.
#include <cstdint>

#include "cuda/kernels/conv.cuh"

namespace glassbox::gpu {

constexpr int kConvTile = 16;  // output (or input-gradient) pixels per tile side
constexpr int kConvTileThreads = kConvTile * kConvTile;

// Work item `item` of a grid over (image, group, tile): tiles_w tiles of `side` pixels across,
// `tiles` in all; (row0, col0) is the tile's first pixel.
struct TileItem {
  int64_t n, g, row0, col0;
};
__device__ __forceinline__ TileItem tile_item(const ConvDims& d, int64_t item, int64_t tiles,
                                              int64_t tiles_w, int64_t side) {
  const int64_t tile = item % tiles;
  return {item / (tiles * d.groups), (item / tiles) % d.groups, (tile / tiles_w) * side,
          (tile % tiles_w) * side};
}

template <class T, int kMaxM>
__global__ void conv_forward_tiled_kernel(ConvDims d, int64_t tiles_w, int64_t tiles, int in_th,
                                          int in_tw, const T* x, const T* w, const T* b, T* y) {
  GB_DYN_SHARED(T, smem);
  const int wg = int(d.M * d.G * d.kh * d.kw), kh = int(d.kh), kw = int(d.kw);
  const int M = int(d.M), G = int(d.G);
  T* ws = smem;       // [M][G][kh][kw] of this group
  T* xs = smem + wg;  // [in_th][in_tw], one input channel
  const int ti = threadIdx.x / kConvTile, tj = threadIdx.x % kConvTile;
  const int64_t items = d.N * d.groups * tiles;
  for (int64_t item = blockIdx.x; item < items; item += gridDim.x) {
    const auto [n, g, i0, j0] = tile_item(d, item, tiles, tiles_w, kConvTile);
    const int64_t y0 = i0 * d.sh - d.ph, x0 = j0 * d.sw - d.pw;  // image position of xs[0][0]
    __syncthreads();  // the previous item is done with ws and xs
    for (int e = threadIdx.x; e < wg; e += blockDim.x) ws[e] = w[g * wg + e];
    T acc[kMaxM];
    GB_UNROLL
    for (int m = 0; m < kMaxM; ++m) acc[m] = (m < M && b) ? b[g * M + m] : T(0);
    for (int c = 0; c < G; ++c) {
      const T* xc = x + ((n * d.C + g * d.G + c) * d.H) * d.W;
      __syncthreads();
      for (int e = threadIdx.x; e < in_th * in_tw; e += blockDim.x) {
        const int64_t yy = y0 + e / in_tw, xx = x0 + e % in_tw;
        xs[e] = (yy >= 0 && yy < d.H && xx >= 0 && xx < d.W) ? xc[yy * d.W + xx] : T(0);
      }
      __syncthreads();
      for (int p = 0; p < kh; ++p)
        for (int q = 0; q < kw; ++q) {
          const T v = xs[(ti * int(d.sh) + p * int(d.dh)) * in_tw + tj * int(d.sw) + q * int(d.dw)];
          const T* wt = ws + (c * kh + p) * kw + q;
          GB_UNROLL
          for (int m = 0; m < kMaxM; ++m)
            if (m < M) acc[m] += v * wt[m * G * kh * kw];
        }
    }
    const int64_t i = i0 + ti, j = j0 + tj;
    if (i < d.OH && j < d.OW) {
      GB_UNROLL
      for (int m = 0; m < kMaxM; ++m)
        if (m < M) y[((n * d.K + g * d.M + m) * d.OH + i) * d.OW + j] = acc[m];
    }
  }
}

template <class T, int kMaxG>
__global__ void conv_grad_input_tiled_kernel(ConvDims d, int64_t tiles_w, int64_t tiles, int dy_th,
                                             int dy_tw, const T* dy, const T* w, const T* b,
                                             T* dx) {
  GB_DYN_SHARED(T, smem);
  const int wg = int(d.M * d.G * d.kh * d.kw), kh = int(d.kh), kw = int(d.kw);
  const int M = int(d.M), G = int(d.G);
  T* ws = smem;        // [M][G][kh][kw] of this group
  T* dys = smem + wg;  // [dy_th][dy_tw], one output channel
  const int ti = threadIdx.x / kConvTile, tj = threadIdx.x % kConvTile;
  const int64_t items = d.N * d.groups * tiles;
  for (int64_t item = blockIdx.x; item < items; item += gridDim.x) {
    const auto [n, g, y0, x0] = tile_item(d, item, tiles, tiles_w, kConvTile);
    const int64_t lo_i = floor_div(y0 + d.ph - (d.kh - 1) * d.dh + d.sh - 1, d.sh);
    const int64_t lo_j = floor_div(x0 + d.pw - (d.kw - 1) * d.dw + d.sw - 1, d.sw);
    const int64_t yy = y0 + ti, xx = x0 + tj;
    __syncthreads();
    for (int e = threadIdx.x; e < wg; e += blockDim.x) ws[e] = w[g * wg + e];
    T acc[kMaxG];
    GB_UNROLL
    for (int c = 0; c < kMaxG; ++c) acc[c] = (c < G && b) ? b[g * G + c] : T(0);
    for (int m = 0; m < M; ++m) {
      const T* dyo = dy + (n * d.K + g * d.M + m) * d.OH * d.OW;
      __syncthreads();
      for (int e = threadIdx.x; e < dy_th * dy_tw; e += blockDim.x) {
        const int64_t i = lo_i + e / dy_tw, j = lo_j + e % dy_tw;
        dys[e] = (i >= 0 && i < d.OH && j >= 0 && j < d.OW) ? dyo[i * d.OW + j] : T(0);
      }
      __syncthreads();
      for (int p = 0; p < kh; ++p) {
        const int64_t t = yy + d.ph - p * d.dh, i = floor_div(t, d.sh);
        if (i * d.sh != t) continue;
        for (int q = 0; q < kw; ++q) {
          const int64_t s = xx + d.pw - q * d.dw, j = floor_div(s, d.sw);
          if (j * d.sw != s) continue;
          const T v = dys[int(i - lo_i) * dy_tw + int(j - lo_j)];
          const T* wt = ws + (m * G * kh + p) * kw + q;
          GB_UNROLL
          for (int c = 0; c < kMaxG; ++c)
            if (c < G) acc[c] += v * wt[c * kh * kw];
        }
      }
    }
    if (yy < d.H && xx < d.W) {
      GB_UNROLL
      for (int c = 0; c < kMaxG; ++c)
        if (c < G) dx[((n * d.C + g * d.G + c) * d.H + yy) * d.W + xx] = acc[c];
    }
  }
}

// partial[g][n*tiles + tile][M*G*kh*kw]; ts is the tile side (16, or 8 when 16 would not fit
// in shared memory). Shared memory: xs [G][in_th*in_tw], dys [M][ts*ts], red [blockDim].
template <class T>
__global__ void conv_grad_weight_tiled_kernel(ConvDims d, int64_t tiles_w, int64_t tiles, int ts,
                                              int in_th, int in_tw, const T* x, const T* dy,
                                              T* partial) {
  GB_DYN_SHARED(T, smem);
  const int kh = int(d.kh), kw = int(d.kw), M = int(d.M), G = int(d.G);
  const int wg = M * G * kh * kw, P = ts * ts, in_plane = in_th * in_tw;
  T* xs = smem;
  T* dys = xs + G * in_plane;
  T* red = dys + M * P;
  const int tid = threadIdx.x, threads = blockDim.x;
  const int64_t items = d.N * d.groups * tiles;
  for (int64_t item = blockIdx.x; item < items; item += gridDim.x) {
    const auto [n, g, i0, j0] = tile_item(d, item, tiles, tiles_w, ts);
    const int64_t tile = item % tiles;
    const int64_t y0 = i0 * d.sh - d.ph, x0 = j0 * d.sw - d.pw;
    const int rows = int(d.OH - i0 < ts ? d.OH - i0 : ts),
              cols = int(d.OW - j0 < ts ? d.OW - j0 : ts);
    __syncthreads();
    for (int e = tid; e < G * in_plane; e += threads) {
      const int c = e / in_plane, r = e % in_plane;
      const int64_t yy = y0 + r / in_tw, xx = x0 + r % in_tw;
      xs[e] = (yy >= 0 && yy < d.H && xx >= 0 && xx < d.W)
                  ? x[((n * d.C + g * d.G + c) * d.H + yy) * d.W + xx]
                  : T(0);
    }
    for (int e = tid; e < M * P; e += threads) {
      const int m = e / P, pi = (e % P) / ts, pj = e % ts;
      dys[e] = (pi < rows && pj < cols)
                   ? dy[((n * d.K + g * d.M + m) * d.OH + i0 + pi) * d.OW + j0 + pj]
                   : T(0);
    }
    __syncthreads();
    // the sum for weight wi over pixels first, first + step, ...
    auto weight_sum = [&](int wi, int first, int step) {
      const int q = wi % kw, p = (wi / kw) % kh, c = (wi / (kw * kh)) % G, m = wi / (kw * kh * G);
      const T* xc = xs + c * in_plane + p * int(d.dh) * in_tw + q * int(d.dw);
      const T* dym = dys + m * P;
      T s = T(0);
      for (int px = first; px < P; px += step) {
        const int pi = px / ts, pj = px % ts;
        if (pi < rows && pj < cols) s += dym[px] * xc[pi * int(d.sh) * in_tw + pj * int(d.sw)];
      }
      return s;
    };
    T* out = partial + (g * d.N * tiles + n * tiles + tile) * wg;
    if (wg >= threads) {
      for (int wi = tid; wi < wg; wi += threads) out[wi] = weight_sum(wi, 0, 1);
    } else {
      const int slices = threads / wg;
      if (tid < wg * slices) red[tid] = weight_sum(tid % wg, tid / wg, slices);
      __syncthreads();
      if (tid < wg) {
        T s = T(0);
        for (int k = 0; k < slices; ++k) s += red[k * wg + tid];
        out[tid] = s;
      }
    }
  }
}

}  // namespace glassbox::gpu
