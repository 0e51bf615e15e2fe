#pragma once
// Learning-rate schedulers: each step() advances one epoch and sets the optimizer's lr,
// giving the values of PyTorch 1.13's torch.optim.lr_scheduler epoch by epoch.
//
//   optim::SGD opt(params, optim::SGDOptions(0.1));
//   optim::StepLR sched(opt, /*step_size=*/30, /*gamma=*/0.1);
//   for (int epoch = 0; epoch < 90; ++epoch) { train_one_epoch(opt); sched.step(); }
#include <cstdint>

#include "optim/optimizer.h"

namespace glassbox::optim {

class LRScheduler {
 public:
  // Remembers the optimizer's current lr as the base lr; epoch 0 uses it unchanged. The
  // optimizer must outlive the scheduler.
  explicit LRScheduler(Optimizer& optimizer);
  virtual ~LRScheduler() = default;
  LRScheduler(const LRScheduler&) = delete;
  LRScheduler& operator=(const LRScheduler&) = delete;

  // Advances to the next epoch and sets the optimizer's lr for it.
  void step();
  double get_last_lr() const { return last_lr_; }  // the lr the last step() set (or the base)
  int64_t last_epoch() const { return last_epoch_; }
  double base_lr() const { return base_lr_; }

 protected:
  // The lr for `epoch` (>= 1), computed before the optimizer's lr is changed.
  virtual double compute_lr(int64_t epoch) const = 0;
  Optimizer& optimizer_;

 private:
  double base_lr_;
  int64_t last_epoch_ = 0;
  double last_lr_;
};

// Multiplies the lr by gamma every step_size epochs: base_lr * gamma^floor(epoch / step_size).
// Like PyTorch it does so on the optimizer's current lr (chainable), so a manual set_lr
// carries over.
class StepLR : public LRScheduler {
 public:
  StepLR(Optimizer& optimizer, int64_t step_size, double gamma = 0.1);

 protected:
  double compute_lr(int64_t epoch) const override;

 private:
  int64_t step_size_;
  double gamma_;
};

// Cosine annealing from the base lr down to eta_min over T_max epochs, then back up (period
// 2*T_max): eta_min + (base_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2. This closed
// form equals PyTorch's recursive update (which step() without an epoch uses) whenever nobody
// else changes the lr; it does not follow manual set_lr calls.
class CosineAnnealingLR : public LRScheduler {
 public:
  CosineAnnealingLR(Optimizer& optimizer, int64_t T_max, double eta_min = 0.0);

 protected:
  double compute_lr(int64_t epoch) const override;

 private:
  int64_t T_max_;
  double eta_min_;
};

}  // namespace glassbox::optim
