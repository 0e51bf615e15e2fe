#pragma once
// The schedulers that are more than a formula per epoch: OneCycleLR (per batch, with its own
// base lrs), ReduceLROnPlateau (driven by a metric) and SequentialLR (a chain of
// schedulers, e.g. warmup then cosine). Included by optim/lr_scheduler.h.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "optim/lr_scheduler.h"

namespace glassbox::optim {

struct OneCycleLROptions {
  // total_steps, or epochs and steps_per_epoch (total = epochs * steps_per_epoch)
  GB_OPTIM_ARG(int64_t, total_steps, 0);
  GB_OPTIM_ARG(int64_t, epochs, 0);
  GB_OPTIM_ARG(int64_t, steps_per_epoch, 0);
  GB_OPTIM_ARG(double, pct_start, 0.3);
  GB_OPTIM_ARG(std::string, anneal_strategy, "cos");  // "cos" or "linear"
  GB_OPTIM_ARG(double, div_factor, 25.0);
  GB_OPTIM_ARG(double, final_div_factor, 1e4);
  GB_OPTIM_ARG(bool, three_phase, false);
};

// The 1cycle policy, stepped once per batch: from initial_lr = max_lr / div_factor up to
// max_lr over the first pct_start of the steps, then down to initial_lr / final_div_factor
// (three_phase: back to initial_lr by 2 * pct_start, then down to the minimum), annealing by
// cosine or linearly. PyTorch's phase boundaries (pct_start * total_steps - 1, ...) are kept
// exactly. It sets each group's initial lr to max_lr / div_factor; momentum is not cycled
// (PyTorch's cycle_momentum=False). Stepping past total_steps is an error; the lr after the
// final step stays at the minimum (PyTorch extrapolates it, below 0 when linear).
class OneCycleLR : public LRScheduler {
 public:
  OneCycleLR(Optimizer& optimizer, double max_lr, const OneCycleLROptions& options);
  OneCycleLR(Optimizer& optimizer, std::vector<double> max_lrs, const OneCycleLROptions& options);
  int64_t total_steps() const { return total_steps_; }
  void step() override;

 protected:
  std::vector<double> get_lr() const override;

 private:
  std::vector<double> max_lrs_;
  OneCycleLROptions options_;
  int64_t total_steps_;
};

struct ReduceLROnPlateauOptions {
  GB_OPTIM_ARG(std::string, mode, "min");  // "min": lower metric is better; "max"
  GB_OPTIM_ARG(double, factor, 0.1);       // new lr = lr * factor, in [0, 1)
  GB_OPTIM_ARG(int64_t, patience, 10);     // bad epochs tolerated before reducing
  GB_OPTIM_ARG(double, threshold, 1e-4);
  GB_OPTIM_ARG(std::string, threshold_mode, "rel");  // "rel" or "abs"
  GB_OPTIM_ARG(int64_t, cooldown, 0);                // epochs to wait after a reduction
  GB_OPTIM_ARG(double, min_lr, 0.0);                 // for every group, unless min_lrs
  GB_OPTIM_ARG(std::vector<double>, min_lrs, {});    // one per group
  GB_OPTIM_ARG(double, eps, 1e-8);                   // a reduction smaller than eps is skipped
};

// Reduces every group's lr by `factor` once the metric has not improved for more than
// `patience` epochs (improved: below best * (1 - threshold) in "min"/"rel" mode, below
// best - threshold in "abs"; mirrored for "max"), then waits `cooldown` epochs. step(metric)
// once per epoch, like PyTorch's scheduler.step(val_loss).
class ReduceLROnPlateau : public SchedulerBase {
 public:
  explicit ReduceLROnPlateau(Optimizer& optimizer,
                             const ReduceLROnPlateauOptions& options = ReduceLROnPlateauOptions());
  void step(double metric);
  double best() const { return best_; }
  int64_t num_bad_epochs() const { return num_bad_epochs_; }
  int64_t cooldown_counter() const { return cooldown_counter_; }

 protected:
  std::vector<std::string> extra_keys() const override;
  void save_extra(SchedulerState& state) const override;
  void check_extra(const SchedulerState& state) const override;
  void load_extra(const SchedulerState& state) override;

 private:
  bool is_better(double a, double best) const;
  ReduceLROnPlateauOptions options_;
  std::vector<double> min_lrs_;
  double best_;
  int64_t num_bad_epochs_ = 0, cooldown_counter_ = 0;
};

// Runs schedulers[0] until milestones[0], then schedulers[1] from its epoch 0 (closed
// form), and so on, as PyTorch's SequentialLR:
//   auto warmup = std::make_shared<optim::LinearLR>(opt, 0.01, 1.0, 5);
//   auto cosine = std::make_shared<optim::CosineAnnealingLR>(opt, 95);
//   optim::SequentialLR sched(opt, {warmup, cosine}, {5});
// All must drive `optimizer`; its name lists theirs ("SequentialLR(LinearLR,...)"), so a
// checkpoint only loads into the same chain. Its state holds theirs ("child.<k>.<key>").
class SequentialLR : public LRScheduler {
 public:
  SequentialLR(Optimizer& optimizer, std::vector<std::shared_ptr<LRScheduler>> schedulers,
               std::vector<int64_t> milestones);
  void step() override;

 protected:
  std::vector<double> get_lr() const override { return last_lr_; }
  std::vector<std::string> extra_keys() const override;
  void save_extra(SchedulerState& state) const override;
  void check_extra(const SchedulerState& state) const override;
  void load_extra(const SchedulerState& state) override;

 private:
  std::vector<std::shared_ptr<LRScheduler>> schedulers_;
  std::vector<int64_t> milestones_;
};

}  // namespace glassbox::optim
