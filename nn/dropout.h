#pragma once
// Dropout (and Dropout2d below): while training, zeroes each element with probability p and scales
// the rest by 1/(1-p); the identity in eval mode. Masks come from glassbox's default generator, so
// manual_seed makes them reproducible.
#include <ostream>

#include "nn/module.h"
#include "nn/options.h"

namespace glassbox::nn {

struct DropoutOptions {
  DropoutOptions(double p = 0.5) : p_(p) {}
  GB_ARG(double, p);
};

class DropoutImpl : public Module {
 public:
  explicit DropoutImpl(double p) : DropoutImpl(DropoutOptions(p)) {}
  explicit DropoutImpl(const DropoutOptions& options = {});
  Tensor forward(const Tensor& input);
  void pretty_print(std::ostream& os) const override;
  DropoutOptions options;
};
GB_MODULE(Dropout);

// Dropout2d: while training, zeroes whole channels of [N, C, H, W] or [C, H, W] (each with
// probability p, one draw per channel) and scales the rest by 1/(1-p); the identity in eval.
using Dropout2dOptions = DropoutOptions;

class Dropout2dImpl : public Module {
 public:
  explicit Dropout2dImpl(double p) : Dropout2dImpl(Dropout2dOptions(p)) {}
  explicit Dropout2dImpl(const Dropout2dOptions& options = {});
  Tensor forward(const Tensor& input);
  void pretty_print(std::ostream& os) const override;
  Dropout2dOptions options;
};
GB_MODULE(Dropout2d);

}  // namespace glassbox::nn
