#include "nn/dropout.h"

#include "nn/functional.h"
#include "nn/repr.h"

namespace glassbox::nn {

DropoutImpl::DropoutImpl(const DropoutOptions& opts) : options(opts) {
  GB_CHECK(options.p() >= 0.0 && options.p() <= 1.0,
           "Dropout: probability has to be between 0 and 1, but got ", options.p());
}

Tensor DropoutImpl::forward(const Tensor& input) {
  return detail::with_module_errors(
      *this, [&] { return functional::dropout(input, options.p(), is_training()); });
}

void DropoutImpl::pretty_print(std::ostream& os) const {
  os << "Dropout(p=" << detail::py_float(options.p()) << ", inplace=False)";
}

Dropout2dImpl::Dropout2dImpl(const Dropout2dOptions& opts) : options(opts) {
  GB_CHECK(options.p() >= 0.0 && options.p() <= 1.0,
           "Dropout2d: probability has to be between 0 and 1, but got ", options.p());
}

Tensor Dropout2dImpl::forward(const Tensor& input) {
  return detail::with_module_errors(
      *this, [&] { return functional::dropout2d(input, options.p(), is_training()); });
}

void Dropout2dImpl::pretty_print(std::ostream& os) const {
  os << "Dropout2d(p=" << detail::py_float(options.p()) << ", inplace=False)";
}

}  // namespace glassbox::nn
