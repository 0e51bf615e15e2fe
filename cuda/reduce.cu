// Reductions on CUDA: the host plans the geometry ([outputs, count] with kept and reduced
// dims), picks per-thread or per-block work (kernels/reduce.cuh explains both), and for
// long reductions over few outputs adds a second pass over the chunks' partials.
#include "cuda/common.h"
#include "cuda/gpu_kernels.h"
#include "cuda/kernels/reduce.cuh"
#include "cuda/launch.h"

namespace glassbox::gpu {
namespace {

struct Plan {
  ReduceGeom geom{};
  Shape out_shape;
  int64_t outputs = 1;
};

Plan plan_reduce(const Tensor& a, const std::vector<int64_t>& dims, bool keepdim,
                 const char* name) {
  Plan p;
  std::vector<bool> reduced(a.dim(), false);
  for (int64_t d : dims) reduced[d] = true;
  ReduceGeom& g = p.geom;
  g.count = 1;
  for (int64_t d = 0; d < a.dim(); ++d) {
    const bool red = reduced[d];
    int& nd = red ? g.red_ndim : g.kept_ndim;
    GB_CHECK(nd < kMaxDims, name, ": tensors with more than ", kMaxDims,
             " kept or reduced dims are not supported on CUDA (input ", a.shape_str(), ")");
    (red ? g.red_sizes : g.kept_sizes)[nd] = a.size(d);
    (red ? g.red_strides : g.kept_strides)[nd] = a.stride(d);
    ++nd;
    if (red) {
      g.count *= a.size(d);
      if (keepdim) p.out_shape.push_back(1);
    } else {
      p.outputs *= a.size(d);
      p.out_shape.push_back(a.size(d));
    }
  }
  return p;
}

constexpr int64_t kPerThreadMax = 64;     // longer reductions get a block each
constexpr int64_t kChunkElements = 4096;  // per block, when one output is split
constexpr int64_t kMaxChunks = 1024;
constexpr int64_t kMaxGrid = 65535;

unsigned block_threads(int64_t per_block) {
  unsigned t = 32;
  while (t < 256 && t < per_block) t *= 2;
  return t;
}

// Runs reducer R over the geometry into sink: in two passes when kSplit allows splitting an
// output into chunks (R then has second_pass(), the reducer over its own partials).
template <bool kSplit, class R, class In, class Sink>
void run_reduce(const ReduceGeom& g, int64_t outputs, const In* in, Sink sink, R r, Device device) {
  using Acc = typename R::acc_t;
  if (outputs == 0) return;
  cudaStream_t stream = cuda::stream(device.index);
  if (g.count <= kPerThreadMax) {
    auto kernel = &reduce_per_thread_kernel<R, In, Sink>;
    GB_LAUNCH(kernel, grid_for(outputs), kBlock, 0, stream, g, outputs, in, sink, r);
    return;
  }
  int64_t chunks = 1;
  if (kSplit && outputs < 64) {
    chunks = (g.count + kChunkElements - 1) / kChunkElements;
    chunks = chunks < kMaxChunks ? chunks : kMaxChunks;
  }
  const unsigned threads = block_threads((g.count + chunks - 1) / chunks);
  const size_t smem = sizeof(Acc) * (threads / 32);
  const int64_t blocks = outputs * chunks < kMaxGrid ? outputs * chunks : kMaxGrid;
  if (chunks == 1) {
    auto kernel = &reduce_per_block_kernel<R, In, Sink>;
    GB_LAUNCH(kernel, unsigned(blocks), threads, smem, stream, g, outputs, int64_t(1), in, sink, r);
    return;
  }
  if constexpr (kSplit) {
    // pass 1: each chunk's partial, in the accumulator type
    Tensor partial = empty_on({outputs * chunks}, dtype_of<Acc>::value, device);
    using PartialSink = ValueSink<Acc, Acc>;
    auto first = &reduce_per_block_kernel<R, In, PartialSink>;
    GB_LAUNCH(first, unsigned(blocks), threads, smem, stream, g, outputs, chunks, in,
              PartialSink{ptr_of<Acc>(partial)}, r);
    // pass 2: the partials as a contiguous [outputs, chunks] reduced over its last dim
    ReduceGeom g2{};
    g2.kept_ndim = 1, g2.red_ndim = 1, g2.count = chunks;
    g2.kept_sizes[0] = outputs, g2.kept_strides[0] = chunks;
    g2.red_sizes[0] = chunks, g2.red_strides[0] = 1;
    run_reduce<false>(g2, outputs, ptr_of<const Acc>(partial), sink, r.second_pass(), device);
  }
}

}  // namespace

Tensor reduce(Reduce op, const Tensor& a, const std::vector<int64_t>& dims, bool keepdim) {
  const char* name = op == Reduce::Sum ? "sum" : op == Reduce::Max ? "max" : "min";
  Plan p = plan_reduce(a, dims, keepdim, name);
  GB_CHECK(op == Reduce::Sum || p.geom.count > 0 || p.outputs == 0, name,
           ": cannot reduce over an empty dimension (input ", a.shape_str(), ")");
  // integer and bool sums widen to int64, like PyTorch
  const DType out_dtype = (op == Reduce::Sum && !is_floating(a.dtype())) ? kInt64 : a.dtype();
  Tensor out = empty_on(p.out_shape, out_dtype, a.device());
  GB_DISPATCH_ALL(a.dtype(), name, [&] {
    using T = scalar_t;
    const T* in = ptr_of<const T>(a);
    if (op == Reduce::Sum) {
      using Acc = std::conditional_t<std::is_floating_point_v<T>, double, int64_t>;
      using Out = std::conditional_t<std::is_floating_point_v<T>, T, int64_t>;
      run_reduce<true>(p.geom, p.outputs, in, ValueSink<Acc, Out>{ptr_of<Out>(out)},
                       SumReducer<T, Acc>{}, a.device());
    } else if constexpr (std::is_same_v<T, bool>) {
      fail(str(name, ": not supported for bool tensors"));
    } else {
      auto sink = ValueSink<T, T>{ptr_of<T>(out)};
      if (op == Reduce::Max)
        run_reduce<true>(p.geom, p.outputs, in, sink, ExtremumReducer<T, true>{}, a.device());
      else
        run_reduce<true>(p.geom, p.outputs, in, sink, ExtremumReducer<T, false>{}, a.device());
    }
  });
  return out;
}

std::pair<Tensor, Tensor> reduce_with_index(Reduce op, const Tensor& a, int64_t dim, bool keepdim) {
  const char* name = op == Reduce::Max ? "max" : "min";
  Plan p = plan_reduce(a, {dim}, keepdim, name);
  GB_CHECK(p.geom.count > 0 || p.outputs == 0, name, ": cannot reduce over dim ", dim,
           " of size 0 (input ", a.shape_str(), ")");
  Tensor values = empty_on(p.out_shape, a.dtype(), a.device());
  Tensor indices = empty_on(p.out_shape, kInt64, a.device());
  GB_DISPATCH_NUMERIC(a.dtype(), name, [&] {
    using T = scalar_t;
    auto sink = ValueIndexSink<T>{ptr_of<T>(values), ptr_of<int64_t>(indices)};
    if (op == Reduce::Max)
      run_reduce<false>(p.geom, p.outputs, ptr_of<const T>(a), sink, ArgExtremumReducer<T, true>{},
                        a.device());
    else
      run_reduce<false>(p.geom, p.outputs, ptr_of<const T>(a), sink, ArgExtremumReducer<T, false>{},
                        a.device());
  });
  return {values, indices};
}

}  // namespace glassbox::gpu
