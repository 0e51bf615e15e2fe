#pragma once
// LayerNorm and GroupNorm, as torch::nn's: per-sample normalisation (biased variance) with an
// optional learnable affine part, weight 1 and bias 0 at init. No running statistics, so
// train and eval mode compute the same thing.
#include <cstdint>
#include <ostream>
#include <vector>

#include "nn/module.h"
#include "nn/options.h"

namespace glassbox::nn {

struct LayerNormOptions {
  LayerNormOptions(std::vector<int64_t> normalized_shape)
      : normalized_shape_(std::move(normalized_shape)) {}
  GB_ARG(std::vector<int64_t>, normalized_shape);  // the trailing dims normalised over
  GB_ARG(double, eps) = 1e-5;
  GB_ARG(bool, elementwise_affine) = true;  // learnable weight and bias of normalized_shape
};

class LayerNormImpl : public Module {
 public:
  explicit LayerNormImpl(int64_t normalized_size)
      : LayerNormImpl(LayerNormOptions({normalized_size})) {}
  explicit LayerNormImpl(std::vector<int64_t> normalized_shape)
      : LayerNormImpl(LayerNormOptions(std::move(normalized_shape))) {}
  explicit LayerNormImpl(const LayerNormOptions& options);
  void reset_parameters();  // weight 1, bias 0
  // input [..., *normalized_shape] -> same shape
  Tensor forward(const Tensor& input);
  void pretty_print(std::ostream& os) const override;

  LayerNormOptions options;
  Tensor weight, bias;  // normalized_shape, when elementwise_affine
};
GB_MODULE(LayerNorm);

struct GroupNormOptions {
  GroupNormOptions(int64_t num_groups, int64_t num_channels)
      : num_groups_(num_groups), num_channels_(num_channels) {}
  GB_ARG(int64_t, num_groups);
  GB_ARG(int64_t, num_channels);
  GB_ARG(double, eps) = 1e-5;
  GB_ARG(bool, affine) = true;  // learnable per-channel weight and bias
};

class GroupNormImpl : public Module {
 public:
  GroupNormImpl(int64_t num_groups, int64_t num_channels)
      : GroupNormImpl(GroupNormOptions(num_groups, num_channels)) {}
  explicit GroupNormImpl(const GroupNormOptions& options);
  void reset_parameters();  // weight 1, bias 0
  // input [N, num_channels, *] -> same shape
  Tensor forward(const Tensor& input);
  void pretty_print(std::ostream& os) const override;

  GroupNormOptions options;
  Tensor weight, bias;  // [num_channels], when affine
};
GB_MODULE(GroupNorm);

}  // namespace glassbox::nn
