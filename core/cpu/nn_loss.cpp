// Negative log-likelihood: picks -log_probs[n, target[n, s], s] for every (n, s) and its
// backward, which puts -grad back at the same place. log_probs is viewed as [N, C, S]
// (S = the product of any trailing dims), target as [N, S].
#include "core/cpu/nn_kernels.h"
#include "core/parallel.h"

namespace glassbox::cpu {

std::pair<bool, int64_t> nll_find_bad_target(const Tensor& target, int64_t num_classes,
                                             int64_t ignore_index) {
  Tensor t = target.contiguous();
  const int64_t* tp = t.data_ptr<int64_t>();
  for (int64_t i = 0; i < t.numel(); ++i)
    if (tp[i] != ignore_index && (tp[i] < 0 || tp[i] >= num_classes)) return {true, tp[i]};
  return {false, 0};
}

std::pair<Tensor, Tensor> nll_loss(const Tensor& log_probs, const Tensor& target,
                                   int64_t ignore_index) {
  Tensor lp = log_probs.contiguous(), t = target.contiguous();
  const int64_t N = lp.size(0), C = lp.size(1), S = lp.size(2);
  Tensor loss = empty({N, S}, dtype(lp.dtype()));
  const int64_t* tp = t.data_ptr<int64_t>();
  int64_t count = 0;
  GB_DISPATCH_FLOAT(lp.dtype(), "nll_loss", [&] {
    const scalar_t* x = lp.data_ptr<scalar_t>();
    scalar_t* y = loss.data_ptr<scalar_t>();
    for (int64_t n = 0; n < N; ++n)
      for (int64_t s = 0; s < S; ++s) {
        const int64_t c = tp[n * S + s];
        if (c == ignore_index) {
          y[n * S + s] = scalar_t(0);
        } else {
          y[n * S + s] = -x[(n * C + c) * S + s];
          ++count;
        }
      }
  });
  return {loss, full({}, double(count), dtype(kInt64))};
}

Tensor nll_loss_backward(const Tensor& grad, const Tensor& target, int64_t num_classes,
                         int64_t ignore_index) {
  Tensor g = grad.contiguous(), t = target.contiguous();
  const int64_t N = t.size(0), C = num_classes, S = t.size(1);
  Tensor gi = zeros({N, C, S}, dtype(g.dtype()));
  const int64_t* tp = t.data_ptr<int64_t>();
  GB_DISPATCH_FLOAT(g.dtype(), "nll_loss backward", [&] {
    const scalar_t* gp = g.data_ptr<scalar_t>();
    scalar_t* dst = gi.data_ptr<scalar_t>();
    for (int64_t n = 0; n < N; ++n)
      for (int64_t s = 0; s < S; ++s) {
        const int64_t c = tp[n * S + s];
        if (c != ignore_index) dst[(n * C + c) * S + s] = -gp[n * S + s];
      }
  });
  return gi;
}

}  // namespace glassbox::cpu
