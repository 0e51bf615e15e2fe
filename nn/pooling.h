#pragma once
// MaxPool2d and AvgPool2d, as torch::nn's (stride defaults to kernel_size), and the adaptive
// pools, which choose their windows to give a fixed output size whatever the input's:
//   nn::AdaptiveAvgPool2d gap(1);                // [N, C, H, W] -> [N, C, 1, 1]
//   nn::AdaptiveMaxPool2d pool(nn::AdaptiveMaxPool2dOptions({2, 3}));
//   auto [values, indices] = pool->forward_with_indices(x);
#include <ostream>
#include <utility>

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

struct AdaptiveAvgPool2dOptions {
  AdaptiveAvgPool2dOptions(ExpandingArray<2> output_size) : output_size_(output_size) {}
  GB_ARG(ExpandingArray<2>, output_size);
};

// input [N, C, H, W] or [C, H, W] -> [..., oH, oW] (F::adaptive_avg_pool2d's bins)
class AdaptiveAvgPool2dImpl : public Module {
 public:
  AdaptiveAvgPool2dImpl(ExpandingArray<2> output_size)
      : AdaptiveAvgPool2dImpl(AdaptiveAvgPool2dOptions(output_size)) {}
  explicit AdaptiveAvgPool2dImpl(const AdaptiveAvgPool2dOptions& options) : options(options) {}
  Tensor forward(const Tensor& input);
  void pretty_print(std::ostream& os) const override;
  AdaptiveAvgPool2dOptions options;
};
GB_MODULE(AdaptiveAvgPool2d);

struct AdaptiveMaxPool2dOptions {
  AdaptiveMaxPool2dOptions(ExpandingArray<2> output_size) : output_size_(output_size) {}
  GB_ARG(ExpandingArray<2>, output_size);
};

class AdaptiveMaxPool2dImpl : public Module {
 public:
  AdaptiveMaxPool2dImpl(ExpandingArray<2> output_size)
      : AdaptiveMaxPool2dImpl(AdaptiveMaxPool2dOptions(output_size)) {}
  explicit AdaptiveMaxPool2dImpl(const AdaptiveMaxPool2dOptions& options) : options(options) {}
  Tensor forward(const Tensor& input);
  // values and int64 argmax indices (PyTorch's return_indices=True)
  std::pair<Tensor, Tensor> forward_with_indices(const Tensor& input);
  void pretty_print(std::ostream& os) const override;
  AdaptiveMaxPool2dOptions options;
};
GB_MODULE(AdaptiveMaxPool2d);

}  // namespace glassbox::nn
