// Convolution on CUDA: the host side of kernels/conv.cuh (Direct, the GEMM path's movers) and
// kernels/conv_tiled.cuh (the few-channel tiles, ConvKernel::Flat on the GPU), plus the GEMMs
// of the im2col path through cuda::gemm.
//
// The im2col path works on chunks of nc images, sized so the column buffer stays under
// kColBytes: im2col lays the chunk out as col[g][Kg][nc*L] (Kg = G*kh*kw, L = OH*OW), and each
// pass is one GEMM batched over the groups (row-major, see matmul.cu for the column-major
// mapping):
//   forward:      Y[g] (M x ncL)   = W[g] (M x Kg) * col[g] (Kg x ncL), then [K, nc, L] ->
//                 [nc, K, L] with the bias added;
//   input grad:   dcol[g] (Kg x ncL) = W[g]^T * dY[g] (M x ncL), then col2im's gather;
//   weight grad:  dW[g] (M x Kg)  += dY[g] * col[g]^T, accumulated over the chunks (beta 1).
// The tiled kernels need their shared memory under the default 48 KiB; a geometry whose tile
// would not fit (huge kernels or dilations, or more than 32 channels per group) runs the
// Direct kernels instead, which give the same results to rounding.
#include "core/kernels.h"
#include "cuda/blas.h"
#include "cuda/common.h"
#include "cuda/gpu_conv_kernels.h"
#include "cuda/gpu_kernels.h"
#include "cuda/kernels/conv_tiled.cuh"
#include "cuda/launch.h"

