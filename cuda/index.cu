// index_select / gather and their adjoints on CUDA. Operands are made contiguous (a copy
// kernel when they are views); every index is checked on the device without a host wait (a
// deferred check, cuda/checks.h), and a bad one becomes the CPU backend's error, naming the
// index, the dim and the shapes, at the host's next wait for the device.
#include "core/convert.h"
#include "cuda/checks.h"
#include "cuda/common.h"
#include "cuda/gpu_kernels.h"
#include "cuda/kernels/index.cuh"
#include "cuda/launch.h"
#include "cuda/runtime.h"

namespace glassbox::gpu {
namespace {

// A deferred check (cuda/checks.h): no host wait here; a bad index is reported, with the
// CPU backend's message, at the next one.
void check_indices(const Tensor& index, int64_t limit, const char* op, const Tensor& a,
                   int64_t dim) {
  defer_range_check(
      index, limit, std::nullopt,
      [op, limit, dim, input = a.shape_str(), shape = index.shape_str()](int64_t bad) {
        return str(op, ": index ", bad, " is out of range for dim ", dim, " with size ", limit,
                   " (input ", input, ", index ", shape, ")");
      });
}

GatherGeom gather_geom(const Shape& index_shape, const Tensor& target, int64_t dim,
                       const char* op) {
  GB_CHECK(index_shape.size() <= size_t(kMaxDims), op, ": tensors with more than ", kMaxDims,
           " dims are not supported on CUDA (index ", shape_str(index_shape), ")");
  GatherGeom g{};
  g.ndim = static_cast<int>(index_shape.size());
  g.dim = static_cast<int>(dim);
  g.limit = target.size(dim);
  Shape strides = contiguous_strides(target.shape());
  for (int d = 0; d < g.ndim; ++d) {
    g.index_sizes[d] = index_shape[d];
    g.target_strides[d] = strides[d];
  }
  return g;
}

}  // namespace

Tensor index_select(const Tensor& a_in, int64_t dim, const Tensor& index_in) {
  Tensor a = a_in.contiguous(), index = index_in.contiguous();
  check_indices(index, a.size(dim), "index_select", a_in, dim);
  Shape out_shape = a.shape();
  out_shape[dim] = index.numel();
  Tensor out = empty_on(out_shape, a.dtype(), a.device());
  int64_t outer, inner;
  split_at(a.shape(), dim, outer, inner);
  const int64_t n = index.numel(), total = out.numel();
  if (total == 0) return out;
  GB_DISPATCH_ALL(a.dtype(), "index_select", [&] {
    auto kernel = &index_select_kernel<scalar_t>;
    GB_LAUNCH(kernel, grid_for(total), kBlock, 0, stream_of(a), total, n, inner, a.size(dim),
              ptr_of<const scalar_t>(a), ptr_of<const int64_t>(index), ptr_of<scalar_t>(out));
  });
  return out;
}

void index_add_(const Tensor& dst, int64_t dim, const Tensor& index_in, const Tensor& src_in) {
  GB_CHECK(dst.is_contiguous(), "index_add_: destination must be contiguous");
  Tensor index = index_in.contiguous(), src = src_in.contiguous();
  check_indices(index, dst.size(dim), "index_add_", dst, dim);
  int64_t outer, inner;
  split_at(dst.shape(), dim, outer, inner);
  const int64_t n = index.numel(), total = outer * n * inner;
  if (total == 0) return;
  GB_DISPATCH_FLOAT(dst.dtype(), "index_add_", [&] {
    auto kernel = &index_add_kernel<scalar_t>;
    GB_LAUNCH(kernel, grid_for(total), kBlock, 0, stream_of(dst), total, n, inner, dst.size(dim),
              ptr_of<scalar_t>(dst), ptr_of<const int64_t>(index), ptr_of<const scalar_t>(src));
  });
}

Tensor gather(const Tensor& a_in, int64_t dim, const Tensor& index_in) {
  Tensor a = a_in.contiguous(), index = index_in.contiguous();
  check_indices(index, a.size(dim), "gather", a_in, dim);
  Tensor out = empty_on(index.shape(), a.dtype(), a.device());
  const int64_t total = index.numel();
  if (total == 0) return out;
  GatherGeom g = gather_geom(index.shape(), a, dim, "gather");
  GB_DISPATCH_ALL(a.dtype(), "gather", [&] {
    auto kernel = &gather_kernel<scalar_t>;
    GB_LAUNCH(kernel, grid_for(total), kBlock, 0, stream_of(a), total, g, ptr_of<const scalar_t>(a),
              ptr_of<const int64_t>(index), ptr_of<scalar_t>(out));
  });
  return out;
}

void scatter_add_(const Tensor& dst, int64_t dim, const Tensor& index_in, const Tensor& src_in) {
  GB_CHECK(dst.is_contiguous(), "scatter_add_: destination must be contiguous");
  Tensor index = index_in.contiguous(), src = src_in.contiguous();
  check_indices(index, dst.size(dim), "scatter_add_", dst, dim);
  const int64_t total = index.numel();
  if (total == 0) return;
  GatherGeom g = gather_geom(index.shape(), dst, dim, "scatter_add_");
  GB_DISPATCH_FLOAT(dst.dtype(), "scatter_add_", [&] {
    auto kernel = &scatter_add_kernel<scalar_t>;
    GB_LAUNCH(kernel, grid_for(total), kBlock, 0, stream_of(dst), total, g, ptr_of<scalar_t>(dst),
              ptr_of<const int64_t>(index), ptr_of<const scalar_t>(src));
  });
}

void masked_fill_(const Tensor& dst, const Tensor& mask, double value) {
  const int64_t total = dst.numel();
  if (total == 0) return;
  GB_DISPATCH_ALL(dst.dtype(), "masked_fill", [&] {
    const scalar_t v = convert_value<scalar_t, double>(value);  // the rule of fill_
    auto kernel = &masked_fill_kernel<scalar_t>;
    GB_LAUNCH(kernel, grid_for(total), kBlock, 0, stream_of(dst), total, ptr_of<scalar_t>(dst),
              ptr_of<const bool>(mask), v);
  });
}

}  // namespace glassbox::gpu
