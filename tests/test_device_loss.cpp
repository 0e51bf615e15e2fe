// The device-generic suite for the losses of nn/functional_loss.h: every loss, option and
// reduction on the device under test against the CPU, forward and backward (input and
// target gradients), through the harness of device_harness.h. The losses compose element-wise
// ops, reductions, index_select and the NLL kernel, so this checks that composition on the
// device: broadcast weights, the weighted mean's divisor, label smoothing with ignored
// targets, and huge logits.
#include "device_harness.h"

namespace {

namespace nnf = nn::functional;
using nnf::KLDivReduction;
using nnf::Reduction;

std::vector<Case> loss_cases() {
  std::vector<Case> c;
  const std::vector<std::pair<std::string, Reduction>> reductions = {
      {"none", Reduction::None}, {"mean", Reduction::Mean}, {"sum", Reduction::Sum}};
  for (const auto& [rname, red] : reductions) {
    const Reduction r = red;
    // probabilities through sigmoid, so the leaves are unconstrained
    c.push_back({"bce [7,5] weight [5] " + rname,
                 kFloats,
                 {{{7, 5}}, {{7, 5}}, {{5}, Init::Positive}},
                 [r](Inputs x) {
                   return nnf::binary_cross_entropy(sigmoid(x[0]), sigmoid(x[1]), x[2].detach(), r);
                 },
                 Kind::Reduce});
    c.push_back({"bce_with_logits [33,3] weight pos_weight " + rname,
                 kFloats,
                 {{{33, 3}}, {{33, 3}}, {{3}, Init::Positive}, {{3}, Init::Positive}},
                 [r](Inputs x) {
                   return nnf::binary_cross_entropy_with_logits(
                       x[0] * 4.0, sigmoid(x[1]), x[2].detach(), r, x[3].detach() * 2.0);
                 },
                 Kind::Reduce});
    c.push_back({"l1 [9,4] " + rname,
                 kFloats,
                 {{{9, 4}}, {{9, 4}}},
                 [r](Inputs x) { return nnf::l1_loss(x[0], x[1], r); },
                 Kind::Reduce});
    c.push_back({"smooth_l1 beta 0.5 [257] " + rname,
                 kFloats,
                 {{{257}}, {{257}}},
                 [r](Inputs x) { return nnf::smooth_l1_loss(x[0], x[1], r, 0.5); },
                 Kind::Reduce});
    c.push_back({"huber delta 0.7 [5,31] " + rname,
                 kFloats,
                 {{{5, 31}}, {{5, 31}}},
                 [r](Inputs x) { return nnf::huber_loss(x[0], x[1], r, 0.7); },
                 Kind::Reduce});
    c.push_back({"kl_div [4,6] " + rname,
                 kFloats,
                 {{{4, 6}}, {{4, 6}, Init::Positive}},
                 [r](Inputs x) { return nnf::kl_div(nnf::log_softmax(x[0], 1), x[1], r); },
                 Kind::Reduce});
    c.push_back({"kl_div log_target [4,6] " + rname,
                 kFloats,
                 {{{4, 6}}, {{4, 6}}},
                 [r](Inputs x) {
                   return nnf::kl_div(nnf::log_softmax(x[0], 1), nnf::log_softmax(x[1], 1), r,
                                      true);
                 },
                 Kind::Reduce});
    c.push_back({"nll_loss weight ignore -100 [4,5,3,2] " + rname,
                 kFloats,
                 {{{4, 5, 3, 2}}, idx({4, 3, 2}, 5), {{5}, Init::Positive}},
                 [r](Inputs x) {
                   return nnf::nll_loss(nnf::log_softmax(x[0], 1), with_ignored(x[1]), r, -100,
                                        x[2].detach());
                 },
                 Kind::Reduce});
    for (double ls : {0.0, 0.3}) {
      const std::string o = " ls " + std::to_string(ls).substr(0, 3) + " " + rname;
      c.push_back(
          {"cross_entropy weight ignore 2 [33,4]" + o,
           kFloats,
           {{{33, 4}}, idx({33}, 4), {{4}, Init::Positive}},
           [r, ls](Inputs x) { return nnf::cross_entropy(x[0], x[1], r, 2, x[2].detach(), ls); },
           Kind::Reduce});
      c.push_back({"cross_entropy ignore -100 [3,5,4,2]" + o,
                   kFloats,
                   {{{3, 5, 4, 2}}, idx({3, 4, 2}, 5)},
                   [r, ls](Inputs x) {
                     return nnf::cross_entropy(x[0], with_ignored(x[1]), r, -100, Tensor(), ls);
                   },
                   Kind::Reduce});
    }
  }
  c.push_back({"kl_div batchmean [5,7]",
               kFloats,
               {{{5, 7}}, {{5, 7}, Init::Positive}},
               [](Inputs x) {
                 return nnf::kl_div(nnf::log_softmax(x[0], 1), x[1], KLDivReduction::BatchMean);
               },
               Kind::Reduce});
  // |x| ~ 1e4: no overflow on either device, gradients exactly 0 or +-1
  c.push_back({"bce_with_logits huge logits [31]",
               kFloats,
               {{{31}}, {{31}}},
               [](Inputs x) {
                 return nnf::binary_cross_entropy_with_logits(x[0] * 1e4, sigmoid(x[1]), Tensor(),
                                                              Reduction::Sum);
               },
               Kind::Reduce});
  // 12800 elements: the weighted divisor adds up across many blocks
  c.push_back({"cross_entropy weight smoothing multi-block [8,3,40,40]",
               kFloats,
               {{{8, 3, 40, 40}}, idx({8, 40, 40}, 3), {{3}, Init::Positive}},
               [](Inputs x) {
                 return nnf::cross_entropy(x[0], x[1], Reduction::Mean, 1, x[2].detach(), 0.1);
               },
               Kind::Reduce});
  return c;
}

}  // namespace

TEST_SUITE("device_loss") {
  TEST_CASE("every loss, option and reduction matches the CPU") {
    if (!have_cuda("losses")) return;
    run_table("losses", loss_cases());
  }
}
