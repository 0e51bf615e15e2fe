// Batch normalisation on CUDA (kernels/nn_batchnorm.cuh): statistics and backward with one
// block per channel, the forward element-wise. Operands are made contiguous first; optional
// ones (weight, bias) travel as null pointers. Nothing is read back to the host.
#include "cuda/common.h"
#include "cuda/gpu_nn_kernels.h"
#include "cuda/kernels/nn_batchnorm.cuh"
#include "cuda/launch.h"

namespace glassbox::gpu {
namespace {

constexpr int64_t kMaxGrid = 65535;

// Threads for a block that reduces `per_block` elements: a power of two from 32 to 256, so
// a small channel does not wait on idle warps at the barriers.
unsigned channel_threads(int64_t per_block) {
  unsigned t = 32;
  while (t < 256 && t < per_block) t *= 2;
  return t;
}
unsigned channel_blocks(int64_t C) { return unsigned(C < kMaxGrid ? C : kMaxGrid); }

template <class T>
const T* maybe_ptr(const Tensor& t) {
  return t.defined() ? ptr_of<const T>(t) : nullptr;
}
Tensor maybe_contiguous(const Tensor& t) { return t.defined() ? t.contiguous() : t; }

}  // namespace

std::pair<Tensor, Tensor> batch_norm_stats(const Tensor& input) {
  Tensor x = input.contiguous();
  const ChannelGeom g{x.size(0), x.size(1), x.size(2)};
  Tensor mean = empty_on({g.C}, x.dtype(), x.device()),
         var = empty_on({g.C}, x.dtype(), x.device());
  if (g.C == 0) return {mean, var};
  const unsigned threads = channel_threads(g.N * g.S);
  GB_DISPATCH_FLOAT(x.dtype(), "batch_norm", [&] {
    auto kernel = &batch_norm_stats_kernel<scalar_t>;
    GB_LAUNCH(kernel, channel_blocks(g.C), threads, sizeof(Moments) * (threads / 32), stream_of(x),
              g, ptr_of<const scalar_t>(x), ptr_of<scalar_t>(mean), ptr_of<scalar_t>(var));
  });
  return {mean, var};
}

Tensor batch_norm_forward(const Tensor& input, const Tensor& mean, const Tensor& invstd,
                          const Tensor& weight, const Tensor& bias) {
  Tensor x = input.contiguous(), m = mean.contiguous(), is = invstd.contiguous();
  Tensor w = maybe_contiguous(weight), b = maybe_contiguous(bias);
  const ChannelGeom g{x.size(0), x.size(1), x.size(2)};
  Tensor out = empty_on(x.shape(), x.dtype(), x.device());
  if (out.numel() == 0) return out;
  GB_DISPATCH_FLOAT(x.dtype(), "batch_norm", [&] {
    auto kernel = &batch_norm_forward_kernel<scalar_t>;
    GB_LAUNCH(kernel, grid_for(out.numel()), kBlock, 0, stream_of(x), g, ptr_of<const scalar_t>(x),
              ptr_of<const scalar_t>(m), ptr_of<const scalar_t>(is), maybe_ptr<scalar_t>(w),
              maybe_ptr<scalar_t>(b), ptr_of<scalar_t>(out));
  });
  return out;
}

std::tuple<Tensor, Tensor, Tensor> batch_norm_backward(const Tensor& grad_out, const Tensor& input,
                                                       const Tensor& mean, const Tensor& invstd,
                                                       const Tensor& weight, bool batch_stats,
                                                       std::array<bool, 3> needed) {
  Tensor gr = grad_out.contiguous(), x = input.contiguous(), m = mean.contiguous(),
         is = invstd.contiguous();
  Tensor w = maybe_contiguous(weight);
  const ChannelGeom g{x.size(0), x.size(1), x.size(2)};
  Tensor gx = needed[0] ? empty_on(x.shape(), x.dtype(), x.device()) : Tensor();
  Tensor gw = needed[1] ? empty_on({g.C}, x.dtype(), x.device()) : Tensor();
  Tensor gb = needed[2] ? empty_on({g.C}, x.dtype(), x.device()) : Tensor();
  if (g.C == 0 || !(needed[0] || needed[1] || needed[2])) return {gx, gw, gb};
  const unsigned threads = channel_threads(g.N * g.S);
  GB_DISPATCH_FLOAT(x.dtype(), "batch_norm backward", [&] {
    using T = scalar_t;
    const bool sums = needed[1] || needed[2] || (needed[0] && batch_stats);
    auto kernel =
        sums ? &batch_norm_backward_kernel<T, true> : &batch_norm_backward_kernel<T, false>;
    GB_LAUNCH(kernel, channel_blocks(g.C), threads, sizeof(GradSums) * (threads / 32 + 1),
              stream_of(x), g, ptr_of<const T>(gr), ptr_of<const T>(x), ptr_of<const T>(m),
              ptr_of<const T>(is), maybe_ptr<T>(w), batch_stats,
              needed[0] ? ptr_of<T>(gx) : nullptr, needed[1] ? ptr_of<T>(gw) : nullptr,
              needed[2] ? ptr_of<T>(gb) : nullptr);
  });
  return {gx, gw, gb};
}

}  // namespace glassbox::gpu
