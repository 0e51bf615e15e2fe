// Negative log-likelihood on CUDA (kernels/nn_loss.cuh). Two values come back to the host,
// as the contract of core/kernels_nn.h asks: the count of targets that are not ignored (the
// divisor of the mean, an int64) and the verdict of the target check. Each costs one small
// device-to-host copy, which waits for the queued work.
#include <limits>

#include "cuda/common.h"
#include "cuda/gpu_nn_kernels.h"
#include "cuda/kernels/nn_loss.cuh"
#include "cuda/launch.h"
#include "cuda/runtime.h"

namespace glassbox::gpu {
namespace {

// A one-element device counter holding `value`.
Tensor device_u64(unsigned long long value, const Tensor& like) {
  Tensor t = empty_on({1}, kInt64, like.device());
  cuda::copy_host_to_device(t.raw_data(), &value, sizeof(value), device_of(like));
  return t;
}
unsigned long long read_u64(const Tensor& t) {
  unsigned long long v = 0;
  cuda::copy_device_to_host(&v, t.raw_data(), sizeof(v), device_of(t));
  return v;
}

}  // namespace

std::pair<bool, int64_t> nll_find_bad_target(const Tensor& target_in, int64_t num_classes,
                                             int64_t ignore_index) {
  Tensor target = target_in.contiguous();
  const int64_t n = target.numel();
  if (n == 0) return {false, 0};
  const unsigned long long none = std::numeric_limits<unsigned long long>::max();
  Tensor first_bad = device_u64(none, target);
  auto kernel = &nll_find_bad_target_kernel;
  GB_LAUNCH(kernel, grid_for(n), kBlock, 0, stream_of(target), n, ptr_of<const int64_t>(target),
            num_classes, ignore_index, ptr_of<unsigned long long>(first_bad));
  const unsigned long long pos = read_u64(first_bad);
  if (pos == none) return {false, 0};
  int64_t value = 0;
  cuda::copy_device_to_host(&value, ptr_of<const int64_t>(target) + pos, sizeof(value),
                            device_of(target));
  return {true, value};
}

std::pair<Tensor, int64_t> nll_loss(const Tensor& log_probs, const Tensor& target_in,
                                    int64_t ignore_index) {
  Tensor lp = log_probs.contiguous(), target = target_in.contiguous();
  const int64_t N = lp.size(0), C = lp.size(1), S = lp.size(2);
  Tensor loss = empty_on({N, S}, lp.dtype(), lp.device());
  if (loss.numel() == 0) return {loss, 0};
  Tensor count = device_u64(0, lp);
  GB_DISPATCH_FLOAT(lp.dtype(), "nll_loss", [&] {
    auto kernel = &nll_loss_kernel<scalar_t>;
    GB_LAUNCH(kernel, grid_for(N * S), kBlock, sizeof(int64_t) * (kBlock / 32), stream_of(lp), N, C,
              S, ptr_of<const scalar_t>(lp), ptr_of<const int64_t>(target), ignore_index,
              ptr_of<scalar_t>(loss), ptr_of<unsigned long long>(count));
  });
  return {loss, static_cast<int64_t>(read_u64(count))};
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
