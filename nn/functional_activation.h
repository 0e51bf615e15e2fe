#pragma once
// nn::functional: activations beyond relu/sigmoid/tanh (which are core ops, core/ops.h).
// Each is one element-wise kernel forward and one backward, on the CPU and CUDA; parameter
// names and defaults are PyTorch's. Implementations: autograd/functions/activation.cpp.
#include <string>

#include "core/tensor.h"

namespace glassbox::nn::functional {

// x * sigmoid(x)
Tensor silu(const Tensor& input);
// approximate "none": x/2 (1 + erf(x/sqrt2)); "tanh": x/2 (1 + tanh(sqrt(2/pi)(x + 0.044715x^3)))
Tensor gelu(const Tensor& input, const std::string& approximate = "none");
// x > 0 ? x : negative_slope * x
Tensor leaky_relu(const Tensor& input, double negative_slope = 0.01);
// x > 0 ? x : alpha * (e^x - 1)
Tensor elu(const Tensor& input, double alpha = 1.0);
// log(1 + e^(beta x)) / beta, or x where beta * x > threshold (for stability, as PyTorch)
Tensor softplus(const Tensor& input, double beta = 1.0, double threshold = 20.0);
// x clamped to [min_val, max_val]; the gradient is 0 at and beyond the bounds
Tensor hardtanh(const Tensor& input, double min_val = -1.0, double max_val = 1.0);
// x * tanh(softplus(x))
Tensor mish(const Tensor& input);

}  // namespace glassbox::nn::functional
