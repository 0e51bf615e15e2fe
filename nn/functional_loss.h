#pragma once
// nn::functional: losses, with PyTorch 1.13's formulas and reductions. Implementations in
// autograd/functions/loss.cpp (nll_loss's kernel: core/cpu/nn_loss.cpp, cuda/nn_loss.cu).
//
// Common rules: input and target share a dtype (floating, except class-index targets, which
// are int64) and, for the element-wise losses, a shape (PyTorch broadcasts some of them with
// a warning; glassbox refuses). Reduction::Mean divides by the number of elements, except
// where a loss says otherwise. Optional weights are undefined Tensors when not given; they
// are constants (no gradient), as in PyTorch.
#include <cstdint>

#include "core/tensor.h"
#include "nn/functional.h"  // Reduction

namespace glassbox::nn::functional {

// ---------------------------------------------------------------- classification
// log_probs [N, C] (or [C], or [N, C, d1, ...]), target int64 [N] (or [], [N, d1, ...]).
// weight: per-class [C]; each element's loss is -weight[target] * log_probs[target].
// Mean divides by the sum of the weights of the targets that are not ignore_index (their
// count when unweighted), as PyTorch does; all ignored gives 0 / 0 = NaN.
Tensor nll_loss(const Tensor& log_probs, const Tensor& target,
                Reduction reduction = Reduction::Mean, int64_t ignore_index = -100,
                const Tensor& weight = Tensor());
// nll_loss(log_softmax(logits, class dim), ...). label_smoothing in [0, 1] mixes in the
// uniform target: (1 - ls) * nll + ls / C * smooth, where smooth = -sum_c weight[c] *
// log_probs[c] per element (0 where ignored), reduced as PyTorch 1.13 does: Sum sums it,
// Mean divides it by the same divisor as the nll (the weight sum, or the count, of the
// targets that are not ignored).
Tensor cross_entropy(const Tensor& logits, const Tensor& target,
                     Reduction reduction = Reduction::Mean, int64_t ignore_index = -100,
                     const Tensor& weight = Tensor(), double label_smoothing = 0.0);

// input: probabilities in [0, 1]; target in [0, 1], same shape. Per element
//   -weight * (target * log(input) + (1 - target) * log(1 - input)),
// each log clamped at -100 (so input 0 or 1 gives a finite loss). weight broadcasts to the
// input's shape. The input gradient is PyTorch's weight * (x - y) / max(x (1 - x), 1e-12).
// On the CPU values outside [0, 1] throw; on a GPU they are not checked (NaN).
Tensor binary_cross_entropy(const Tensor& input, const Tensor& target,
                            const Tensor& weight = Tensor(), Reduction reduction = Reduction::Mean);
// input: logits. Per element, in a form that never overflows (|x| = 1e4 is fine):
//   weight * ((1 - y) x + (1 + (pos_weight - 1) y) * softplus(-x)),
//   softplus(-x) = log1p(exp(-|x|)) + max(-x, 0)
// pos_weight (e.g. [C] for input [N, C]) and weight broadcast to the input's shape.
Tensor binary_cross_entropy_with_logits(const Tensor& input, const Tensor& target,
                                        const Tensor& weight = Tensor(),
                                        Reduction reduction = Reduction::Mean,
                                        const Tensor& pos_weight = Tensor());

// ---------------------------------------------------------------- regression
Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean);
// |x - y|
Tensor l1_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean);
// 0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta (d = x - y); beta >= 0, 0 = l1_loss.
Tensor smooth_l1_loss(const Tensor& input, const Tensor& target,
                      Reduction reduction = Reduction::Mean, double beta = 1.0);
// 0.5 d^2 where |d| < delta, else delta (|d| - 0.5 delta); delta > 0. = delta * smooth_l1.
Tensor huber_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean,
                  double delta = 1.0);

// ---------------------------------------------------------------- divergence
// KL divergence with input = log-probabilities and target = probabilities (log-probabilities
// with log_target). Per element: target * (log(target) - input) (0 where target == 0), or
// exp(target) * (target - input) with log_target.
// BatchMean divides the sum by the batch size input.size(0): that is the KL divergence of
// each sample's distribution, averaged. Mean is PyTorch's element-wise mean (it divides by
// every element, classes too), which PyTorch warns is not the KL divergence; kept for parity.
enum class KLDivReduction { None, Mean, Sum, BatchMean };
Tensor kl_div(const Tensor& input, const Tensor& target,
              KLDivReduction reduction = KLDivReduction::Mean, bool log_target = false);
Tensor kl_div(const Tensor& input, const Tensor& target, Reduction reduction,
              bool log_target = false);

}  // namespace glassbox::nn::functional
