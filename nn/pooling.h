#pragma once
// MaxPool2d and AvgPool2d, as torch::nn's. stride defaults to kernel_size.
#include <ostream>

#include "nn/module.h"
#include "nn/options.h"

namespace glassbox::nn {

struct MaxPool2dOptions {
  MaxPool2dOptions(ExpandingArray<2> kernel_size)
      : kernel_size_(kernel_size), stride_(kernel_size) {}
  GB_ARG(ExpandingArray<2>, kernel_size);
  GB_ARG(ExpandingArray<2>, stride);
  GB_ARG(ExpandingArray<2>, padding) = 0;
  GB_ARG(ExpandingArray<2>, dilation) = 1;
  GB_ARG(bool, ceil_mode) = false;
};

class MaxPool2dImpl : public Module {
 public:
  MaxPool2dImpl(ExpandingArray<2> kernel_size) : MaxPool2dImpl(MaxPool2dOptions(kernel_size)) {}
  explicit MaxPool2dImpl(const MaxPool2dOptions& options) : options(options) {}
  // [N, C, H, W] or [C, H, W]
  Tensor forward(const Tensor& input);
  void pretty_print(std::ostream& os) const override;
  MaxPool2dOptions options;
};
GB_MODULE(MaxPool2d);

struct AvgPool2dOptions {
  AvgPool2dOptions(ExpandingArray<2> kernel_size)
      : kernel_size_(kernel_size), stride_(kernel_size) {}
  GB_ARG(ExpandingArray<2>, kernel_size);
  GB_ARG(ExpandingArray<2>, stride);
  GB_ARG(ExpandingArray<2>, padding) = 0;
  GB_ARG(bool, ceil_mode) = false;
  GB_ARG(bool, count_include_pad) = true;
};

class AvgPool2dImpl : public Module {
 public:
  AvgPool2dImpl(ExpandingArray<2> kernel_size) : AvgPool2dImpl(AvgPool2dOptions(kernel_size)) {}
  explicit AvgPool2dImpl(const AvgPool2dOptions& options) : options(options) {}
  Tensor forward(const Tensor& input);
  void pretty_print(std::ostream& os) const override;
  AvgPool2dOptions options;
};
GB_MODULE(AvgPool2d);

}  // namespace glassbox::nn
