// Negative log-likelihood on CUDA (kernels/nn_loss.cuh). Nothing comes back to the host:
// the count of targets that are not ignored (the mean's divisor) stays on the device as an
// int64 0-d tensor, and the targets are range-checked by a deferred check queued by the
// dispatch (core/kernels_nn.cpp, cuda/checks.h).
#include "cuda/common.h"
#include "cuda/gpu_kernels.h"
#include "cuda/gpu_nn_kernels.h"
#include "cuda/kernels/nn_loss.cuh"
#include "cuda/launch.h"

namespace glassbox::gpu {
std::pair<Tensor, Tensor> nll_loss(const Tensor& log_probs, const Tensor& target_in,
                                   int64_t ignore_index) {
  Tensor lp = log_probs.contiguous(), target = target_in.contiguous();
  const int64_t N = lp.size(0), C = lp.size(1), S = lp.size(2);
  Tensor loss = empty_on({N, S}, lp.dtype(), lp.device());
  Tensor count = empty_on({}, kInt64, lp.device());
  gpu::fill(count, 0.0);
  if (loss.numel() == 0) return {loss, count};
  GB_DISPATCH_FLOAT(lp.dtype(), "nll_loss", [&] {
    auto kernel = &nll_loss_kernel<scalar_t>;
    GB_LAUNCH(kernel, grid_for(N * S), kBlock, sizeof(int64_t) * (kBlock / 32), stream_of(lp), N, C,
              S, ptr_of<const scalar_t>(lp), ptr_of<const int64_t>(target), ignore_index,
              ptr_of<scalar_t>(loss), ptr_of<unsigned long long>(count));
  });
  return {loss, count};
}

Tensor nll_loss_backward(const Tensor& grad, const Tensor& target_in, int64_t num_classes,
                         int64_t ignore_index) {
  Tensor g = grad.contiguous(), target = target_in.contiguous();
  const int64_t N = target.size(0), C = num_classes, S = target.size(1);
  Tensor gi = empty_on({N, C, S}, g.dtype(), g.device());
  if (gi.numel() == 0) return gi;
  GB_DISPATCH_FLOAT(g.dtype(), "nll_loss backward", [&] {
    auto kernel = &nll_loss_backward_kernel<scalar_t>;
    GB_LAUNCH(kernel, grid_for(gi.numel()), kBlock, 0, stream_of(g), N, C, S,
              ptr_of<const scalar_t>(g), ptr_of<const int64_t>(target), ignore_index,
              ptr_of<scalar_t>(gi));
  });
  return gi;
}

}  // namespace glassbox::gpu
