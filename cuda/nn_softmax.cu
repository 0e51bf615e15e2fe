// softmax / log_softmax and their backward on CUDA. Operands are made contiguous (a copy
// kernel for views), the shape is split into [outer, n, inner] around the dim, and the kernel
// shape is picked (kernels/nn_softmax.cuh explains both): a warp per row when the dim is
// innermost and rows are long enough to fill one, else a thread per row.
#include "cuda/common.h"
#include "cuda/gpu_nn_kernels.h"
#include "cuda/kernels/nn_softmax.cuh"
#include "cuda/launch.h"

namespace glassbox::gpu {
namespace {

using kernels::rows_of;
using kernels::RowView;

// A warp per row when the dim is innermost; shorter contiguous rows would leave most of a
// warp idle, so a thread each does better there.
constexpr int64_t kWarpRowMin = 8;
bool warp_rows(const RowView& v) { return v.inner == 1 && v.n >= kWarpRowMin; }

template <class T, bool kLog>
void launch_forward(const RowView& v, const Tensor& in, const Tensor& out) {
  cudaStream_t stream = stream_of(in);
  if (warp_rows(v)) {
    auto kernel = &softmax_warp_kernel<T, kLog>;
    GB_LAUNCH(kernel, grid_for(v.rows() * 32), kBlock, 0, stream, v.rows(), v.n,
              ptr_of<const T>(in), ptr_of<T>(out));
  } else {
    auto kernel = &softmax_thread_kernel<T, kLog>;
    GB_LAUNCH(kernel, grid_for(v.rows()), kBlock, 0, stream, v.outer, v.n, v.inner,
              ptr_of<const T>(in), ptr_of<T>(out));
  }
}

template <class T, bool kLog>
void launch_backward(const RowView& v, const Tensor& g, const Tensor& o, const Tensor& gi) {
  cudaStream_t stream = stream_of(o);
  if (warp_rows(v)) {
    auto kernel = &softmax_backward_warp_kernel<T, kLog>;
    GB_LAUNCH(kernel, grid_for(v.rows() * 32), kBlock, 0, stream, v.rows(), v.n, ptr_of<const T>(g),
              ptr_of<const T>(o), ptr_of<T>(gi));
  } else {
    auto kernel = &softmax_backward_thread_kernel<T, kLog>;
    GB_LAUNCH(kernel, grid_for(v.rows()), kBlock, 0, stream, v.outer, v.n, v.inner,
              ptr_of<const T>(g), ptr_of<const T>(o), ptr_of<T>(gi));
  }
}

}  // namespace

Tensor softmax(const Tensor& input, int64_t dim, bool log) {
  Tensor in = input.contiguous();
  Tensor out = empty_on(in.shape(), in.dtype(), in.device());
  if (in.numel() == 0) return out;
  const RowView v = rows_of(in.shape(), dim);
  GB_DISPATCH_FLOAT(in.dtype(), log ? "log_softmax" : "softmax", [&] {
    if (log)
      launch_forward<scalar_t, true>(v, in, out);
    else
      launch_forward<scalar_t, false>(v, in, out);
  });
  return out;
}

Tensor softmax_backward(const Tensor& grad_out, const Tensor& out, int64_t dim, bool log) {
  Tensor g = grad_out.contiguous(), o = out.contiguous();
  Tensor gi = empty_on(o.shape(), o.dtype(), o.device());
  if (o.numel() == 0) return gi;
  const RowView v = rows_of(o.shape(), dim);
  GB_DISPATCH_FLOAT(o.dtype(), log ? "log_softmax backward" : "softmax backward", [&] {
    if (log)
      launch_backward<scalar_t, true>(v, g, o, gi);
    else
      launch_backward<scalar_t, false>(v, g, o, gi);
  });
  return gi;
}

}  // namespace glassbox::gpu
