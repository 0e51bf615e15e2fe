#include "nn/conv.h"

#include <cmath>

#include "nn/functional.h"
#include "nn/init.h"
#include "nn/repr.h"

namespace glassbox::nn {

ConvPadding::ConvPadding(const std::string& s) {
  if (s == "same") {
    mode_ = Mode::Same;
  } else if (s == "valid") {
    mode_ = Mode::Valid;
  } else {
    fail(str("Conv2d: padding must be a number, a pair, \"same\" or \"valid\", got \"", s, "\""));
  }
}

namespace {

// Shared checks of both convolution layers, naming the layer.
void check_conv_options(const char* layer, int64_t in, int64_t out, int64_t groups,
                        const ExpandingArray<2>& kernel, const ExpandingArray<2>& stride,
                        const ExpandingArray<2>& dilation) {
  GB_CHECK(in > 0 && out > 0, layer, ": in_channels and out_channels must be positive, got ", in,
           " and ", out);
  GB_CHECK(groups > 0, layer, ": groups must be positive, got ", groups);
  GB_CHECK(in % groups == 0, layer, ": in_channels ", in, " must be divisible by groups ", groups);
  GB_CHECK(out % groups == 0, layer, ": out_channels ", out, " must be divisible by groups ",
           groups);
  for (size_t i = 0; i < 2; ++i) {
    GB_CHECK(kernel[i] > 0, layer, ": kernel_size must be positive, got ", kernel);
    GB_CHECK(stride[i] > 0, layer, ": stride must be positive, got ", stride);
    GB_CHECK(dilation[i] > 0, layer, ": dilation must be positive, got ", dilation);
  }
}

// weight U(-b, b) with b = 1/sqrt(fan_in) (kaiming_uniform, a = sqrt(5)); bias the same bound
void reset_conv(Tensor& weight, Tensor& bias) {
  init::kaiming_uniform_(weight, std::sqrt(5.0));
  if (bias.defined()) {
    const int64_t fan_in = init::calculate_fan_in_and_fan_out(weight).first;
    const double bound = fan_in > 0 ? 1.0 / std::sqrt(double(fan_in)) : 0.0;
    init::uniform_(bias, -bound, bound);
  }
}

void check_conv_input(const Module& m, const Tensor& input, int64_t in_channels,
                      const Tensor& weight) {
  GB_CHECK(input.defined() && (input.dim() == 3 || input.dim() == 4), m.to_string(),
           ": expected a 4-D input [N, ", in_channels, ", H, W] (or 3-D [", in_channels,
           ", H, W]), got ", input.shape_str());
  GB_CHECK(input.size(-3) == in_channels, m.to_string(), ": expected input with ", in_channels,
           " channels ([N, ", in_channels, ", H, W]), got ", input.shape_str(), " with ",
           input.size(-3), " channels (weight ", weight.shape_str(), ")");
}

}  // namespace

// ---------------------------------------------------------------- Conv2d
Conv2dImpl::Conv2dImpl(const Conv2dOptions& opts) : options(opts) {
  const auto& o = options;
  check_conv_options("Conv2d", o.in_channels(), o.out_channels(), o.groups(), o.kernel_size(),
                     o.stride(), o.dilation());
  if (o.padding().mode() == ConvPadding::Mode::Same)
    GB_CHECK(o.stride()[0] == 1 && o.stride()[1] == 1,
             "Conv2d: padding='same' is not supported for strided convolutions (stride ",
             o.stride(), ")");
  if (o.padding().mode() == ConvPadding::Mode::Explicit)
    GB_CHECK(o.padding().values()[0] >= 0 && o.padding().values()[1] >= 0,
             "Conv2d: padding must be non-negative, got ", o.padding().values());
  weight = register_parameter("weight", empty({o.out_channels(), o.in_channels() / o.groups(),
                                               o.kernel_size()[0], o.kernel_size()[1]}));
  bias = o.bias() ? register_parameter("bias", empty({o.out_channels()}))
                  : register_parameter("bias", Tensor(), false);
  reset_parameters();
}

void Conv2dImpl::reset_parameters() { reset_conv(weight, bias); }

F::ConvParams Conv2dImpl::params() const {
  const auto& o = options;
  F::ConvParams p;
  p.set_stride(o.stride()[0], o.stride()[1])
      .set_dilation(o.dilation()[0], o.dilation()[1])
      .set_groups(o.groups())
      .set_algo(o.algo());
  switch (o.padding().mode()) {
    case ConvPadding::Mode::Explicit:
      p.set_padding(o.padding().values()[0], o.padding().values()[1]);
      break;
    case ConvPadding::Mode::Valid:
      p.set_padding(0);
      break;
    case ConvPadding::Mode::Same:
      // total dilation * (k - 1); PyTorch puts the odd extra on the bottom / right
      for (int i = 0; i < 2; ++i) {
        const int64_t total = o.dilation()[i] * (o.kernel_size()[i] - 1);
        p.padding[2 * i] = total / 2;
        p.padding[2 * i + 1] = total - total / 2;
      }
      break;
  }
  return p;
}

Tensor Conv2dImpl::forward(const Tensor& input) {
  check_conv_input(*this, input, options.in_channels(), weight);
  return detail::with_module_errors(*this, [&] {
    if (input.dim() == 3) return F::conv2d(input.unsqueeze(0), weight, bias, params()).squeeze(0);
    return F::conv2d(input, weight, bias, params());
  });
}

void Conv2dImpl::pretty_print(std::ostream& os) const {
  const auto& o = options;
  os << "Conv2d(" << o.in_channels() << ", " << o.out_channels()
     << ", kernel_size=" << o.kernel_size() << ", stride=" << o.stride();
  switch (o.padding().mode()) {
    case ConvPadding::Mode::Explicit:
      if (o.padding().values() != ExpandingArray<2>(0)) os << ", padding=" << o.padding().values();
      break;
    case ConvPadding::Mode::Same:
      os << ", padding=same";
      break;
    case ConvPadding::Mode::Valid:
      os << ", padding=valid";
      break;
  }
  if (o.dilation() != ExpandingArray<2>(1)) os << ", dilation=" << o.dilation();
  if (o.groups() != 1) os << ", groups=" << o.groups();
  if (!o.bias()) os << ", bias=False";
  os << ")";
}

// ---------------------------------------------------------------- ConvTranspose2d
ConvTranspose2dImpl::ConvTranspose2dImpl(const ConvTranspose2dOptions& opts) : options(opts) {
  const auto& o = options;
  check_conv_options("ConvTranspose2d", o.in_channels(), o.out_channels(), o.groups(),
                     o.kernel_size(), o.stride(), o.dilation());
  for (size_t i = 0; i < 2; ++i) {
    GB_CHECK(o.padding()[i] >= 0, "ConvTranspose2d: padding must be non-negative, got ",
             o.padding());
    GB_CHECK(o.output_padding()[i] >= 0 &&
                 (o.output_padding()[i] < o.stride()[i] || o.output_padding()[i] < o.dilation()[i]),
             "ConvTranspose2d: output_padding must be smaller than either stride or dilation, got "
             "output_padding ",
             o.output_padding(), ", stride ", o.stride(), ", dilation ", o.dilation());
  }
  weight = register_parameter("weight", empty({o.in_channels(), o.out_channels() / o.groups(),
                                               o.kernel_size()[0], o.kernel_size()[1]}));
  bias = o.bias() ? register_parameter("bias", empty({o.out_channels()}))
                  : register_parameter("bias", Tensor(), false);
  reset_parameters();
}

void ConvTranspose2dImpl::reset_parameters() { reset_conv(weight, bias); }

F::ConvParams ConvTranspose2dImpl::params() const {
  const auto& o = options;
  F::ConvParams p;
  p.set_stride(o.stride()[0], o.stride()[1])
      .set_padding(o.padding()[0], o.padding()[1])
      .set_output_padding(o.output_padding()[0], o.output_padding()[1])
      .set_dilation(o.dilation()[0], o.dilation()[1])
      .set_groups(o.groups())
      .set_algo(o.algo());
  return p;
}

Tensor ConvTranspose2dImpl::forward(const Tensor& input) {
  check_conv_input(*this, input, options.in_channels(), weight);
  return detail::with_module_errors(*this, [&] {
    if (input.dim() == 3)
      return F::conv_transpose2d(input.unsqueeze(0), weight, bias, params()).squeeze(0);
    return F::conv_transpose2d(input, weight, bias, params());
  });
}

void ConvTranspose2dImpl::pretty_print(std::ostream& os) const {
  const auto& o = options;
  os << "ConvTranspose2d(" << o.in_channels() << ", " << o.out_channels()
     << ", kernel_size=" << o.kernel_size() << ", stride=" << o.stride();
  if (o.padding() != ExpandingArray<2>(0)) os << ", padding=" << o.padding();
  if (o.dilation() != ExpandingArray<2>(1)) os << ", dilation=" << o.dilation();
  if (o.output_padding() != ExpandingArray<2>(0)) os << ", output_padding=" << o.output_padding();
  if (o.groups() != 1) os << ", groups=" << o.groups();
  if (!o.bias()) os << ", bias=False";
  os << ")";
}

}  // namespace glassbox::nn
