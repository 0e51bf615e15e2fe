#pragma once
// CPU bodies of core/kernels_nn.h (same signatures; operands already on the CPU).
#include "core/kernels_nn.h"

namespace glassbox::cpu {
using kernels::Pool2d;

std::pair<Tensor, Tensor> max_pool2d(const Tensor& input, const Pool2d& p);
Tensor max_pool2d_backward(const Tensor& grad_out, const Tensor& indices, const Shape& input_shape);
Tensor avg_pool2d(const Tensor& input, const Pool2d& p);
Tensor avg_pool2d_backward(const Tensor& grad_out, const Shape& input_shape, const Pool2d& p);

Tensor softmax(const Tensor& input, int64_t dim, bool log);
Tensor softmax_backward(const Tensor& grad_out, const Tensor& out, int64_t dim, bool log);

std::pair<Tensor, Tensor> nll_loss(const Tensor& log_probs, const Tensor& target,
                                   int64_t ignore_index);
Tensor nll_loss_backward(const Tensor& grad, const Tensor& target, int64_t num_classes,
                         int64_t ignore_index);
// The first target value outside [0, C) that is not ignore_index, if any: {found, value}.
std::pair<bool, int64_t> nll_find_bad_target(const Tensor& target, int64_t num_classes,
                                             int64_t ignore_index);

std::pair<Tensor, Tensor> batch_norm_stats(const Tensor& input);
Tensor batch_norm_forward(const Tensor& input, const Tensor& mean, const Tensor& invstd,
                          const Tensor& weight, const Tensor& bias);
std::tuple<Tensor, Tensor, Tensor> batch_norm_backward(const Tensor& grad_out, const Tensor& input,
                                                       const Tensor& mean, const Tensor& invstd,
                                                       const Tensor& weight, bool batch_stats,
                                                       std::array<bool, 3> needed);

// resize (core/cpu/nn_resize.cpp / cuda/nn_resize.cu)
using kernels::Resize2d;
Tensor adaptive_avg_pool2d(const Tensor& input, std::array<int64_t, 2> out);
Tensor adaptive_avg_pool2d_backward(const Tensor& grad_out, const Shape& input_shape);
std::pair<Tensor, Tensor> adaptive_max_pool2d(const Tensor& input, std::array<int64_t, 2> out);
Tensor adaptive_max_pool2d_backward(const Tensor& grad_out, const Tensor& indices,
                                    const Shape& input_shape);
Tensor upsample2d(const Tensor& input, const Resize2d& r);
Tensor upsample2d_backward(const Tensor& grad_out, const Shape& input_shape, const Resize2d& r);

}  // namespace glassbox::cpu
