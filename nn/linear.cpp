#include "nn/linear.h"

#include <cmath>

#include "autograd/grad_mode.h"
#include "nn/functional.h"
#include "nn/init.h"
#include "nn/repr.h"

namespace glassbox::nn {

LinearImpl::LinearImpl(const LinearOptions& opts) : options(opts) {
  GB_CHECK(options.in_features() >= 0 && options.out_features() >= 0,
           "Linear: in_features and out_features must be non-negative, got ", options.in_features(),
           " and ", options.out_features());
  weight = register_parameter("weight", empty({options.out_features(), options.in_features()}));
  bias = options.bias() ? register_parameter("bias", empty({options.out_features()}))
                        : register_parameter("bias", Tensor(), false);
  reset_parameters();
}

void LinearImpl::reset_parameters() {
  init::kaiming_uniform_(weight, std::sqrt(5.0));
  if (bias.defined()) {
    const int64_t fan_in = options.in_features();
    const double bound = fan_in > 0 ? 1.0 / std::sqrt(double(fan_in)) : 0.0;
    init::uniform_(bias, -bound, bound);
  }
}

Tensor LinearImpl::forward(const Tensor& input) {
  GB_CHECK(input.defined() && input.dim() >= 1 && input.size(-1) == options.in_features(),
           to_string(), ": expected an input [..., ", options.in_features(), "], got ",
           input.shape_str());
  return detail::with_module_errors(*this, [&] { return functional::linear(input, weight, bias); });
}

void LinearImpl::pretty_print(std::ostream& os) const {
  os << "Linear(in_features=" << options.in_features()
     << ", out_features=" << options.out_features() << ", bias=" << detail::py_bool(options.bias())
     << ")";
}

Tensor FlattenImpl::forward(const Tensor& input) {
  return detail::with_module_errors(
      *this, [&] { return input.flatten(options.start_dim(), options.end_dim()); });
}

void FlattenImpl::pretty_print(std::ostream& os) const {
  os << "Flatten(start_dim=" << options.start_dim() << ", end_dim=" << options.end_dim() << ")";
}

}  // namespace glassbox::nn
