#include "nn/activation.h"

#include "core/ops.h"
#include "nn/functional.h"
#include "nn/repr.h"

namespace glassbox::nn {

Tensor ReLUImpl::forward(const Tensor& input) {
  return detail::with_module_errors(*this, [&] { return relu(input); });
}
Tensor SigmoidImpl::forward(const Tensor& input) {
  return detail::with_module_errors(*this, [&] { return sigmoid(input); });
}
Tensor TanhImpl::forward(const Tensor& input) {
  return detail::with_module_errors(*this, [&] { return tanh(input); });
}

Tensor SoftmaxImpl::forward(const Tensor& input) {
  return detail::with_module_errors(*this,
                                    [&] { return functional::softmax(input, options.dim()); });
}
void SoftmaxImpl::pretty_print(std::ostream& os) const {
  os << "Softmax(dim=" << options.dim() << ")";
}

Tensor LogSoftmaxImpl::forward(const Tensor& input) {
  return detail::with_module_errors(*this,
                                    [&] { return functional::log_softmax(input, options.dim()); });
}
void LogSoftmaxImpl::pretty_print(std::ostream& os) const {
  os << "LogSoftmax(dim=" << options.dim() << ")";
}

}  // namespace glassbox::nn
