#include "nn/batchnorm.h"

#include "autograd/grad_mode.h"
#include "nn/functional.h"
#include "nn/init.h"
#include "nn/repr.h"

namespace glassbox::nn {
namespace detail {

BatchNormBase::BatchNormBase(const BatchNormOptions& opts, const char* layer) : options(opts) {
  const int64_t C = options.num_features();
  GB_CHECK(C > 0, layer, ": num_features must be positive, got ", C);
  if (options.affine()) {
    weight = register_parameter("weight", empty({C}));
    bias = register_parameter("bias", empty({C}));
  } else {
    weight = register_parameter("weight", Tensor(), false);
    bias = register_parameter("bias", Tensor(), false);
  }
  if (options.track_running_stats()) {
    running_mean = register_buffer("running_mean", zeros({C}));
    running_var = register_buffer("running_var", ones({C}));
    num_batches_tracked = register_buffer("num_batches_tracked", zeros({}, dtype(kInt64)));
  } else {
    running_mean = register_buffer("running_mean", Tensor());
    running_var = register_buffer("running_var", Tensor());
    num_batches_tracked = register_buffer("num_batches_tracked", Tensor());
  }
  reset_parameters();
}

void BatchNormBase::reset_running_stats() {
  if (!options.track_running_stats()) return;
  NoGradGuard no_record;
  running_mean.zero_();
  running_var.fill_(1.0);
  num_batches_tracked.zero_();
}

void BatchNormBase::reset_parameters() {
  reset_running_stats();
  if (options.affine()) {
    init::ones_(weight);
    init::zeros_(bias);
  }
}

Tensor BatchNormBase::normalize(const Tensor& input) {
  double factor = options.momentum().value_or(0.0);
  if (is_training() && options.track_running_stats()) {
    NoGradGuard no_record;
    num_batches_tracked.add_(1.0);
    if (!options.momentum())  // cumulative moving average
      factor = 1.0 / double(num_batches_tracked.item<int64_t>());
  }
  // without running statistics, eval mode normalises with the batch's own statistics
  const bool use_batch_stats = is_training() || !options.track_running_stats();
  return with_module_errors(*this, [&] {
    return functional::batch_norm(input, running_mean, running_var, weight, bias, use_batch_stats,
                                  factor, options.eps());
  });
}

void BatchNormBase::pretty_print(std::ostream& os) const {
  const auto& o = options;
  os << name() << "(" << o.num_features() << ", eps=" << py_float(o.eps())
     << ", momentum=" << (o.momentum() ? py_float(*o.momentum()) : std::string("None"))
     << ", affine=" << py_bool(o.affine())
     << ", track_running_stats=" << py_bool(o.track_running_stats()) << ")";
}

}  // namespace detail

Tensor BatchNorm1dImpl::forward(const Tensor& input) {
  const int64_t C = options.num_features();
  GB_CHECK(input.defined() && (input.dim() == 2 || input.dim() == 3), to_string(),
           ": expected a 2-D [N, ", C, "] or 3-D [N, ", C, ", L] input, got ",
           input.defined() ? input.shape_str() : std::string("undefined"));
  GB_CHECK(input.size(1) == C, to_string(), ": expected input with ", C, " channels ([N, ", C,
           "] or [N, ", C, ", L]), got ", input.shape_str());
  return normalize(input);
}

Tensor BatchNorm2dImpl::forward(const Tensor& input) {
  const int64_t C = options.num_features();
  GB_CHECK(input.defined() && input.dim() == 4, to_string(), ": expected a 4-D input [N, ", C,
           ", H, W], got ", input.defined() ? input.shape_str() : std::string("undefined"));
  GB_CHECK(input.size(1) == C, to_string(), ": expected input with ", C, " channels ([N, ", C,
           ", H, W]), got ", input.shape_str());
  return normalize(input);
}

}  // namespace glassbox::nn