namespace glassbox::gpu {
namespace {

constexpr size_t kSharedLimit = 48 * 1024;
constexpr int64_t kColBytes = int64_t(64) << 20;
constexpr int kMaxTiledChannels = 32;

ConvDims dims_of(const ConvGeometry& g) {
  return {g.batch,    g.in_channels, g.in_h,       g.in_w,     g.out_channels,   g.out_h,
          g.out_w,    g.kernel_h,    g.kernel_w,   g.stride_h, g.stride_w,       g.pad_top,
          g.pad_left, g.dilation_h,  g.dilation_w, g.groups,   g.in_per_group(), g.out_per_group()};
}

template <class T>
const T* ptr_or_null(const Tensor& t) {
  return t.defined() ? ptr_of<const T>(t) : nullptr;
}

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

unsigned item_grid(int64_t items) {
  return static_cast<unsigned>(items < 65535 ? (items > 0 ? items : 1) : 65535);
}

// Picks the compile-time channel bound (4, 8, 16 or 32) of a tiled kernel.
template <class T, template <class, int> class Launch, class... Args>
void with_channel_bound(int64_t channels, Args&&... args) {
  if (channels <= 4) return Launch<T, 4>::run(args...);
  if (channels <= 8) return Launch<T, 8>::run(args...);
  if (channels <= 16) return Launch<T, 16>::run(args...);
  return Launch<T, 32>::run(args...);
}

// ------------------------------------------------------------------ Direct
template <class T>
void forward_direct(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& y,
                    const ConvDims& d) {
  auto kernel = &conv_forward_direct_kernel<T>;
  GB_LAUNCH(kernel, grid_for(y.numel()), kBlock, 0, stream_of(y), d, ptr_of<const T>(x),
            ptr_of<const T>(w), ptr_or_null<T>(b), ptr_of<T>(y));
}

template <class T>
void grad_input_direct(const Tensor& dy, const Tensor& w, const Tensor& b, const Tensor& dx,
                       const ConvDims& d) {
  auto kernel = &conv_grad_input_direct_kernel<T>;
  GB_LAUNCH(kernel, grid_for(dx.numel()), kBlock, 0, stream_of(dx), d, ptr_of<const T>(dy),
            ptr_of<const T>(w), ptr_or_null<T>(b), ptr_of<T>(dx));
}

template <class T>
void grad_weight_direct(const Tensor& x, const Tensor& dy, const Tensor& dw, const ConvDims& d) {
  auto kernel = &conv_grad_weight_direct_kernel<T>;
  const unsigned threads = 256;
  GB_LAUNCH(kernel, item_grid(dw.numel()), threads, sizeof(double) * (threads / 32), stream_of(dw),
            d, ptr_of<const T>(x), ptr_of<const T>(dy), ptr_of<T>(dw));
}

// ------------------------------------------------------------------ tiled (Flat)
int forward_in_rows(int64_t kernel, int64_t stride, int64_t dilation) {
  return int((kConvTile - 1) * stride + (kernel - 1) * dilation + 1);
}
int grad_input_dy_rows(int64_t kernel, int64_t stride, int64_t dilation) {
  return int((kConvTile - 1 + (kernel - 1) * dilation) / stride + 1);
}

template <class T>
size_t forward_tiled_smem(const ConvDims& d) {
  const int64_t in = int64_t(forward_in_rows(d.kh, d.sh, d.dh)) * forward_in_rows(d.kw, d.sw, d.dw);
  return sizeof(T) * size_t(d.M * d.G * d.kh * d.kw + in);
}
template <class T>
size_t grad_input_tiled_smem(const ConvDims& d) {
  const int64_t in =
      int64_t(grad_input_dy_rows(d.kh, d.sh, d.dh)) * grad_input_dy_rows(d.kw, d.sw, d.dw);
  return sizeof(T) * size_t(d.M * d.G * d.kh * d.kw + in);
}
template <class T>
size_t grad_weight_tiled_smem(const ConvDims& d, int ts) {
  const int64_t in_th = (ts - 1) * d.sh + (d.kh - 1) * d.dh + 1;
  const int64_t in_tw = (ts - 1) * d.sw + (d.kw - 1) * d.dw + 1;
  return sizeof(T) * size_t(d.G * in_th * in_tw + d.M * ts * ts + kConvTileThreads);
}

template <class T, int kMaxM>
struct ForwardTiled {
  static void run(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& y,
                  const ConvDims& d) {
    const int64_t tiles_w = ceil_div(d.OW, kConvTile), tiles = ceil_div(d.OH, kConvTile) * tiles_w;
    const int in_th = forward_in_rows(d.kh, d.sh, d.dh), in_tw = forward_in_rows(d.kw, d.sw, d.dw);
    auto kernel = &conv_forward_tiled_kernel<T, kMaxM>;
    GB_LAUNCH(kernel, item_grid(d.N * d.groups * tiles), kConvTileThreads, forward_tiled_smem<T>(d),
              stream_of(y), d, tiles_w, tiles, in_th, in_tw, ptr_of<const T>(x), ptr_of<const T>(w),
              ptr_or_null<T>(b), ptr_of<T>(y));
  }
};

template <class T, int kMaxG>
struct GradInputTiled {
  static void run(const Tensor& dy, const Tensor& w, const Tensor& b, const Tensor& dx,
                  const ConvDims& d) {
    const int64_t tiles_w = ceil_div(d.W, kConvTile), tiles = ceil_div(d.H, kConvTile) * tiles_w;
    const int dy_th = grad_input_dy_rows(d.kh, d.sh, d.dh);
    const int dy_tw = grad_input_dy_rows(d.kw, d.sw, d.dw);
    auto kernel = &conv_grad_input_tiled_kernel<T, kMaxG>;
    GB_LAUNCH(kernel, item_grid(d.N * d.groups * tiles), kConvTileThreads,
              grad_input_tiled_smem<T>(d), stream_of(dx), d, tiles_w, tiles, dy_th, dy_tw,
              ptr_of<const T>(dy), ptr_of<const T>(w), ptr_or_null<T>(b), ptr_of<T>(dx));
  }
};

// dw of `shape`, or undefined when no tile fits in shared memory (the caller then runs Direct).
template <class T>
Tensor grad_weight_tiled(const Tensor& x, const Tensor& dy, const ConvDims& d, const Shape& shape) {
  int ts = kConvTile;
  if (grad_weight_tiled_smem<T>(d, ts) > kSharedLimit) ts = kConvTile / 2;
  if (grad_weight_tiled_smem<T>(d, ts) > kSharedLimit) return Tensor();
  const int64_t tiles_w = ceil_div(d.OW, ts), tiles = ceil_div(d.OH, ts) * tiles_w;
  const int64_t wg = d.M * d.G * d.kh * d.kw, items = d.N * tiles;
  const int in_th = int((ts - 1) * d.sh + (d.kh - 1) * d.dh + 1);
  const int in_tw = int((ts - 1) * d.sw + (d.kw - 1) * d.dw + 1);
  Tensor partial = empty_on({d.groups, items, wg}, x.dtype(), x.device());
  auto kernel = &conv_grad_weight_tiled_kernel<T>;
  GB_LAUNCH(kernel, item_grid(d.groups * items), kConvTileThreads, grad_weight_tiled_smem<T>(d, ts),
            stream_of(x), d, tiles_w, tiles, ts, in_th, in_tw, ptr_of<const T>(x),
            ptr_of<const T>(dy), ptr_of<T>(partial));
  // [groups, items, wg] summed over the items is [groups * M, G, kh, kw], dw's layout
  return gpu::reduce(Reduce::Sum, partial, {1}, false).view(shape);
}

// ------------------------------------------------------------------ im2col + GEMM
int64_t chunk_images(const ConvDims& d, size_t elem) {
  const int64_t per_image = d.groups * d.G * d.kh * d.kw * d.OH * d.OW * int64_t(elem);
  const int64_t nc = per_image > 0 ? kColBytes / per_image : d.N;
  return std::max<int64_t>(1, std::min<int64_t>(nc, d.N));
}

template <class T>
void im2col(const ConvDims& d, int64_t n0, int64_t nc, const Tensor& x, const Tensor& col) {
  auto kernel = &im2col_kernel<T>;
  GB_LAUNCH(kernel, grid_for(col.numel()), kBlock, 0, stream_of(col), d, n0, nc, ptr_of<const T>(x),
            ptr_of<T>(col));
}

// [nc, K, L] <-> [K, nc, L] between a chunk of a 4-D tensor (from image n0) and a buffer.
template <class T>
void transpose_chunk(const Tensor& batch_major, int64_t n0, const Tensor& channel_major,
                     bool to_channel_major, const Tensor& bias) {
  const int64_t nc = channel_major.size(1), K = channel_major.size(0), L = channel_major.size(2);
  T* chunk = ptr_of<T>(batch_major) + n0 * K * L;
  auto kernel = &transpose_channels_kernel<T>;
  if (to_channel_major)
    GB_LAUNCH(kernel, grid_for(nc * K * L), kBlock, 0, stream_of(channel_major), nc, K, L, true,
              chunk, ptr_or_null<T>(bias), ptr_of<T>(channel_major));
  else
    GB_LAUNCH(kernel, grid_for(nc * K * L), kBlock, 0, stream_of(channel_major), nc, K, L, false,
              ptr_of<const T>(channel_major), ptr_or_null<T>(bias), chunk);
}

// The group-batched row-major product C[g] = op(A[g]) * op(B[g]) with C [rows, cols].
template <class T>
void group_gemm(const ConvDims& d, bool trans_a, bool trans_b, int64_t rows, int64_t cols,
                int64_t inner, const T* a, int64_t lda, int64_t stride_a, const T* b, int64_t ldb,
                int64_t stride_b, T beta, T* c, int device) {
  // row-major C = A B is column-major C^T = B^T A^T (matmul.cu)
  cuda::GemmArgs g;
  g.trans_a = trans_b ? cuda::Trans::T : cuda::Trans::N;
  g.trans_b = trans_a ? cuda::Trans::T : cuda::Trans::N;
  g.m = cols, g.n = rows, g.k = inner;
  g.lda = ldb, g.ldb = lda, g.ldc = cols;
  g.stride_a = stride_b, g.stride_b = stride_a, g.stride_c = rows * cols;
  g.batch = d.groups;
  cuda::gemm(g, T(1), b, a, beta, c, device);
}

template <class T>
void forward_im2col(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& y,
                    const ConvDims& d) {
  const int64_t nc_max = chunk_images(d, sizeof(T)), L = d.OH * d.OW, Kg = d.G * d.kh * d.kw;
  for (int64_t n0 = 0; n0 < d.N; n0 += nc_max) {
    const int64_t nc = std::min(nc_max, d.N - n0);
    Tensor col = empty_on({d.groups, Kg, nc * L}, y.dtype(), y.device());
    Tensor out = empty_on({d.K, nc, L}, y.dtype(), y.device());
    im2col<T>(d, n0, nc, x, col);
    group_gemm<T>(d, false, false, d.M, nc * L, Kg, ptr_of<const T>(w), Kg, d.M * Kg,
                  ptr_of<const T>(col), nc * L, Kg * nc * L, T(0), ptr_of<T>(out),
                  y.device().index);
    transpose_chunk<T>(y, n0, out, false, b);
  }
}

template <class T>
void grad_input_im2col(const Tensor& dy, const Tensor& w, const Tensor& b, const Tensor& dx,
                       const ConvDims& d) {
  const int64_t nc_max = chunk_images(d, sizeof(T)), L = d.OH * d.OW, Kg = d.G * d.kh * d.kw;
  for (int64_t n0 = 0; n0 < d.N; n0 += nc_max) {
    const int64_t nc = std::min(nc_max, d.N - n0);
    Tensor dyt = empty_on({d.K, nc, L}, dy.dtype(), dy.device());
    Tensor dcol = empty_on({d.groups, Kg, nc * L}, dy.dtype(), dy.device());
    transpose_chunk<T>(dy, n0, dyt, true, Tensor());
    group_gemm<T>(d, true, false, Kg, nc * L, d.M, ptr_of<const T>(w), Kg, d.M * Kg,
                  ptr_of<const T>(dyt), nc * L, d.M * nc * L, T(0), ptr_of<T>(dcol),
                  dx.device().index);
    auto kernel = &col2im_kernel<T>;
    GB_LAUNCH(kernel, grid_for(nc * d.C * d.H * d.W), kBlock, 0, stream_of(dx), d, n0, nc,
              ptr_of<const T>(dcol), ptr_or_null<T>(b), ptr_of<T>(dx));
  }
}

template <class T>
void grad_weight_im2col(const Tensor& x, const Tensor& dy, const Tensor& dw, const ConvDims& d) {
  const int64_t nc_max = chunk_images(d, sizeof(T)), L = d.OH * d.OW, Kg = d.G * d.kh * d.kw;
  for (int64_t n0 = 0; n0 < d.N; n0 += nc_max) {
    const int64_t nc = std::min(nc_max, d.N - n0);
    Tensor col = empty_on({d.groups, Kg, nc * L}, dw.dtype(), dw.device());
    Tensor dyt = empty_on({d.K, nc, L}, dw.dtype(), dw.device());
    im2col<T>(d, n0, nc, x, col);
    transpose_chunk<T>(dy, n0, dyt, true, Tensor());
    group_gemm<T>(d, false, true, d.M, Kg, nc * L, ptr_of<const T>(dyt), nc * L, d.M * nc * L,
                  ptr_of<const T>(col), nc * L, Kg * nc * L, n0 == 0 ? T(0) : T(1), ptr_of<T>(dw),
                  dw.device().index);
  }
}

bool tiled_channels_fit(int64_t channels) { return channels <= kMaxTiledChannels; }

}  // namespace

Tensor conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& b, const ConvGeometry& g,
                      ConvKernel k) {
  Tensor y = empty_on(g.output_shape(), x.dtype(), x.device());
  if (y.numel() == 0) return y;
  const ConvDims d = dims_of(g);
  if (d.G * d.kh * d.kw == 0) {  // an empty sum: the bias alone
    if (b.defined())
      gpu::copy(y, b.view({1, g.out_channels, 1, 1}));
    else
      gpu::fill(y, 0.0);
    return y;
  }
  GB_DISPATCH_FLOAT(x.dtype(), "conv2d", [&] {
    if (k == ConvKernel::Flat && tiled_channels_fit(d.M) &&
        forward_tiled_smem<scalar_t>(d) <= kSharedLimit)
      with_channel_bound<scalar_t, ForwardTiled>(d.M, x, w, b, y, d);
    else if (k == ConvKernel::Im2col)
      forward_im2col<scalar_t>(x, w, b, y, d);
    else
      forward_direct<scalar_t>(x, w, b, y, d);
  });
  return y;
}

