// Adaptive pooling and upsampling on CUDA: the host makes the operands contiguous, packs the
// geometry and launches the kernels of kernels/nn_resize.cuh (which derives them). Nothing
// comes back to the host.
#include "cuda/common.h"
#include "cuda/gpu_nn_kernels.h"
#include "cuda/kernels/nn_resize.cuh"
#include "cuda/launch.h"

namespace glassbox::gpu {
namespace {

ResizeGeom geom_of(const Shape& input, int64_t oH, int64_t oW) {
  ResizeGeom g{};
  g.planes = input[0], g.H = input[1], g.W = input[2], g.oH = oH, g.oW = oW;
  return g;
}

ResizeGeom geom_of(const Shape& input, const Resize2d& r) {
  ResizeGeom g = geom_of(input, r.out[0], r.out[1]);
  g.bilinear = r.bilinear, g.align_corners = r.align_corners;
  g.sf_h = r.scale_factor[0], g.sf_w = r.scale_factor[1];
  return g;
}

}  // namespace

Tensor adaptive_avg_pool2d(const Tensor& input, std::array<int64_t, 2> out) {
  Tensor in = input.contiguous();
  const ResizeGeom g = geom_of(in.shape(), out[0], out[1]);
  Tensor y = empty_on({g.planes, g.oH, g.oW}, in.dtype(), in.device());
  if (y.numel() == 0) return y;
  GB_DISPATCH_FLOAT(in.dtype(), "adaptive_avg_pool2d", [&] {
    auto kernel = &adaptive_avg_pool2d_kernel<scalar_t>;
    GB_LAUNCH(kernel, grid_for(y.numel()), kBlock, 0, stream_of(in), g, ptr_of<const scalar_t>(in),
              ptr_of<scalar_t>(y));
  });
  return y;
}

Tensor adaptive_avg_pool2d_backward(const Tensor& grad_out, const Shape& input_shape) {
  Tensor g = grad_out.contiguous();
  const ResizeGeom geom = geom_of(input_shape, g.size(1), g.size(2));
  Tensor gi = empty_on(input_shape, g.dtype(), g.device());
  if (gi.numel() == 0) return gi;
  GB_DISPATCH_FLOAT(g.dtype(), "adaptive_avg_pool2d backward", [&] {
    auto kernel = &adaptive_avg_pool2d_backward_kernel<scalar_t>;
    GB_LAUNCH(kernel, grid_for(gi.numel()), kBlock, 0, stream_of(g), geom,
              ptr_of<const scalar_t>(g), ptr_of<scalar_t>(gi));
  });
  return gi;
}

std::pair<Tensor, Tensor> adaptive_max_pool2d(const Tensor& input, std::array<int64_t, 2> out) {
  Tensor in = input.contiguous();
  const ResizeGeom g = geom_of(in.shape(), out[0], out[1]);
  Tensor y = empty_on({g.planes, g.oH, g.oW}, in.dtype(), in.device());
  Tensor idx = empty_on({g.planes, g.oH, g.oW}, kInt64, in.device());
  if (y.numel() == 0) return {y, idx};
  GB_DISPATCH_FLOAT(in.dtype(), "adaptive_max_pool2d", [&] {
    auto kernel = &adaptive_max_pool2d_kernel<scalar_t>;
    GB_LAUNCH(kernel, grid_for(y.numel()), kBlock, 0, stream_of(in), g, ptr_of<const scalar_t>(in),
              ptr_of<scalar_t>(y), ptr_of<int64_t>(idx));
  });
  return {y, idx};
}

Tensor adaptive_max_pool2d_backward(const Tensor& grad_out, const Tensor& indices,
                                    const Shape& input_shape) {
  Tensor g = grad_out.contiguous(), ix = indices.contiguous();
  const ResizeGeom geom = geom_of(input_shape, g.size(1), g.size(2));
  Tensor gi = empty_on(input_shape, g.dtype(), g.device());
  if (gi.numel() == 0) return gi;
  GB_DISPATCH_FLOAT(g.dtype(), "adaptive_max_pool2d backward", [&] {
    auto kernel = &adaptive_max_pool2d_backward_kernel<scalar_t>;
    GB_LAUNCH(kernel, grid_for(gi.numel()), kBlock, 0, stream_of(g), geom,
              ptr_of<const scalar_t>(g), ptr_of<const int64_t>(ix), ptr_of<scalar_t>(gi));
  });
  return gi;
}

Tensor upsample2d(const Tensor& input, const Resize2d& r) {
  Tensor in = input.contiguous();
  const ResizeGeom g = geom_of(in.shape(), r);
  Tensor y = empty_on({g.planes, g.oH, g.oW}, in.dtype(), in.device());
  if (y.numel() == 0) return y;
  GB_DISPATCH_FLOAT(in.dtype(), "interpolate", [&] {
    auto kernel = &upsample2d_kernel<scalar_t>;
    GB_LAUNCH(kernel, grid_for(y.numel()), kBlock, 0, stream_of(in), g, ptr_of<const scalar_t>(in),
              ptr_of<scalar_t>(y));
  });
  return y;
}

Tensor upsample2d_backward(const Tensor& grad_out, const Shape& input_shape, const Resize2d& r) {
  Tensor g = grad_out.contiguous();
  const ResizeGeom geom = geom_of(input_shape, r);
  Tensor gi = empty_on(input_shape, g.dtype(), g.device());
  if (gi.numel() == 0) return gi;
  GB_DISPATCH_FLOAT(g.dtype(), "interpolate backward", [&] {
    auto kernel = &upsample2d_backward_kernel<scalar_t>;
    GB_LAUNCH(kernel, grid_for(gi.numel()), kBlock, 0, stream_of(g), geom,
              ptr_of<const scalar_t>(g), ptr_of<scalar_t>(gi));
  });
  return gi;
}

}  // namespace glassbox::gpu
