// 2-D max and average pooling on CUDA: the host makes the operands contiguous, packs the
// window geometry and launches the kernels of kernels/nn_pool.cuh (which derives them). The
// argmax indices are made and used on the device; nothing comes back to the host.
#include "cuda/common.h"
#include "cuda/gpu_nn_kernels.h"
#include "cuda/kernels/nn_pool.cuh"
#include "cuda/launch.h"

namespace glassbox::gpu {
namespace {

PoolGeom geom_of(const Shape& input, int64_t oH, int64_t oW, const Pool2d& p) {
  PoolGeom g{};
  g.planes = input[0], g.H = input[1], g.W = input[2], g.oH = oH, g.oW = oW;
  g.kH = p.kernel[0], g.kW = p.kernel[1];
  g.sH = p.stride[0], g.sW = p.stride[1];
  g.pH = p.padding[0], g.pW = p.padding[1];
  g.dH = p.dilation[0], g.dW = p.dilation[1];
  g.count_include_pad = p.count_include_pad;
  return g;
}

}  // namespace

std::pair<Tensor, Tensor> max_pool2d(const Tensor& input, const Pool2d& p) {
  Tensor in = input.contiguous();
  const PoolGeom g = geom_of(in.shape(), p.out[0], p.out[1], p);
  Tensor out = empty_on({g.planes, g.oH, g.oW}, in.dtype(), in.device());
  Tensor idx = empty_on({g.planes, g.oH, g.oW}, kInt64, in.device());
  if (out.numel() == 0) return {out, idx};
  GB_DISPATCH_FLOAT(in.dtype(), "max_pool2d", [&] {
    auto kernel = &max_pool2d_kernel<scalar_t>;
    GB_LAUNCH(kernel, grid_for(out.numel()), kBlock, 0, stream_of(in), g,
              ptr_of<const scalar_t>(in), ptr_of<scalar_t>(out), ptr_of<int64_t>(idx));
  });
  return {out, idx};
}

Tensor max_pool2d_backward(const Tensor& grad_out, const Tensor& indices, const Shape& input_shape,
                           const Pool2d& p) {
  Tensor g = grad_out.contiguous(), ix = indices.contiguous();
  const PoolGeom geom = geom_of(input_shape, g.size(1), g.size(2), p);
  Tensor gi = empty_on(input_shape, g.dtype(), g.device());
  if (gi.numel() == 0) return gi;
  GB_DISPATCH_FLOAT(g.dtype(), "max_pool2d backward", [&] {
    auto kernel = &max_pool2d_backward_kernel<scalar_t>;
    GB_LAUNCH(kernel, grid_for(gi.numel()), kBlock, 0, stream_of(g), geom,
              ptr_of<const scalar_t>(g), ptr_of<const int64_t>(ix), ptr_of<scalar_t>(gi));
  });
  return gi;
}

Tensor avg_pool2d(const Tensor& input, const Pool2d& p) {
  Tensor in = input.contiguous();
  const PoolGeom g = geom_of(in.shape(), p.out[0], p.out[1], p);
  Tensor out = empty_on({g.planes, g.oH, g.oW}, in.dtype(), in.device());
  if (out.numel() == 0) return out;
  GB_DISPATCH_FLOAT(in.dtype(), "avg_pool2d", [&] {
    auto kernel = &avg_pool2d_kernel<scalar_t>;
    GB_LAUNCH(kernel, grid_for(out.numel()), kBlock, 0, stream_of(in), g,
              ptr_of<const scalar_t>(in), ptr_of<scalar_t>(out));
  });
  return out;
}

Tensor avg_pool2d_backward(const Tensor& grad_out, const Shape& input_shape, const Pool2d& p) {
  Tensor g = grad_out.contiguous();
  const PoolGeom geom = geom_of(input_shape, g.size(1), g.size(2), p);
  Tensor gi = empty_on(input_shape, g.dtype(), g.device());
  if (gi.numel() == 0) return gi;
  GB_DISPATCH_FLOAT(g.dtype(), "avg_pool2d backward", [&] {
    auto kernel = &avg_pool2d_backward_kernel<scalar_t>;
    GB_LAUNCH(kernel, grid_for(gi.numel()), kBlock, 0, stream_of(g), geom,
              ptr_of<const scalar_t>(g), ptr_of<scalar_t>(gi));
  });
  return gi;
}

}  // namespace glassbox::gpu
