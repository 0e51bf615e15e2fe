#pragma once
// Upsample, as torch::nn::Upsample: F::interpolate with fixed options.
//   nn::Upsample up(nn::UpsampleOptions().scale_factor(2));       // nearest, x2
//   nn::Upsample bl(nn::UpsampleOptions().size({32, 48}).mode(nn::kBilinear)
//                       .align_corners(true));
// The adaptive pools (AdaptiveAvgPool2d, AdaptiveMaxPool2d) are in nn/pooling.h.
#include <cstdint>
#include <optional>
#include <ostream>
#include <utility>
#include <vector>

#include "nn/functional.h"
#include "nn/module.h"

namespace glassbox::nn {

// Exactly one of size and scale_factor; each one number for both dims or one per dim.
struct UpsampleOptions {
  UpsampleOptions& size(int64_t s) { return size(std::vector<int64_t>{s, s}); }
  UpsampleOptions& size(std::vector<int64_t> s) {
    size_ = std::move(s);
    return *this;
  }
  UpsampleOptions& scale_factor(double s) { return scale_factor(std::vector<double>{s, s}); }
  UpsampleOptions& scale_factor(std::vector<double> s) {
    scale_factor_ = std::move(s);
    return *this;
  }
  UpsampleOptions& mode(functional::InterpolateMode m) {
    mode_ = m;
    return *this;
  }
  UpsampleOptions& align_corners(bool a) {  // bilinear only
    align_corners_ = a;
    return *this;
  }
  const std::optional<std::vector<int64_t>>& size() const { return size_; }
  const std::optional<std::vector<double>>& scale_factor() const { return scale_factor_; }
  functional::InterpolateMode mode() const { return mode_; }
  const std::optional<bool>& align_corners() const { return align_corners_; }

 private:
  std::optional<std::vector<int64_t>> size_;
  std::optional<std::vector<double>> scale_factor_;
  functional::InterpolateMode mode_ = functional::InterpolateMode::Nearest;
  std::optional<bool> align_corners_;
};

class UpsampleImpl : public Module {
 public:
  explicit UpsampleImpl(const UpsampleOptions& options = {}) : options(options) {}
  // input [N, C, H, W]
  Tensor forward(const Tensor& input);
  // "Upsample(scale_factor=2.0, mode=nearest)", as PyTorch's repr
  void pretty_print(std::ostream& os) const override;
  UpsampleOptions options;
};
GB_MODULE(Upsample);

}  // namespace glassbox::nn
