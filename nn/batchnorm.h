#pragma once
// BatchNorm2d, as torch::nn's: per-channel normalisation of [N, C, H, W] with learnable
// weight (1) and bias (0), and running statistics kept in buffers for eval mode.
#include <cstdint>
#include <optional>
#include <ostream>

#include "nn/module.h"
#include "nn/options.h"

namespace glassbox::nn {

struct BatchNorm2dOptions {
  BatchNorm2dOptions(int64_t num_features) : num_features_(num_features) {}
  GB_ARG(int64_t, num_features);
  GB_ARG(double, eps) = 1e-5;
  // running = (1 - momentum) * running + momentum * batch; nullopt: cumulative average
  GB_ARG(std::optional<double>, momentum) = 0.1;
  GB_ARG(bool, affine) = true;  // learnable weight and bias
  // keep running_mean / running_var / num_batches_tracked; without them eval mode normalises
  // with the batch statistics too
  GB_ARG(bool, track_running_stats) = true;
};

class BatchNorm2dImpl : public Module {
 public:
  explicit BatchNorm2dImpl(int64_t num_features)
      : BatchNorm2dImpl(BatchNorm2dOptions(num_features)) {}
  explicit BatchNorm2dImpl(const BatchNorm2dOptions& options);
  void reset_running_stats();  // mean 0, var 1, count 0
  void reset_parameters();     // running stats, and weight 1, bias 0
  Tensor forward(const Tensor& input);
  void pretty_print(std::ostream& os) const override;

  BatchNorm2dOptions options;
  Tensor weight, bias;                                    // [C], when affine
  Tensor running_mean, running_var, num_batches_tracked;  // when track_running_stats
};
GB_MODULE(BatchNorm2d);

}  // namespace glassbox::nn
