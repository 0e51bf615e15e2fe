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

 public:
  static constexpr const char* kOptimizer = "SGD";  // the optimizer these options are for
  Settings to_settings() const;  // lr, momentum, dampening, weight_decay, nesterov (0 or 1)
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
  // Parameter groups; `defaults` apply to the groups built without options.
  SGD(std::vector<ParamGroup> groups, const SGDOptions& defaults);
  void step() override;
  // A group's current options (lr reflects set_lr and load_settings).
  SGDOptions options(size_t group = 0) const;

 protected:
  std::vector<std::string> state_keys(const Settings& settings) const override;
  void check_settings(const Settings& settings) const override;
};

}  // namespace glassbox::optim
