#pragma once
// CUDA bodies of core/kernels_nn.h (same signatures as core/cpu/nn_kernels.h; operands are
// already on one CUDA device, checked by core/kernels_nn.cpp). Results are allocated on that
// device and the work is queued on its stream; nothing reads a value back to the host (the
// target check is a deferred check, cuda/checks.h).
#include "core/kernels_nn.h"

namespace glassbox::gpu {
using kernels::Pool2d;

std::pair<Tensor, Tensor> max_pool2d(const Tensor& input, const Pool2d& p);
// A deterministic gather, bit for bit the CPU's sums (kernels/nn_pool.cuh).
Tensor max_pool2d_backward(const Tensor& grad_out, const Tensor& indices, const Shape& input_shape,
                           const Pool2d& p);
Tensor avg_pool2d(const Tensor& input, const Pool2d& p);
Tensor avg_pool2d_backward(const Tensor& grad_out, const Shape& input_shape, const Pool2d& p);

Tensor softmax(const Tensor& input, int64_t dim, bool log);
Tensor softmax_backward(const Tensor& grad_out, const Tensor& out, int64_t dim, bool log);

std::pair<Tensor, Tensor> nll_loss(const Tensor& log_probs, const Tensor& target,
                                   int64_t ignore_index);
Tensor nll_loss_backward(const Tensor& grad, const Tensor& target, int64_t num_classes,
                         int64_t ignore_index);

std::pair<Tensor, Tensor> batch_norm_stats(const Tensor& input);
Tensor batch_norm_forward(const Tensor& input, const Tensor& mean, const Tensor& invstd,
                          const Tensor& weight, const Tensor& bias);
std::tuple<Tensor, Tensor, Tensor> batch_norm_backward(const Tensor& grad_out, const Tensor& input,
                                                       const Tensor& mean, const Tensor& invstd,
                                                       const Tensor& weight, bool batch_stats,
                                                       std::array<bool, 3> needed);

// resize (cuda/nn_resize.cu; the backward passes are deterministic gathers)
using kernels::Resize2d;
Tensor adaptive_avg_pool2d(const Tensor& input, std::array<int64_t, 2> out);
Tensor adaptive_avg_pool2d_backward(const Tensor& grad_out, const Shape& input_shape);
std::pair<Tensor, Tensor> adaptive_max_pool2d(const Tensor& input, std::array<int64_t, 2> out);
Tensor adaptive_max_pool2d_backward(const Tensor& grad_out, const Tensor& indices,
                                    const Shape& input_shape);
Tensor upsample2d(const Tensor& input, const Resize2d& r);
Tensor upsample2d_backward(const Tensor& grad_out, const Shape& input_shape, const Resize2d& r);

}  // namespace glassbox::gpu
