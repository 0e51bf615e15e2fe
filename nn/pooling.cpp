#include "nn/pooling.h"

#include "nn/functional.h"
#include "nn/repr.h"

namespace glassbox::nn {

Tensor MaxPool2dImpl::forward(const Tensor& input) {
  const auto& o = options;
  return detail::with_module_errors(*this, [&] {
    return functional::max_pool2d(input, *o.kernel_size(), *o.stride(), *o.padding(), *o.dilation(),
                                  o.ceil_mode());
  });
}

void MaxPool2dImpl::pretty_print(std::ostream& os) const {
  const auto& o = options;
  os << "MaxPool2d(kernel_size=" << detail::int_or_tuple(o.kernel_size())
     << ", stride=" << detail::int_or_tuple(o.stride())
     << ", padding=" << detail::int_or_tuple(o.padding())
     << ", dilation=" << detail::int_or_tuple(o.dilation())
     << ", ceil_mode=" << detail::py_bool(o.ceil_mode()) << ")";
}

Tensor AvgPool2dImpl::forward(const Tensor& input) {
  const auto& o = options;
  return detail::with_module_errors(*this, [&] {
    return functional::avg_pool2d(input, *o.kernel_size(), *o.stride(), *o.padding(), o.ceil_mode(),
                                  o.count_include_pad());
  });
}

void AvgPool2dImpl::pretty_print(std::ostream& os) const {
  const auto& o = options;
  os << "AvgPool2d(kernel_size=" << detail::int_or_tuple(o.kernel_size())
     << ", stride=" << detail::int_or_tuple(o.stride())
     << ", padding=" << detail::int_or_tuple(o.padding()) << ")";
}

Tensor AdaptiveAvgPool2dImpl::forward(const Tensor& input) {
  return detail::with_module_errors(
      *this, [&] { return functional::adaptive_avg_pool2d(input, *options.output_size()); });
}

void AdaptiveAvgPool2dImpl::pretty_print(std::ostream& os) const {
  os << "AdaptiveAvgPool2d(output_size=" << detail::int_or_tuple(options.output_size()) << ")";
}

Tensor AdaptiveMaxPool2dImpl::forward(const Tensor& input) {
  return forward_with_indices(input).first;
}

std::pair<Tensor, Tensor> AdaptiveMaxPool2dImpl::forward_with_indices(const Tensor& input) {
  std::pair<Tensor, Tensor> out;
  detail::with_module_errors(*this, [&] {
    out = functional::adaptive_max_pool2d_with_indices(input, *options.output_size());
    return out.first;
  });
  return out;
}

void AdaptiveMaxPool2dImpl::pretty_print(std::ostream& os) const {
  os << "AdaptiveMaxPool2d(output_size=" << detail::int_or_tuple(options.output_size()) << ")";
}

}  // namespace glassbox::nn
