#pragma once
// nn::utils: gradient clipping, as torch.nn.utils.clip_grad_norm_ / clip_grad_value_ and
// LibTorch's torch::nn::utils. Parameters may live on the CPU or CUDA devices (mixed too);
// parameters without a gradient are skipped. The gradients are changed in place, without
// recording.
//
//   loss.backward();
//   double norm = nn::utils::clip_grad_norm_(net->parameters(), /*max_norm=*/1.0);
//   optimizer.step();
#include <vector>

#include "core/tensor.h"

namespace glassbox::nn::utils {

// Scales every gradient by min(1, max_norm / (total_norm + 1e-6)), where total_norm is the
// norm_type-norm of all gradients together (the norm of the per-parameter norms; inf: the
// largest magnitude). Returns total_norm, before clipping (0 when no parameter has a
// gradient). norm_type must be > 0 or inf; max_norm >= 0. A total norm that is inf or nan
// is an Error when error_if_nonfinite, else it is used as PyTorch does (the gradients
// become 0 or nan).
double clip_grad_norm_(const std::vector<Tensor>& parameters, double max_norm,
                       double norm_type = 2.0, bool error_if_nonfinite = false);
double clip_grad_norm_(const Tensor& parameter, double max_norm, double norm_type = 2.0,
                       bool error_if_nonfinite = false);

// Clamps every gradient element to [-clip_value, clip_value] (clip_value >= 0).
void clip_grad_value_(const std::vector<Tensor>& parameters, double clip_value);
void clip_grad_value_(const Tensor& parameter, double clip_value);

}  // namespace glassbox::nn::utils
