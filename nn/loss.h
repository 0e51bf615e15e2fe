#pragma once
// Loss modules: forward(input, target) -> the loss (a scalar unless reduction is None).
#include <cstdint>
#include <ostream>

#include "nn/module.h"
#include "nn/options.h"

namespace glassbox::nn {

struct NLLLossOptions {
  NLLLossOptions(Reduction reduction = Reduction::Mean) : reduction_(reduction) {}
  GB_ARG(Reduction, reduction);
  GB_ARG(int64_t, ignore_index) = -100;
};

// input: log-probabilities [N, C] or [N, C, d1, ...]; target: int64 classes [N] / [N, d1, ...]
class NLLLossImpl : public Module {
 public:
  explicit NLLLossImpl(const NLLLossOptions& options = {}) : options(options) {}
  Tensor forward(const Tensor& input, const Tensor& target);
  void pretty_print(std::ostream& os) const override;
  NLLLossOptions options;
};
GB_MODULE(NLLLoss);

struct CrossEntropyLossOptions {
  CrossEntropyLossOptions(Reduction reduction = Reduction::Mean) : reduction_(reduction) {}
  GB_ARG(Reduction, reduction);
  GB_ARG(int64_t, ignore_index) = -100;
};

// input: unnormalised logits; = NLLLoss(LogSoftmax(dim=1)(input), target)
class CrossEntropyLossImpl : public Module {
 public:
  explicit CrossEntropyLossImpl(const CrossEntropyLossOptions& options = {}) : options(options) {}
  Tensor forward(const Tensor& input, const Tensor& target);
  void pretty_print(std::ostream& os) const override;
  CrossEntropyLossOptions options;
};
GB_MODULE(CrossEntropyLoss);

struct MSELossOptions {
  MSELossOptions(Reduction reduction = Reduction::Mean) : reduction_(reduction) {}
  GB_ARG(Reduction, reduction);
};

class MSELossImpl : public Module {
 public:
  explicit MSELossImpl(const MSELossOptions& options = {}) : options(options) {}
  Tensor forward(const Tensor& input, const Tensor& target);
  void pretty_print(std::ostream& os) const override;
  MSELossOptions options;
};
GB_MODULE(MSELoss);

}  // namespace glassbox::nn
