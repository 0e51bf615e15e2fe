#pragma once
// Conv2d and ConvTranspose2d, as torch::nn's (zero padding). Both compute through
// nn::functional::conv2d / conv_transpose2d; `algo` forces a convolution algorithm for one
// layer (Auto uses the global default, see functional.h).
#include <cstdint>
#include <initializer_list>
#include <ostream>
#include <string>

#include "nn/module.h"
#include "nn/options.h"

namespace glassbox::nn {

// Padding tags, as torch::kSame / torch::kValid.
struct SamePadding {};
struct ValidPadding {};
inline constexpr SamePadding kSame{};
inline constexpr ValidPadding kValid{};

// Conv2d's padding: a number, one per dim ({1, 2}), "same" or "valid" (or kSame / kValid).
class ConvPadding {
 public:
  enum class Mode { Explicit, Same, Valid };
  ConvPadding(int p) : values_(int64_t(p)) {}
  ConvPadding(int64_t p) : values_(p) {}
  ConvPadding(std::initializer_list<int64_t> p) : values_(p) {}
  ConvPadding(const ExpandingArray<2>& p) : values_(p) {}
  ConvPadding(SamePadding) : mode_(Mode::Same) {}
  ConvPadding(ValidPadding) : mode_(Mode::Valid) {}
  ConvPadding(const char* s) : ConvPadding(std::string(s)) {}
  ConvPadding(const std::string& s);

  Mode mode() const { return mode_; }
  const ExpandingArray<2>& values() const { return values_; }  // Explicit mode only

 private:
  Mode mode_ = Mode::Explicit;
  ExpandingArray<2> values_ = int64_t(0);
};

struct Conv2dOptions {
  Conv2dOptions(int64_t in_channels, int64_t out_channels, ExpandingArray<2> kernel_size)
      : in_channels_(in_channels), out_channels_(out_channels), kernel_size_(kernel_size) {}
  GB_ARG(int64_t, in_channels);
  GB_ARG(int64_t, out_channels);
  GB_ARG(ExpandingArray<2>, kernel_size);
  GB_ARG(ExpandingArray<2>, stride) = 1;
  GB_ARG(ConvPadding, padding) = 0;
  GB_ARG(ExpandingArray<2>, dilation) = 1;
  GB_ARG(int64_t, groups) = 1;
  GB_ARG(bool, bias) = true;
  GB_ARG(ConvAlgo, algo) = ConvAlgo::Auto;
};

// input [N, C_in, H, W] (or unbatched [C_in, H, W]) -> [N, C_out, H', W'].
// weight [C_out, C_in/groups, kH, kW] and bias [C_out] start as U(-b, b), b = 1/sqrt(fan_in),
// fan_in = C_in/groups * kH * kW, like PyTorch.
class Conv2dImpl : public Module {
 public:
  Conv2dImpl(int64_t in_channels, int64_t out_channels, ExpandingArray<2> kernel_size)
      : Conv2dImpl(Conv2dOptions(in_channels, out_channels, kernel_size)) {}
  explicit Conv2dImpl(const Conv2dOptions& options);
  void reset_parameters();
  Tensor forward(const Tensor& input);
  void pretty_print(std::ostream& os) const override;
  // The functional parameters this layer calls conv2d with ("same" resolved to explicit,
  // possibly asymmetric, padding: the extra row/column goes bottom/right, as in PyTorch).
  functional::ConvParams params() const;

  Conv2dOptions options;
  Tensor weight, bias;
};
GB_MODULE(Conv2d);

struct ConvTranspose2dOptions {
  ConvTranspose2dOptions(int64_t in_channels, int64_t out_channels, ExpandingArray<2> kernel_size)
      : in_channels_(in_channels), out_channels_(out_channels), kernel_size_(kernel_size) {}
  GB_ARG(int64_t, in_channels);
  GB_ARG(int64_t, out_channels);
  GB_ARG(ExpandingArray<2>, kernel_size);
  GB_ARG(ExpandingArray<2>, stride) = 1;
  GB_ARG(ExpandingArray<2>, padding) = 0;
  GB_ARG(ExpandingArray<2>, output_padding) = 0;
  GB_ARG(int64_t, groups) = 1;
  GB_ARG(bool, bias) = true;
  GB_ARG(ExpandingArray<2>, dilation) = 1;
  GB_ARG(ConvAlgo, algo) = ConvAlgo::Auto;
};

// The adjoint of Conv2d: H' = (H - 1) * stride - 2 * padding + dilation * (k - 1) +
// output_padding + 1. weight [C_in, C_out/groups, kH, kW]; PyTorch computes its init fan_in
// from weight.size(1) * kH * kW, and so does glassbox.
class ConvTranspose2dImpl : public Module {
 public:
  ConvTranspose2dImpl(int64_t in_channels, int64_t out_channels, ExpandingArray<2> kernel_size)
      : ConvTranspose2dImpl(ConvTranspose2dOptions(in_channels, out_channels, kernel_size)) {}
  explicit ConvTranspose2dImpl(const ConvTranspose2dOptions& options);
  void reset_parameters();
  Tensor forward(const Tensor& input);
  void pretty_print(std::ostream& os) const override;
  functional::ConvParams params() const;

  ConvTranspose2dOptions options;
  Tensor weight, bias;
};
GB_MODULE(ConvTranspose2d);

}  // namespace glassbox::nn
