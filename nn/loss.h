#pragma once
// Loss modules: forward(input, target) -> the loss (a scalar unless reduction is None), with
// LibTorch-style options (`CrossEntropyLossOptions().weight(w).label_smoothing(0.1)`). The
// math and the shapes each accepts: nn/functional_loss.h. Class weights and pos_weight are
// registered as buffers ("weight", "pos_weight"), as PyTorch does, so Module::to moves them
// and state_dict saves them. The buffer is the module's own copy: to() and clone() never
// change the tensor the options were given (nor another loss built from it).
#include <cstdint>
#include <ostream>

#include "nn/module.h"
#include "nn/options.h"

namespace glassbox::nn {

using functional::KLDivReduction;

// Declares the module class Name##Impl with the usual members: options, forward, pretty_print.
#define GB_LOSS_MODULE(Name, ...)                                            \
  class Name##Impl : public Module {                                         \
   public:                                                                   \
    explicit Name##Impl(const Name##Options& options = {});                  \
    Tensor forward(const Tensor& input, const Tensor& target);               \
    void pretty_print(std::ostream& os) const override { os << #Name "()"; } \
    Name##Options options;                                                   \
    __VA_ARGS__                                                              \
  };                                                                         \
  GB_MODULE(Name)

struct NLLLossOptions {
  NLLLossOptions(Reduction reduction = Reduction::Mean) : reduction_(reduction) {}
  GB_ARG(Reduction, reduction);
  GB_ARG(int64_t, ignore_index) = -100;
  GB_ARG(Tensor, weight);  // [C] per-class weights, or undefined
};
// input: log-probabilities [N, C] or [N, C, d1, ...]; target: int64 classes [N] / [N, d1, ...]
GB_LOSS_MODULE(NLLLoss, Tensor weight;);

struct CrossEntropyLossOptions {
  CrossEntropyLossOptions(Reduction reduction = Reduction::Mean) : reduction_(reduction) {}
  GB_ARG(Reduction, reduction);
  GB_ARG(int64_t, ignore_index) = -100;
  GB_ARG(Tensor, weight);                 // [C] per-class weights, or undefined
  GB_ARG(double, label_smoothing) = 0.0;  // in [0, 1]
};
// input: unnormalised logits; = NLLLoss(LogSoftmax(dim=1)(input), target) without smoothing
GB_LOSS_MODULE(CrossEntropyLoss, Tensor weight;);

struct MSELossOptions {
  MSELossOptions(Reduction reduction = Reduction::Mean) : reduction_(reduction) {}
  GB_ARG(Reduction, reduction);
};
GB_LOSS_MODULE(MSELoss, );

struct BCELossOptions {
  BCELossOptions(Reduction reduction = Reduction::Mean) : reduction_(reduction) {}
  GB_ARG(Reduction, reduction);
  GB_ARG(Tensor, weight);  // broadcasts to the input's shape, or undefined
};
// input: probabilities in [0, 1]
GB_LOSS_MODULE(BCELoss, Tensor weight;);

struct BCEWithLogitsLossOptions {
  BCEWithLogitsLossOptions(Reduction reduction = Reduction::Mean) : reduction_(reduction) {}
  GB_ARG(Reduction, reduction);
  GB_ARG(Tensor, weight);      // broadcasts to the input's shape, or undefined
  GB_ARG(Tensor, pos_weight);  // e.g. [C] for input [N, C]: the weight of the positives
};
// input: logits (stable for any magnitude)
GB_LOSS_MODULE(BCEWithLogitsLoss, Tensor weight; Tensor pos_weight;);

struct L1LossOptions {
  L1LossOptions(Reduction reduction = Reduction::Mean) : reduction_(reduction) {}
  GB_ARG(Reduction, reduction);
};
GB_LOSS_MODULE(L1Loss, );

struct SmoothL1LossOptions {
  SmoothL1LossOptions(Reduction reduction = Reduction::Mean) : reduction_(reduction) {}
  GB_ARG(Reduction, reduction);
  GB_ARG(double, beta) = 1.0;
};
GB_LOSS_MODULE(SmoothL1Loss, );

struct HuberLossOptions {
  HuberLossOptions(Reduction reduction = Reduction::Mean) : reduction_(reduction) {}
  GB_ARG(Reduction, reduction);
  GB_ARG(double, delta) = 1.0;
};
GB_LOSS_MODULE(HuberLoss, );

struct KLDivLossOptions {
  KLDivLossOptions(KLDivReduction reduction = KLDivReduction::Mean) : reduction_(reduction) {}
  KLDivLossOptions(Reduction reduction);
  GB_ARG(KLDivReduction, reduction);  // BatchMean is the KL divergence; Mean is element-wise
  GB_ARG(bool, log_target) = false;
};
// input: log-probabilities; target: probabilities (log-probabilities with log_target)
GB_LOSS_MODULE(KLDivLoss, );

#undef GB_LOSS_MODULE

}  // namespace glassbox::nn
