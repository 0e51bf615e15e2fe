#pragma once
// Adam and AdamW: the updates of PyTorch 1.13's torch.optim.Adam and torch.optim.AdamW.
#include <string>
#include <tuple>
#include <vector>

#include "optim/optimizer.h"

namespace glassbox::optim {

using Betas = std::tuple<double, double>;  // (beta1, beta2), as in LibTorch

struct AdamOptions {
  explicit AdamOptions(double lr = 1e-3) : lr_(lr) {}
  GB_OPTIM_ARG(double, lr, 1e-3);
  GB_OPTIM_ARG(Betas, betas, std::make_tuple(0.9, 0.999));
  GB_OPTIM_ARG(double, eps, 1e-8);
  GB_OPTIM_ARG(double, weight_decay, 0.0);
  GB_OPTIM_ARG(bool, amsgrad, false);

 public:
  static constexpr const char* kOptimizer = "Adam";  // the optimizer these options are for
  Settings to_settings() const;  // lr, beta1, beta2, eps, weight_decay, amsgrad (0 or 1)
};

// Same options; only the default weight decay differs (0.01), and it is decoupled.
struct AdamWOptions {
  explicit AdamWOptions(double lr = 1e-3) : lr_(lr) {}
  GB_OPTIM_ARG(double, lr, 1e-3);
  GB_OPTIM_ARG(Betas, betas, std::make_tuple(0.9, 0.999));
  GB_OPTIM_ARG(double, eps, 1e-8);
  GB_OPTIM_ARG(double, weight_decay, 1e-2);
  GB_OPTIM_ARG(bool, amsgrad, false);

 public:
  static constexpr const char* kOptimizer = "AdamW";
  Settings to_settings() const;
};

namespace detail {
// The update both share. For every parameter p with gradient g, per step (t = its step count,
// counted per parameter, +1 each step() that finds its gradient):
//   Adam:   g = g + weight_decay * p              (L2 penalty in the gradient)
//   AdamW:  p = p * (1 - lr * weight_decay)       (decoupled decay, before the update)
//   m = beta1 * m + (1 - beta1) * g;   v = beta2 * v + (1 - beta2) * g * g
//   amsgrad: v_max = max(v_max, v), used instead of v below
//   p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
// State per parameter: "step", "exp_avg" (m), "exp_avg_sq" (v), "max_exp_avg_sq" (amsgrad).
class AdamBase : public Optimizer {
 protected:
  AdamBase(Settings defaults, const std::string& name, bool decoupled);
  void adam_step();

  std::vector<std::string> state_keys(const Settings& settings) const override;
  void check_settings(const Settings& settings) const override;

 private:
  bool decoupled_;  // AdamW
};
}  // namespace detail

class Adam : public detail::AdamBase {
 public:
  Adam(std::vector<Tensor> params, const AdamOptions& options = AdamOptions());
  // Parameter groups; `defaults` apply to the groups built without options.
  Adam(std::vector<ParamGroup> groups, const AdamOptions& defaults = AdamOptions());
  void step() override { adam_step(); }
  // A group's current options (lr reflects set_lr, all of them load_settings).
  AdamOptions options(size_t group = 0) const;
};

class AdamW : public detail::AdamBase {
 public:
  AdamW(std::vector<Tensor> params, const AdamWOptions& options = AdamWOptions());
  AdamW(std::vector<ParamGroup> groups, const AdamWOptions& defaults = AdamWOptions());
  void step() override { adam_step(); }
  AdamWOptions options(size_t group = 0) const;
};

}  // namespace glassbox::optim
