// The activations of nn::functional (SiLU, GELU, LeakyReLU, ELU, Softplus, Hardtanh, Mish):
// each forward is one Unary kernel, each backward multiplies the incoming gradient by the
// derivative kernel of the same kind at the saved input (formulas: core/activation_math.h).
#include <cmath>
#include <limits>
#include <string>

#include "autograd/node.h"
#include "core/kernels.h"
#include "core/ops.h"
#include "nn/functional_activation.h"

namespace glassbox::nn::functional {
using autograd::needs_grad;
using autograd::record;
using kernels::Unary;

namespace {
// out = f(x; p, q); d out/dx = g(x; p, q) with g the kernel `grad`.
Tensor pointwise(const char* backward_name, Unary fwd, Unary grad, const Tensor& x, double p = 0.0,
                 double q = 0.0) {
  GB_CHECK(x.defined(), kernels::unary_name(fwd), ": input is undefined");
  Tensor out = kernels::unary(fwd, x, p, q);
  if (needs_grad({x})) {
    Tensor sx = x.detach();
    record(backward_name, out, {x},
           [sx, grad, p, q](const Tensor& g) {
             return std::vector<Tensor>{g * kernels::unary(grad, sx, p, q)};
           },
           {x});
  }
  return out;
}
}  // namespace

Tensor silu(const Tensor& input) {
  return pointwise("SiluBackward", Unary::Silu, Unary::SiluGrad, input);
}

Tensor gelu(const Tensor& input, const std::string& approximate) {
  GB_CHECK(approximate == "none" || approximate == "tanh", "gelu: approximate must be \"none\" or ",
           "\"tanh\", got \"", approximate, "\" (input ", input.shape_str(), ")");
  if (approximate == "tanh")
    return pointwise("GeluBackward", Unary::GeluTanh, Unary::GeluTanhGrad, input);
  return pointwise("GeluBackward", Unary::Gelu, Unary::GeluGrad, input);
}

Tensor leaky_relu(const Tensor& input, double negative_slope) {
  GB_CHECK(std::isfinite(negative_slope), "leaky_relu: negative_slope must be finite, got ",
           negative_slope, " (input ", input.shape_str(), ")");
  return pointwise("LeakyReluBackward", Unary::LeakyRelu, Unary::LeakyReluGrad, input,
                   negative_slope);
}

Tensor elu(const Tensor& input, double alpha) {
  GB_CHECK(std::isfinite(alpha), "elu: alpha must be finite, got ", alpha, " (input ",
           input.shape_str(), ")");
  return pointwise("EluBackward", Unary::Elu, Unary::EluGrad, input, alpha);
}

Tensor softplus(const Tensor& input, double beta, double threshold) {
  GB_CHECK(beta != 0.0 && std::isfinite(beta), "softplus: beta must be finite and non-zero, got ",
           beta, " (input ", input.shape_str(), ")");
  return pointwise("SoftplusBackward", Unary::Softplus, Unary::SoftplusGrad, input, beta,
                   threshold);
}

// Hardtanh's gradient is 0 at the bounds themselves (PyTorch's choice), clamp's is 1.
Tensor hardtanh(const Tensor& input, double min_val, double max_val) {
  GB_CHECK(max_val >= min_val, "hardtanh: max_val (", max_val, ") must not be less than min_val (",
           min_val, "), input ", input.shape_str());
  return pointwise("HardtanhBackward", Unary::Clamp, Unary::InOpenRange, input, min_val, max_val);
}

Tensor mish(const Tensor& input) {
  return pointwise("MishBackward", Unary::Mish, Unary::MishGrad, input);
}

}  // namespace glassbox::nn::functional
