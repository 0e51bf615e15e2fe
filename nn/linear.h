#pragma once
// Linear, Flatten and Identity, as torch::nn's.
#include <cstdint>
#include <ostream>

#include "nn/module.h"
#include "nn/options.h"

namespace glassbox::nn {

struct LinearOptions {
  LinearOptions(int64_t in_features, int64_t out_features)
      : in_features_(in_features), out_features_(out_features) {}
  GB_ARG(int64_t, in_features);
  GB_ARG(int64_t, out_features);
  GB_ARG(bool, bias) = true;
};

// y = x W^T + b. weight [out, in] and bias [out] start as U(-1/sqrt(in), 1/sqrt(in)), like
// PyTorch (kaiming_uniform with a = sqrt(5)).
class LinearImpl : public Module {
 public:
  LinearImpl(int64_t in_features, int64_t out_features)
      : LinearImpl(LinearOptions(in_features, out_features)) {}
  explicit LinearImpl(const LinearOptions& options);
  void reset_parameters();
  // input [..., in_features] -> [..., out_features]
  Tensor forward(const Tensor& input);
  void pretty_print(std::ostream& os) const override;

  LinearOptions options;
  Tensor weight, bias;  // bias undefined when options.bias() is false
};
GB_MODULE(Linear);

struct FlattenOptions {
  GB_ARG(int64_t, start_dim) = 1;
  GB_ARG(int64_t, end_dim) = -1;
};

// Merges dims start_dim..end_dim into one (keeps the batch dim by default).
class FlattenImpl : public Module {
 public:
  explicit FlattenImpl(const FlattenOptions& options = {}) : options(options) {}
  Tensor forward(const Tensor& input);
  void pretty_print(std::ostream& os) const override;
  FlattenOptions options;
};
GB_MODULE(Flatten);

class IdentityImpl : public Module {
 public:
  Tensor forward(const Tensor& input) { return input; }
};
GB_MODULE(Identity);

}  // namespace glassbox::nn
