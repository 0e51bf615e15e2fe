#include "nn/activation.h"

#include <cmath>

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

Tensor SiLUImpl::forward(const Tensor& input) {
  return detail::with_module_errors(*this, [&] { return functional::silu(input); });
}
Tensor MishImpl::forward(const Tensor& input) {
  return detail::with_module_errors(*this, [&] { return functional::mish(input); });
}

Tensor GELUImpl::forward(const Tensor& input) {
  return detail::with_module_errors(*this,
                                    [&] { return functional::gelu(input, options.approximate()); });
}
void GELUImpl::pretty_print(std::ostream& os) const {
  os << "GELU(approximate='" << options.approximate() << "')";
}

Tensor LeakyReLUImpl::forward(const Tensor& input) {
  return detail::with_module_errors(
      *this, [&] { return functional::leaky_relu(input, options.negative_slope()); });
}
void LeakyReLUImpl::pretty_print(std::ostream& os) const {
  os << "LeakyReLU(negative_slope=" << detail::py_float(options.negative_slope()) << ")";
}

Tensor ELUImpl::forward(const Tensor& input) {
  return detail::with_module_errors(*this, [&] { return functional::elu(input, options.alpha()); });
}
void ELUImpl::pretty_print(std::ostream& os) const {
  os << "ELU(alpha=" << detail::py_float(options.alpha()) << ")";
}

Tensor SoftplusImpl::forward(const Tensor& input) {
  return detail::with_module_errors(
      *this, [&] { return functional::softplus(input, options.beta(), options.threshold()); });
}
// PyTorch's defaults are the Python ints 1 and 20, so whole values print without ".0"
static std::string py_number(double v) {
  if (std::isfinite(v) && v == std::floor(v) && std::abs(v) < 1e15)
    return std::to_string(static_cast<long long>(v));
  return detail::py_float(v);
}
void SoftplusImpl::pretty_print(std::ostream& os) const {
  os << "Softplus(beta=" << py_number(options.beta())
     << ", threshold=" << py_number(options.threshold()) << ")";
}

HardtanhImpl::HardtanhImpl(const HardtanhOptions& options) : options(options) {
  GB_CHECK(options.max_val() >= options.min_val(), "Hardtanh: max_val (", options.max_val(),
           ") must not be less than min_val (", options.min_val(), ")");
}
Tensor HardtanhImpl::forward(const Tensor& input) {
  return detail::with_module_errors(
      *this, [&] { return functional::hardtanh(input, options.min_val(), options.max_val()); });
}
void HardtanhImpl::pretty_print(std::ostream& os) const {
  os << "Hardtanh(min_val=" << detail::py_float(options.min_val())
     << ", max_val=" << detail::py_float(options.max_val()) << ")";
}

}  // namespace glassbox::nn
