#include "nn/loss.h"

#include "nn/functional.h"
#include "nn/repr.h"

namespace glassbox::nn {

Tensor NLLLossImpl::forward(const Tensor& input, const Tensor& target) {
  return detail::with_module_errors(*this, [&] {
    return functional::nll_loss(input, target, options.reduction(), options.ignore_index());
  });
}
void NLLLossImpl::pretty_print(std::ostream& os) const { os << "NLLLoss()"; }

Tensor CrossEntropyLossImpl::forward(const Tensor& input, const Tensor& target) {
  return detail::with_module_errors(*this, [&] {
    return functional::cross_entropy(input, target, options.reduction(), options.ignore_index());
  });
}
void CrossEntropyLossImpl::pretty_print(std::ostream& os) const { os << "CrossEntropyLoss()"; }

Tensor MSELossImpl::forward(const Tensor& input, const Tensor& target) {
  return detail::with_module_errors(
      *this, [&] { return functional::mse_loss(input, target, options.reduction()); });
}
void MSELossImpl::pretty_print(std::ostream& os) const { os << "MSELoss()"; }

}  // namespace glassbox::nn
