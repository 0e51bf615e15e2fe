#pragma once
// nn::functional: adaptive pooling and upsampling (interpolate), as PyTorch 1.13's.
//
//   Tensor y = F::adaptive_avg_pool2d(x, {1, 1});            // global average pool
//   auto [v, idx] = F::adaptive_max_pool2d_with_indices(x, 3);
//   Tensor z = F::interpolate(x, F::InterpolateFuncOptions().scale_factor(2.0)
//                                    .mode(nn::kBilinear).align_corners(false));
// Everything here is differentiable and runs on the CPU and CUDA.
#include <array>
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace glassbox::nn::functional {

// ---------------------------------------------------------------- adaptive pooling
// input [N, C, H, W] or [C, H, W] -> [..., oH, oW]. Output row oh pools input rows
// [floor(oh * H / oH), ceil((oh + 1) * H / oH)), columns likewise: bins of uneven size that
// overlap by one where oH does not divide H, exactly PyTorch's.
Tensor adaptive_avg_pool2d(const Tensor& input, std::array<int64_t, 2> output_size);
inline Tensor adaptive_avg_pool2d(const Tensor& input, int64_t output_size) {
  return adaptive_avg_pool2d(input, {output_size, output_size});
}
// The maximum of each bin (the first on ties; a NaN wins).
Tensor adaptive_max_pool2d(const Tensor& input, std::array<int64_t, 2> output_size);
inline Tensor adaptive_max_pool2d(const Tensor& input, int64_t output_size) {
  return adaptive_max_pool2d(input, {output_size, output_size});
}
// Also returns the argmax of each bin as int64 h * W + w within its plane, as PyTorch's
// return_indices=True.
std::pair<Tensor, Tensor> adaptive_max_pool2d_with_indices(const Tensor& input,
                                                           std::array<int64_t, 2> output_size);
inline std::pair<Tensor, Tensor> adaptive_max_pool2d_with_indices(const Tensor& input,
                                                                  int64_t output_size) {
  return adaptive_max_pool2d_with_indices(input, {output_size, output_size});
}

// ---------------------------------------------------------------- interpolate
enum class InterpolateMode { Nearest, Bilinear };
const char* mode_name(InterpolateMode mode);  // "nearest", "bilinear"

// What F::interpolate resizes to and how, LibTorch's InterpolateFuncOptions. Give exactly one
// of size (the output's H and W) and scale_factor (output = floor(input * scale_factor)).
struct InterpolateFuncOptions {
  // one value for both spatial dims, or one per dim
  InterpolateFuncOptions& size(int64_t s) { return size(std::vector<int64_t>{s, s}); }
  InterpolateFuncOptions& size(std::vector<int64_t> s) {
    size_ = std::move(s);
    return *this;
  }
  InterpolateFuncOptions& scale_factor(double s) { return scale_factor(std::vector<double>{s, s}); }
  InterpolateFuncOptions& scale_factor(std::vector<double> s) {
    scale_factor_ = std::move(s);
    return *this;
  }
  InterpolateFuncOptions& mode(InterpolateMode m) {
    mode_ = m;
    return *this;
  }
  // bilinear only (unset means false, as PyTorch's None). true: the corner pixels' centres
  // of input and output line up; false: their outer edges do.
  InterpolateFuncOptions& align_corners(bool a) {
    align_corners_ = a;
    return *this;
  }
  // With a scale_factor, PyTorch's kernels place samples with 1 / scale_factor unless this is
  // true, in which case they use input / output size (what a size argument would give).
  InterpolateFuncOptions& recompute_scale_factor(bool r) {
    recompute_scale_factor_ = r;
    return *this;
  }
  const std::optional<std::vector<int64_t>>& size() const { return size_; }
  const std::optional<std::vector<double>>& scale_factor() const { return scale_factor_; }
  InterpolateMode mode() const { return mode_; }
  const std::optional<bool>& align_corners() const { return align_corners_; }
  const std::optional<bool>& recompute_scale_factor() const { return recompute_scale_factor_; }

 private:
  std::optional<std::vector<int64_t>> size_;
  std::optional<std::vector<double>> scale_factor_;
  InterpolateMode mode_ = InterpolateMode::Nearest;
  std::optional<bool> align_corners_;
  std::optional<bool> recompute_scale_factor_;
};

// input [N, C, H, W] -> [N, C, oH, oW]. nearest: source index floor(dst * in / out) (PyTorch's
// legacy "nearest"); bilinear: the align_corners rules above.
Tensor interpolate(const Tensor& input, const InterpolateFuncOptions& options = {});

}  // namespace glassbox::nn::functional

namespace glassbox::nn {
// LibTorch spells the modes torch::kNearest, torch::kBilinear.
inline constexpr functional::InterpolateMode kNearest = functional::InterpolateMode::Nearest;
inline constexpr functional::InterpolateMode kBilinear = functional::InterpolateMode::Bilinear;
}  // namespace glassbox::nn
