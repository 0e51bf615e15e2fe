#pragma once
// Learning-rate schedulers: each step() advances one epoch (or one batch, for OneCycleLR)
// and sets every parameter group's lr, giving the values of PyTorch 1.13's
// torch.optim.lr_scheduler epoch by epoch. Each group has its own base lr.
//
//   optim::SGD opt(params, optim::SGDOptions(0.1));
//   optim::StepLR sched(opt, /*step_size=*/30, /*gamma=*/0.1);
//   for (int epoch = 0; epoch < 90; ++epoch) { train_one_epoch(opt); sched.step(); }
//
// Like PyTorch, building a scheduler applies its epoch-0 lr (LinearLR starts at
// start_factor * lr at once), and the first scheduler built on an optimizer records each
// group's lr as its initial lr, which later schedulers (e.g. the parts of a SequentialLR)
// take as their base lrs. A scheduler's state (last epoch, base lrs, counters) is exported as
// name -> value, so checkpoints (nn/checkpoint.h) can resume it.
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "optim/optimizer.h"

namespace glassbox::optim {

using SchedulerState = std::map<std::string, double>;

// What every scheduler shares, ReduceLROnPlateau included: the optimizer, the epoch count,
// the base and last lrs (one per parameter group) and the state.
class SchedulerBase {
 public:
  virtual ~SchedulerBase() = default;
  SchedulerBase(const SchedulerBase&) = delete;
  SchedulerBase& operator=(const SchedulerBase&) = delete;

  const std::string& name() const { return name_; }  // "StepLR", ...
  Optimizer& optimizer() const { return optimizer_; }
  int64_t last_epoch() const { return last_epoch_; }
  const std::vector<double>& get_last_lr() const { return last_lr_; }  // one per group
  const std::vector<double>& base_lrs() const { return base_lrs_; }

  // "last_epoch", "base_lr.<group>", "last_lr.<group>" and what the scheduler adds
  // (ReduceLROnPlateau: "best", "num_bad_epochs", "cooldown_counter"; SequentialLR:
  // "child.<k>.<key>" for each of its schedulers). Options (gamma, T_max, ...) are not
  // state: they come from the constructor.
  SchedulerState state_dict() const;
  std::vector<std::string> state_keys() const;
  // Throws an Error naming the scheduler unless `state` has exactly state_keys() and each
  // value is in range (integers where counts are, lrs finite and >= 0).
  void check_state_dict(const SchedulerState& state) const;
  // check_state_dict, then applies it (nothing changes on error). Does not touch the
  // optimizer: its lrs come back with its own state.
  void load_state_dict(const SchedulerState& state);

 protected:
  // `base_lrs`: one per group of `optimizer` (the optimizer must outlive the scheduler).
  SchedulerBase(Optimizer& optimizer, std::string name, std::vector<double> base_lrs);
  // Throws unless the optimizer still has one group per base lr.
  void check_groups() const;
  // The optimizer's lrs, one per group.
  std::vector<double> current_lrs() const;
  // Sets every group's lr and remembers them as the last lrs.
  void apply_lrs(const std::vector<double>& lrs);
  virtual std::vector<std::string> extra_keys() const { return {}; }
  virtual void save_extra(SchedulerState& /*state*/) const {}
  virtual void check_extra(const SchedulerState& /*state*/) const {}
  virtual void load_extra(const SchedulerState& /*state*/) {}

  Optimizer& optimizer_;
  std::string name_;
  std::vector<double> base_lrs_, last_lr_;
  int64_t last_epoch_ = 0;
};

// The epoch-driven schedulers: step() advances last_epoch and sets get_lr()'s values.
class LRScheduler : public SchedulerBase {
 public:
  virtual void step();

 protected:
  // The base lrs are the groups' initial lrs (recorded now if no scheduler did before).
  LRScheduler(Optimizer& optimizer, std::string name);
  LRScheduler(Optimizer& optimizer, std::string name, std::vector<double> base_lrs);
  // The lrs for last_epoch_ (already advanced), as PyTorch's get_lr: chainable schedulers
  // read the optimizer's current lrs.
  virtual std::vector<double> get_lr() const = 0;
  // PyTorch's _get_closed_form_lr, used when jumping to an epoch (SequentialLR's milestones);
  // get_lr() where PyTorch has none.
  virtual std::vector<double> closed_form_lr() const { return get_lr(); }
  // The derived constructor's last act, PyTorch's _initial_step: epoch -1 -> 0.
  void initial_step();
  // PyTorch's step(epoch): last_epoch = epoch, lrs from the closed form.
  void step_to(int64_t epoch);
  friend class SequentialLR;
};

// base_lr * gamma^floor(epoch / step_size), applied chainably like PyTorch: every step_size
// epochs the current lr is multiplied by gamma, so a manual set_lr carries over.
class StepLR : public LRScheduler {
 public:
  StepLR(Optimizer& optimizer, int64_t step_size, double gamma = 0.1);

 protected:
  std::vector<double> get_lr() const override;
  std::vector<double> closed_form_lr() const override;

 private:
  int64_t step_size_;
  double gamma_;
};

// Multiplies the lr by gamma at each milestone epoch (a milestone listed twice multiplies
// twice): base_lr * gamma^(number of milestones <= epoch). Chainable.
class MultiStepLR : public LRScheduler {
 public:
  MultiStepLR(Optimizer& optimizer, std::vector<int64_t> milestones, double gamma = 0.1);

 protected:
  std::vector<double> get_lr() const override;
  std::vector<double> closed_form_lr() const override;

 private:
  std::vector<int64_t> milestones_;  // sorted
  double gamma_;
};

// base_lr * gamma^epoch. Chainable.
class ExponentialLR : public LRScheduler {
 public:
  ExponentialLR(Optimizer& optimizer, double gamma);

 protected:
  std::vector<double> get_lr() const override;
  std::vector<double> closed_form_lr() const override;

 private:
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
  std::vector<double> get_lr() const override;
  std::vector<double> closed_form_lr() const override;

 private:
  int64_t T_max_;
  double eta_min_;
};

// base_lr * lr_lambda(epoch): one function for every group, or one per group. The functions
// are not state; a resumed run passes the same ones.
class LambdaLR : public LRScheduler {
 public:
  using Lambda = std::function<double(int64_t)>;
  LambdaLR(Optimizer& optimizer, Lambda lr_lambda);
  LambdaLR(Optimizer& optimizer, std::vector<Lambda> lr_lambdas);

 protected:
  std::vector<double> get_lr() const override;

 private:
  std::vector<Lambda> lambdas_;
};

// Linear warmup (or decay) of the lr's factor from start_factor to end_factor over
// total_iters epochs, then constant: base_lr * (start + (end - start) * min(epoch, T) / T).
// Applied chainably, by PyTorch's ratio of consecutive factors.
class LinearLR : public LRScheduler {
 public:
  LinearLR(Optimizer& optimizer, double start_factor = 1.0 / 3.0, double end_factor = 1.0,
           int64_t total_iters = 5);

 protected:
  std::vector<double> get_lr() const override;
  std::vector<double> closed_form_lr() const override;

 private:
  double start_factor_, end_factor_;
  int64_t total_iters_;
};

}  // namespace glassbox::optim

#include "optim/lr_scheduler_more.h"  // OneCycleLR, ReduceLROnPlateau, SequentialLR