Tensor conv2d_grad_input(const Tensor& dy, const Tensor& w, const Tensor& b, const ConvGeometry& g,
                         ConvKernel k) {
  Tensor dx = empty_on(g.input_shape(), dy.dtype(), dy.device());
  if (dx.numel() == 0) return dx;
  const ConvDims d = dims_of(g);
  if (d.M * d.OH * d.OW == 0) {
    if (b.defined())
      gpu::copy(dx, b.view({1, g.in_channels, 1, 1}));
    else
      gpu::fill(dx, 0.0);
    return dx;
  }
  GB_DISPATCH_FLOAT(dy.dtype(), "conv2d", [&] {
    if (k == ConvKernel::Flat && tiled_channels_fit(d.G) &&
        grad_input_tiled_smem<scalar_t>(d) <= kSharedLimit)
      with_channel_bound<scalar_t, GradInputTiled>(d.G, dy, w, b, dx, d);
    else if (k == ConvKernel::Im2col)
      grad_input_im2col<scalar_t>(dy, w, b, dx, d);
    else
      grad_input_direct<scalar_t>(dy, w, b, dx, d);
  });
  return dx;
}

Tensor conv2d_grad_weight(const Tensor& x, const Tensor& dy, const ConvGeometry& g, ConvKernel k) {
  const ConvDims d = dims_of(g);
  const Shape shape = g.weight_shape();
  const bool empty_sum = d.N * d.OH * d.OW == 0;
  Tensor dw;
  GB_DISPATCH_FLOAT(x.dtype(), "conv2d", [&] {
    if (k == ConvKernel::Flat && tiled_channels_fit(d.M) && !empty_sum && numel_of(shape) > 0)
      dw = grad_weight_tiled<scalar_t>(x, dy, d, shape);  // the reduction's output is dw
  });
  if (dw.defined()) return dw;
  dw = empty_on(shape, x.dtype(), x.device());
  if (dw.numel() == 0) return dw;
  if (empty_sum) {
    gpu::fill(dw, 0.0);
    return dw;
  }
  GB_DISPATCH_FLOAT(x.dtype(), "conv2d", [&] {
    if (k == ConvKernel::Im2col)
      grad_weight_im2col<scalar_t>(x, dy, dw, d);
    else
      grad_weight_direct<scalar_t>(x, dy, dw, d);
  });
  return dw;
}

Tensor conv2d_grad_bias(const Tensor& dy) { return gpu::reduce(Reduce::Sum, dy, {0, 2, 3}, false); }

}  // namespace glassbox::gpu
