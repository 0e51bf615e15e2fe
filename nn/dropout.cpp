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

}  // namespace glassbox::nn
