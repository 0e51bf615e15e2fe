#include "nn/normalization.h"

#include "autograd/grad_mode.h"
#include "nn/functional.h"
#include "nn/init.h"
#include "nn/repr.h"

namespace glassbox::nn {

// ---------------------------------------------------------------- LayerNorm
LayerNormImpl::LayerNormImpl(const LayerNormOptions& opts) : options(opts) {
  const auto& shape = options.normalized_shape();
  GB_CHECK(!shape.empty(), "LayerNorm: normalized_shape must not be empty");
  std::string dims = "[";
  for (size_t i = 0; i < shape.size(); ++i) dims += (i ? "," : "") + std::to_string(shape[i]);
  for (int64_t d : shape)
    GB_CHECK(d > 0, "LayerNorm: normalized_shape ", dims, "] must have positive sizes");
  GB_CHECK(options.eps() >= 0.0, "LayerNorm: eps must be non-negative, got ", options.eps());
  const bool affine = options.elementwise_affine();
  weight = register_parameter("weight", affine ? empty(shape) : Tensor(), affine);
  bias = register_parameter("bias", affine ? empty(shape) : Tensor(), affine);
  reset_parameters();
}

void LayerNormImpl::reset_parameters() {
  if (!options.elementwise_affine()) return;
  init::ones_(weight);
  init::zeros_(bias);
}

Tensor LayerNormImpl::forward(const Tensor& input) {
  return detail::with_module_errors(*this, [&] {
    return functional::layer_norm(input, options.normalized_shape(), weight, bias, options.eps());
  });
}

void LayerNormImpl::pretty_print(std::ostream& os) const {
  // PyTorch prints normalized_shape as a Python tuple: (64,) or (3, 4)
  const auto& s = options.normalized_shape();
  os << "LayerNorm((";
  for (size_t i = 0; i < s.size(); ++i) os << (i ? ", " : "") << s[i];
  os << (s.size() == 1 ? ",)" : ")") << ", eps=" << detail::py_float(options.eps())
     << ", elementwise_affine=" << detail::py_bool(options.elementwise_affine()) << ")";
}

// ---------------------------------------------------------------- GroupNorm
GroupNormImpl::GroupNormImpl(const GroupNormOptions& opts) : options(opts) {
  const int64_t G = options.num_groups(), C = options.num_channels();
  GB_CHECK(G > 0, "GroupNorm: num_groups must be positive, got ", G);
  GB_CHECK(C > 0 && C % G == 0, "GroupNorm: num_channels ", C,
           " must be a positive multiple of num_groups ", G);
  GB_CHECK(options.eps() >= 0.0, "GroupNorm: eps must be non-negative, got ", options.eps());
  const bool affine = options.affine();
  weight = register_parameter("weight", affine ? empty({C}) : Tensor(), affine);
  bias = register_parameter("bias", affine ? empty({C}) : Tensor(), affine);
  reset_parameters();
}

void GroupNormImpl::reset_parameters() {
  if (!options.affine()) return;
  init::ones_(weight);
  init::zeros_(bias);
}

Tensor GroupNormImpl::forward(const Tensor& input) {
  GB_CHECK(input.defined() && input.dim() >= 2 && input.size(1) == options.num_channels(),
           to_string(), ": expected input [N, ", options.num_channels(), ", *], got ",
           input.shape_str());
  return detail::with_module_errors(*this, [&] {
    return functional::group_norm(input, options.num_groups(), weight, bias, options.eps());
  });
}

void GroupNormImpl::pretty_print(std::ostream& os) const {
  os << "GroupNorm(" << options.num_groups() << ", " << options.num_channels()
     << ", eps=" << detail::py_float(options.eps())
     << ", affine=" << detail::py_bool(options.affine()) << ")";
}

}  // namespace glassbox::nn
