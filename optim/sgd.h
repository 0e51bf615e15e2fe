#pragma once
// Stochastic gradient descent with optional momentum, dampening, Nesterov momentum and L2
// weight decay; the update of PyTorch 1.13's torch.optim.SGD.
#include <string>
#include <vector>

#include "optim/optimizer.h"

namespace glassbox::optim {

struct SGDOptions {
  explicit SGDOptions(double lr) : lr_(lr) {}
  GB_OPTIM_ARG(double, lr, 0.0);
  GB_OPTIM_ARG(double, momentum, 0.0);
  GB_OPTIM_ARG(double, dampening, 0.0);
  GB_OPTIM_ARG(double, weight_decay, 0.0);
  GB_OPTIM_ARG(bool, nesterov, false);
};

// For every parameter p with gradient g, per step:
//   d = g + weight_decay * p
//   with momentum:  buf = d on the first step, else buf = momentum * buf + (1 - dampening) * d
//                   d = nesterov ? d + momentum * buf : buf
//   p -= lr * d
// State per parameter (momentum only): "momentum_buffer".
class SGD : public Optimizer {
 public:
  SGD(std::vector<Tensor> params, const SGDOptions& options);
  void step() override;
  SGDOptions options() const;  // lr reflects set_lr and load_settings
  // lr, momentum, dampening, weight_decay, nesterov (0 or 1)
  Settings settings() const override;

 protected:
  std::vector<std::string> state_keys(const Settings& settings) const override;
  void check_settings(const Settings& settings) const override;
  void apply_settings(const Settings& settings) noexcept override;

 private:
  SGDOptions options_;
};

}  // namespace glassbox::optim
