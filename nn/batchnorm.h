#pragma once
// BatchNorm1d and BatchNorm2d, as torch::nn's: per-channel normalisation of [N, C] or
// [N, C, L] (1d) and [N, C, H, W] (2d) with learnable weight (1) and bias (0), and running
// statistics kept in buffers for eval mode. Both are one implementation (detail::BatchNormBase)
// that differs only in the input dims it accepts.
#include <cstdint>
#include <optional>
#include <ostream>

#include "nn/module.h"
#include "nn/options.h"

namespace glassbox::nn {

struct BatchNormOptions {
  BatchNormOptions(int64_t num_features) : num_features_(num_features) {}
  GB_ARG(int64_t, num_features);
  GB_ARG(double, eps) = 1e-5;
  // running = (1 - momentum) * running + momentum * batch; nullopt: cumulative average
  GB_ARG(std::optional<double>, momentum) = 0.1;
  GB_ARG(bool, affine) = true;  // learnable weight and bias
  // keep running_mean / running_var / num_batches_tracked; without them eval mode normalises
  // with the batch statistics too
  GB_ARG(bool, track_running_stats) = true;
};
using BatchNorm1dOptions = BatchNormOptions;
using BatchNorm2dOptions = BatchNormOptions;

namespace detail {
class BatchNormBase : public Module {
 public:
  void reset_running_stats();  // mean 0, var 1, count 0
  void reset_parameters();     // running stats, and weight 1, bias 0
  void pretty_print(std::ostream& os) const override;

  BatchNormOptions options;
  Tensor weight, bias;                                    // [C], when affine
  Tensor running_mean, running_var, num_batches_tracked;  // when track_running_stats

 protected:
  // `layer` names the module in constructor errors (name() is not final yet there)
  BatchNormBase(const BatchNormOptions& options, const char* layer);
  // updates the running statistics when training, then normalises (dims already checked)
  Tensor normalize(const Tensor& input);
};
}  // namespace detail

class BatchNorm1dImpl : public detail::BatchNormBase {
 public:
  explicit BatchNorm1dImpl(int64_t num_features)
      : BatchNorm1dImpl(BatchNorm1dOptions(num_features)) {}
  explicit BatchNorm1dImpl(const BatchNorm1dOptions& options)
      : BatchNormBase(options, "BatchNorm1d") {}
  // input [N, C] or [N, C, L]
  Tensor forward(const Tensor& input);
};
GB_MODULE(BatchNorm1d);

class BatchNorm2dImpl : public detail::BatchNormBase {
 public:
  explicit BatchNorm2dImpl(int64_t num_features)
      : BatchNorm2dImpl(BatchNorm2dOptions(num_features)) {}
  explicit BatchNorm2dImpl(const BatchNorm2dOptions& options)
      : BatchNormBase(options, "BatchNorm2d") {}
  // input [N, C, H, W]
  Tensor forward(const Tensor& input);
};
GB_MODULE(BatchNorm2d);

}  // namespace glassbox::nn
