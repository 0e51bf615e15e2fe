// OneCycleLR, ReduceLROnPlateau and SequentialLR, after lr_scheduler.py of PyTorch 1.13.
#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "optim/lr_scheduler.h"

namespace glassbox::optim {

namespace {
constexpr double kPi = 3.14159265358979323846;

// One phase of the 1cycle schedule: it ends at step `end` (PyTorch's float boundaries) and
// anneals from `start` to `stop`, named by which of the group's lrs they are.
enum class Which { kInitial, kMax, kMin };
struct Phase {
  double end;
  Which start, stop;
};

// a * b rounded to double before anything else: -march=native builds would otherwise fuse
// p * t - 1 into one FMA, moving a boundary that PyTorch computes as 0.0 (pct_start 0.1,
// 10 steps) to 5.6e-17 and changing which phase a step falls in.
double rounded_product(double a, double b) {
  volatile double r = a * b;
  return r;
}

std::vector<Phase> one_cycle_phases(const OneCycleLROptions& o, int64_t total) {
  const double t = double(total), pt = rounded_product(o.pct_start(), t);
  if (o.three_phase())
    return {{pt - 1, Which::kInitial, Which::kMax},
            {rounded_product(2.0, pt) - 2, Which::kMax, Which::kInitial},
            {t - 1, Which::kInitial, Which::kMin}};
  return {{pt - 1, Which::kInitial, Which::kMax}, {t - 1, Which::kMax, Which::kMin}};
}

int64_t one_cycle_total(const OneCycleLROptions& o) {
  if (o.total_steps() != 0) {
    GB_CHECK(o.total_steps() > 0, "OneCycleLR: total_steps must be > 0, got ", o.total_steps());
    return o.total_steps();
  }
  GB_CHECK(o.epochs() > 0 && o.steps_per_epoch() > 0,
           "OneCycleLR: give total_steps, or epochs and steps_per_epoch (both > 0); got epochs ",
           o.epochs(), ", steps_per_epoch ", o.steps_per_epoch());
  GB_CHECK(o.epochs() <= (int64_t{1} << 40) / o.steps_per_epoch(),
           "OneCycleLR: epochs * steps_per_epoch is too large (", o.epochs(), " * ",
           o.steps_per_epoch(), ")");
  return o.epochs() * o.steps_per_epoch();
}

std::vector<double> one_cycle_initial(Optimizer& optimizer, const std::vector<double>& max_lrs,
                                      const OneCycleLROptions& o) {
  const OneCycleLROptions& checked = o;
  GB_CHECK(max_lrs.size() == optimizer.num_param_groups(), "OneCycleLR: got ", max_lrs.size(),
           " max_lr values for ", optimizer.num_param_groups(), " parameter groups");
  for (double m : max_lrs)
    GB_CHECK(std::isfinite(m) && m >= 0.0, "OneCycleLR: max_lr must be finite and >= 0, got ", m);
  GB_CHECK(checked.pct_start() >= 0.0 && checked.pct_start() <= 1.0,
           "OneCycleLR: pct_start must be in [0, 1], got ", checked.pct_start());
  GB_CHECK(o.anneal_strategy() == "cos" || o.anneal_strategy() == "linear",
           "OneCycleLR: anneal_strategy must be \"cos\" or \"linear\", got \"",
           clip(o.anneal_strategy()), "\"");
  GB_CHECK(std::isfinite(o.div_factor()) && o.div_factor() > 0.0,
           "OneCycleLR: div_factor must be finite and > 0, got ", o.div_factor());
  GB_CHECK(std::isfinite(o.final_div_factor()) && o.final_div_factor() > 0.0,
           "OneCycleLR: final_div_factor must be finite and > 0, got ", o.final_div_factor());
  const int64_t total = one_cycle_total(o);
  double start = 0.0;
  for (const Phase& ph : one_cycle_phases(o, total)) {
    GB_CHECK(ph.end != start, "OneCycleLR: pct_start ", o.pct_start(), " with total_steps ", total,
             " gives a phase of zero length (steps ", start, " to ", ph.end,
             "); PyTorch divides by zero there");
    start = ph.end;
  }
  // PyTorch overwrites group["initial_lr"]: the cycle starts at max_lr / div_factor
  std::vector<double> initial;
  for (size_t g = 0; g < max_lrs.size(); ++g) {
    initial.push_back(max_lrs[g] / o.div_factor());
    optimizer.set_initial_lr(g, initial.back());
  }
  return initial;
}
}  // namespace

// ---------------------------------------------------------------- OneCycleLR

OneCycleLR::OneCycleLR(Optimizer& optimizer, double max_lr, const OneCycleLROptions& options)
    : OneCycleLR(optimizer, std::vector<double>(optimizer.num_param_groups(), max_lr), options) {}

OneCycleLR::OneCycleLR(Optimizer& optimizer, std::vector<double> max_lrs,
                       const OneCycleLROptions& options)
    : LRScheduler(optimizer, "OneCycleLR", one_cycle_initial(optimizer, max_lrs, options)),
      max_lrs_(std::move(max_lrs)),
      options_(options),
      total_steps_(one_cycle_total(options)) {
  initial_step();
}

void OneCycleLR::step() {
  GB_CHECK(last_epoch_ + 1 <= total_steps_, "OneCycleLR: tried to step ", last_epoch_ + 2,
           " times; total_steps is ", total_steps_, " (step() once per batch, ",
           "at most total_steps times)");
  LRScheduler::step();
}

std::vector<double> OneCycleLR::get_lr() const {
  const std::vector<Phase> phases = one_cycle_phases(options_, total_steps_);
  const bool cosine = options_.anneal_strategy() == "cos";
  const double step = double(last_epoch_);
  std::vector<double> lrs;
  for (size_t g = 0; g < base_lrs_.size(); ++g) {
    const double initial = base_lrs_[g], top = max_lrs_[g];
    const double bottom = initial / options_.final_div_factor();
    auto value = [&](Which w) {
      return w == Which::kInitial ? initial : w == Which::kMax ? top : bottom;
    };
    double start_step = 0.0, lr = initial;
    for (size_t i = 0; i < phases.size(); ++i) {
      const Phase& ph = phases[i];
      if (step <= ph.end || i + 1 == phases.size()) {
        // past the last phase's end only the lr after the final step (step total_steps) is;
        // PyTorch extrapolates it (below 0 with linear annealing), we stop at the minimum
        const double pct = std::min(1.0, (step - start_step) / (ph.end - start_step));
        const double a = value(ph.start), b = value(ph.stop);
        lr = cosine ? b + (a - b) / 2.0 * (std::cos(kPi * pct) + 1) : (b - a) * pct + a;
        break;
      }
      start_step = ph.end;
    }
    lrs.push_back(lr);
  }
  return lrs;
}

// ---------------------------------------------------------------- ReduceLROnPlateau

ReduceLROnPlateau::ReduceLROnPlateau(Optimizer& optimizer, const ReduceLROnPlateauOptions& o)
    : SchedulerBase(optimizer, "ReduceLROnPlateau", {}), options_(o) {
  base_lrs_ = current_lrs();
  const char* n = "ReduceLROnPlateau";
  GB_CHECK(o.mode() == "min" || o.mode() == "max", n, ": mode must be \"min\" or \"max\", got \"",
           clip(o.mode()), "\"");
  GB_CHECK(o.threshold_mode() == "rel" || o.threshold_mode() == "abs", n,
           ": threshold_mode must be \"rel\" or \"abs\", got \"", clip(o.threshold_mode()), "\"");
  GB_CHECK(o.factor() >= 0.0 && o.factor() < 1.0, n, ": factor must be in [0, 1), got ",
           o.factor());
  GB_CHECK(o.patience() >= 0, n, ": patience must be >= 0, got ", o.patience());
  GB_CHECK(o.cooldown() >= 0, n, ": cooldown must be >= 0, got ", o.cooldown());
  GB_CHECK(std::isfinite(o.threshold()) && o.threshold() >= 0.0, n,
           ": threshold must be finite and >= 0, got ", o.threshold());
  GB_CHECK(std::isfinite(o.eps()) && o.eps() >= 0.0, n, ": eps must be finite and >= 0, got ",
           o.eps());
  if (o.min_lrs().empty()) {
    min_lrs_.assign(base_lrs_.size(), o.min_lr());
  } else {
    GB_CHECK(o.min_lrs().size() == base_lrs_.size(), n, ": got ", o.min_lrs().size(),
             " min_lrs for ", base_lrs_.size(), " parameter groups");
    min_lrs_ = o.min_lrs();
  }
  for (double m : min_lrs_)
    GB_CHECK(std::isfinite(m) && m >= 0.0, n, ": min_lr must be finite and >= 0, got ", m);
  best_ = o.mode() == "min" ? HUGE_VAL : -HUGE_VAL;  // PyTorch's mode_worse
}

bool ReduceLROnPlateau::is_better(double a, double best) const {
  const double t = options_.threshold();
  const bool rel = options_.threshold_mode() == "rel";
  if (options_.mode() == "min") return rel ? a < best * (1.0 - t) : a < best - t;
  return rel ? a > best * (t + 1.0) : a > best + t;
}

void ReduceLROnPlateau::step(double metric) {
  check_groups();
  ++last_epoch_;
  if (is_better(metric, best_)) {
    best_ = metric;
    num_bad_epochs_ = 0;
  } else {
    ++num_bad_epochs_;
  }
  if (cooldown_counter_ > 0) {  // bad epochs in the cooldown do not count
    --cooldown_counter_;
    num_bad_epochs_ = 0;
  }
  if (num_bad_epochs_ > options_.patience()) {
    for (size_t g = 0; g < base_lrs_.size(); ++g) {
      const double old_lr = optimizer_.lr(g);
      const double new_lr = std::max(old_lr * options_.factor(), min_lrs_[g]);
      if (old_lr - new_lr > options_.eps()) optimizer_.set_lr(g, new_lr);
    }
    cooldown_counter_ = options_.cooldown();
    num_bad_epochs_ = 0;
  }
  last_lr_ = current_lrs();
}

std::vector<std::string> ReduceLROnPlateau::extra_keys() const {
  return {"best", "num_bad_epochs", "cooldown_counter"};
}

void ReduceLROnPlateau::save_extra(SchedulerState& s) const {
  s["best"] = best_;
  s["num_bad_epochs"] = double(num_bad_epochs_);
  s["cooldown_counter"] = double(cooldown_counter_);
}

void ReduceLROnPlateau::check_extra(const SchedulerState& s) const {
  GB_CHECK(!std::isnan(s.at("best")), name_, ": state 'best' is nan");
  for (const char* k : {"num_bad_epochs", "cooldown_counter"}) {
    const double v = s.at(k);
    GB_CHECK(v >= 0 && v == std::floor(v) && v <= 9.0e15, name_, ": state '", k,
             "' must be a non-negative integer, got ", v);
  }
}

void ReduceLROnPlateau::load_extra(const SchedulerState& s) {
  best_ = s.at("best");
  num_bad_epochs_ = static_cast<int64_t>(s.at("num_bad_epochs"));
  cooldown_counter_ = static_cast<int64_t>(s.at("cooldown_counter"));
}

// ---------------------------------------------------------------- SequentialLR

namespace {
std::string sequential_name(const std::vector<std::shared_ptr<LRScheduler>>& schedulers) {
  GB_CHECK(!schedulers.empty(), "SequentialLR: got no schedulers");
  std::string names;
  for (size_t k = 0; k < schedulers.size(); ++k) {
    GB_CHECK(schedulers[k] != nullptr, "SequentialLR: scheduler ", k, " is null");
    names += (k ? "," : "") + schedulers[k]->name();
  }
  return "SequentialLR(" + names + ")";
}

const std::string kChild = "child.";
}  // namespace

SequentialLR::SequentialLR(Optimizer& optimizer,
                           std::vector<std::shared_ptr<LRScheduler>> schedulers,
                           std::vector<int64_t> milestones)
    : LRScheduler(optimizer, sequential_name(schedulers)),
      schedulers_(std::move(schedulers)),
      milestones_(std::move(milestones)) {
  for (size_t k = 0; k < schedulers_.size(); ++k)
    GB_CHECK(&schedulers_[k]->optimizer() == &optimizer, "SequentialLR: scheduler ", k, " (",
             schedulers_[k]->name(), ") drives another optimizer than the one given");
  GB_CHECK(milestones_.size() + 1 == schedulers_.size(), "SequentialLR: expected ",
           schedulers_.size() - 1, " milestones for ", schedulers_.size(), " schedulers, got ",
           milestones_.size());
  for (size_t k = 0; k < milestones_.size(); ++k)
    GB_CHECK(milestones_[k] >= 1 && (k == 0 || milestones_[k] > milestones_[k - 1]),
             "SequentialLR: milestones must be >= 1 and increasing, got ", milestones_[k],
             " at position ", k);
  check_groups();
  // As PyTorch: back to the initial lrs, undo each scheduler's initial step, and redo the
  // first one's.
  for (size_t g = 0; g < base_lrs_.size(); ++g) optimizer.set_lr(g, base_lrs_[g]);
  for (auto& s : schedulers_) s->last_epoch_ -= 1;
  schedulers_[0]->step();
  last_epoch_ = 0;
  last_lr_ = schedulers_[0]->get_last_lr();
}

void SequentialLR::step() {
  const int64_t epoch = last_epoch_ + 1;
  const size_t idx =
      size_t(std::upper_bound(milestones_.begin(), milestones_.end(), epoch) - milestones_.begin());
  LRScheduler& s = *schedulers_[idx];
  if (idx > 0 && milestones_[idx - 1] == epoch)
    s.step_to(0);
  else
    s.step();
  last_epoch_ = epoch;
  last_lr_ = s.get_last_lr();
}

std::vector<std::string> SequentialLR::extra_keys() const {
  std::vector<std::string> keys;
  for (size_t k = 0; k < schedulers_.size(); ++k)
    for (const std::string& key : schedulers_[k]->state_keys())
      keys.push_back(str(kChild, k, ".", key));
  return keys;
}

void SequentialLR::save_extra(SchedulerState& s) const {
  for (size_t k = 0; k < schedulers_.size(); ++k)
    for (const auto& [key, v] : schedulers_[k]->state_dict()) s[str(kChild, k, ".", key)] = v;
}

namespace {
SchedulerState child_state(const SchedulerState& s, size_t k) {
  const std::string prefix = str(kChild, k, ".");
  SchedulerState out;
  for (const auto& [key, v] : s)
    if (key.compare(0, prefix.size(), prefix) == 0) out[key.substr(prefix.size())] = v;
  return out;
}
}  // namespace

void SequentialLR::check_extra(const SchedulerState& s) const {
  for (size_t k = 0; k < schedulers_.size(); ++k) {
    try {
      schedulers_[k]->check_state_dict(child_state(s, k));
    } catch (const Error& e) {
      fail(str(name_, ": scheduler ", k, ": ", e.what()));
    }
  }
}

void SequentialLR::load_extra(const SchedulerState& s) {
  for (size_t k = 0; k < schedulers_.size(); ++k)
    schedulers_[k]->load_state_dict(child_state(s, k));
}

}  // namespace glassbox::optim
