#include "nn/loss.h"

#include "nn/functional.h"
#include "nn/repr.h"

namespace glassbox::nn {

namespace {
// A loss keeps its own copy of the user's class weights: to() and clone() then change the
// module's buffer, never the caller's tensor or another loss built from the same one.
Tensor own_copy(const Tensor& t) { return t.defined() ? t.detach().clone() : Tensor(); }
}  // namespace

NLLLossImpl::NLLLossImpl(const NLLLossOptions& options) : options(options) {
  weight = register_buffer("weight", own_copy(options.weight()));
}
Tensor NLLLossImpl::forward(const Tensor& input, const Tensor& target) {
  return detail::with_module_errors(*this, [&] {
    return functional::nll_loss(input, target, options.reduction(), options.ignore_index(), weight);
  });
}

CrossEntropyLossImpl::CrossEntropyLossImpl(const CrossEntropyLossOptions& options)
    : options(options) {
  weight = register_buffer("weight", own_copy(options.weight()));
}
Tensor CrossEntropyLossImpl::forward(const Tensor& input, const Tensor& target) {
  return detail::with_module_errors(*this, [&] {
    return functional::cross_entropy(input, target, options.reduction(), options.ignore_index(),
                                     weight, options.label_smoothing());
  });
}

MSELossImpl::MSELossImpl(const MSELossOptions& options) : options(options) {}
Tensor MSELossImpl::forward(const Tensor& input, const Tensor& target) {
  return detail::with_module_errors(
      *this, [&] { return functional::mse_loss(input, target, options.reduction()); });
}

BCELossImpl::BCELossImpl(const BCELossOptions& options) : options(options) {
  weight = register_buffer("weight", own_copy(options.weight()));
}
Tensor BCELossImpl::forward(const Tensor& input, const Tensor& target) {
  return detail::with_module_errors(*this, [&] {
    return functional::binary_cross_entropy(input, target, weight, options.reduction());
  });
}

BCEWithLogitsLossImpl::BCEWithLogitsLossImpl(const BCEWithLogitsLossOptions& options)
    : options(options) {
  weight = register_buffer("weight", own_copy(options.weight()));
  pos_weight = register_buffer("pos_weight", own_copy(options.pos_weight()));
}
Tensor BCEWithLogitsLossImpl::forward(const Tensor& input, const Tensor& target) {
  return detail::with_module_errors(*this, [&] {
    return functional::binary_cross_entropy_with_logits(input, target, weight, options.reduction(),
                                                        pos_weight);
  });
}

L1LossImpl::L1LossImpl(const L1LossOptions& options) : options(options) {}
Tensor L1LossImpl::forward(const Tensor& input, const Tensor& target) {
  return detail::with_module_errors(
      *this, [&] { return functional::l1_loss(input, target, options.reduction()); });
}

SmoothL1LossImpl::SmoothL1LossImpl(const SmoothL1LossOptions& options) : options(options) {}
Tensor SmoothL1LossImpl::forward(const Tensor& input, const Tensor& target) {
  return detail::with_module_errors(*this, [&] {
    return functional::smooth_l1_loss(input, target, options.reduction(), options.beta());
  });
}

HuberLossImpl::HuberLossImpl(const HuberLossOptions& options) : options(options) {}
Tensor HuberLossImpl::forward(const Tensor& input, const Tensor& target) {
  return detail::with_module_errors(*this, [&] {
    return functional::huber_loss(input, target, options.reduction(), options.delta());
  });
}

KLDivLossOptions::KLDivLossOptions(Reduction reduction)
    : reduction_(reduction == Reduction::None  ? KLDivReduction::None
                 : reduction == Reduction::Sum ? KLDivReduction::Sum
                                               : KLDivReduction::Mean) {}
KLDivLossImpl::KLDivLossImpl(const KLDivLossOptions& options) : options(options) {}
Tensor KLDivLossImpl::forward(const Tensor& input, const Tensor& target) {
  return detail::with_module_errors(*this, [&] {
    return functional::kl_div(input, target, options.reduction(), options.log_target());
  });
}

}  // namespace glassbox::nn
