// The shared scheduler machinery (state, per-group lrs) and the closed-form schedulers.
// Each get_lr() follows lr_scheduler.py of PyTorch 1.13 line by line, including which ones
// are chainable (read the optimizer's current lr) and which read the base lrs.
#include "optim/lr_scheduler.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace glassbox::optim {

namespace {
constexpr double kPi = 3.14159265358979323846;
constexpr double kMaxCounter = 9007199254740992.0;  // 2^53, as the checkpoint's counters

std::string group_key(const char* what, size_t g) { return str(what, ".", g); }
}  // namespace

// ---------------------------------------------------------------- SchedulerBase

SchedulerBase::SchedulerBase(Optimizer& optimizer, std::string name, std::vector<double> base_lrs)
    : optimizer_(optimizer), name_(std::move(name)), base_lrs_(std::move(base_lrs)) {
  last_lr_ = current_lrs();
}

void SchedulerBase::check_groups() const {
  GB_CHECK(optimizer_.num_param_groups() == base_lrs_.size(), name_, ": the optimizer has ",
           optimizer_.num_param_groups(), " parameter groups but the scheduler was built for ",
           base_lrs_.size(), "; build the scheduler after add_param_group");
}

std::vector<double> SchedulerBase::current_lrs() const {
  std::vector<double> out;
  for (size_t g = 0; g < optimizer_.num_param_groups(); ++g) out.push_back(optimizer_.lr(g));
  return out;
}

void SchedulerBase::apply_lrs(const std::vector<double>& lrs) {
  GB_CHECK(lrs.size() == optimizer_.num_param_groups(), name_, ": internal error, ", lrs.size(),
           " lrs for ", optimizer_.num_param_groups(), " groups");
  for (size_t g = 0; g < lrs.size(); ++g)
    GB_CHECK(lrs[g] >= 0.0, name_, ": computed an invalid learning rate ", lrs[g],
             " for parameter group ", g, " at epoch ", last_epoch_, " (must be >= 0)");
  for (size_t g = 0; g < lrs.size(); ++g) optimizer_.set_lr(g, lrs[g]);
  last_lr_ = lrs;
}

std::vector<std::string> SchedulerBase::state_keys() const {
  std::vector<std::string> keys = {"last_epoch"};
  for (size_t g = 0; g < base_lrs_.size(); ++g) {
    keys.push_back(group_key("base_lr", g));
    keys.push_back(group_key("last_lr", g));
  }
  for (std::string& k : extra_keys()) keys.push_back(std::move(k));
  return keys;
}

SchedulerState SchedulerBase::state_dict() const {
  SchedulerState s;
  s["last_epoch"] = double(last_epoch_);
  for (size_t g = 0; g < base_lrs_.size(); ++g) {
    s[group_key("base_lr", g)] = base_lrs_[g];
    s[group_key("last_lr", g)] = g < last_lr_.size() ? last_lr_[g] : base_lrs_[g];
  }
  save_extra(s);
  return s;
}

void SchedulerBase::check_state_dict(const SchedulerState& state) const {
  const std::vector<std::string> keys = state_keys();
  std::string missing, unknown;
  for (const std::string& k : keys)
    if (!state.count(k)) missing += " '" + k + "'";
  for (const auto& [k, v] : state)
    if (std::find(keys.begin(), keys.end(), k) == keys.end()) unknown += " '" + clip(k) + "'";
  GB_CHECK(missing.empty() && unknown.empty(), name_, ": the state does not match this scheduler",
           missing.empty() ? "" : "; missing:", missing,
           unknown.empty() ? "" : "; unknown:", unknown, " (it has ", base_lrs_.size(),
           " parameter groups)");
  const double e = state.at("last_epoch");
  GB_CHECK(e == std::floor(e) && e >= -1.0 && e <= kMaxCounter, name_,
           ": state 'last_epoch' must be an integer from -1 to 2^53, got ", e);
  for (size_t g = 0; g < base_lrs_.size(); ++g)
    for (const char* what : {"base_lr", "last_lr"}) {
      const double v = state.at(group_key(what, g));
      GB_CHECK(std::isfinite(v) && v >= 0.0, name_, ": state '", group_key(what, g),
               "' must be a finite lr >= 0, got ", v);
    }
  check_extra(state);
}

void SchedulerBase::load_state_dict(const SchedulerState& state) {
  check_state_dict(state);
  last_epoch_ = static_cast<int64_t>(state.at("last_epoch"));
  for (size_t g = 0; g < base_lrs_.size(); ++g) {
    base_lrs_[g] = state.at(group_key("base_lr", g));
    last_lr_.resize(base_lrs_.size());
    last_lr_[g] = state.at(group_key("last_lr", g));
    // a scheduler built on this optimizer later starts from the restored base, as it would
    // have in the unbroken run
    if (g < optimizer_.num_param_groups()) optimizer_.set_initial_lr(g, base_lrs_[g]);
  }
  load_extra(state);
}

// ---------------------------------------------------------------- LRScheduler

namespace {
// PyTorch's group.setdefault("initial_lr", group["lr"]) for every group.
std::vector<double> initial_lrs(Optimizer& optimizer) {
  std::vector<double> out;
  for (size_t g = 0; g < optimizer.num_param_groups(); ++g) {
    if (!optimizer.initial_lr(g)) optimizer.set_initial_lr(g, optimizer.lr(g));
    out.push_back(*optimizer.initial_lr(g));
  }
  return out;
}
}  // namespace

LRScheduler::LRScheduler(Optimizer& optimizer, std::string name)
    : LRScheduler(optimizer, std::move(name), initial_lrs(optimizer)) {}

LRScheduler::LRScheduler(Optimizer& optimizer, std::string name, std::vector<double> base_lrs)
    : SchedulerBase(optimizer, std::move(name), std::move(base_lrs)) {
  last_epoch_ = -1;
}

void LRScheduler::initial_step() { step(); }

void LRScheduler::step() {
  check_groups();
  ++last_epoch_;
  try {
    apply_lrs(get_lr());
  } catch (...) {
    --last_epoch_;
    throw;
  }
}

void LRScheduler::step_to(int64_t epoch) {
  check_groups();
  const int64_t before = last_epoch_;
  last_epoch_ = epoch;
  try {
    apply_lrs(closed_form_lr());
  } catch (...) {
    last_epoch_ = before;
    throw;
  }
}

// ---------------------------------------------------------------- the closed forms

StepLR::StepLR(Optimizer& optimizer, int64_t step_size, double gamma)
    : LRScheduler(optimizer, "StepLR"), step_size_(step_size), gamma_(gamma) {
  GB_CHECK(step_size >= 1, "StepLR: step_size must be >= 1, got ", step_size);
  GB_CHECK(std::isfinite(gamma) && gamma >= 0.0, "StepLR: gamma must be finite and >= 0, got ",
           gamma);
  initial_step();
}

std::vector<double> StepLR::get_lr() const {
  std::vector<double> lrs = current_lrs();
  if (last_epoch_ == 0 || last_epoch_ % step_size_ != 0) return lrs;
  for (double& lr : lrs) lr *= gamma_;
  return lrs;
}

std::vector<double> StepLR::closed_form_lr() const {
  std::vector<double> lrs;
  for (double base : base_lrs_)
    lrs.push_back(base * std::pow(gamma_, double(last_epoch_ / step_size_)));
  return lrs;
}

MultiStepLR::MultiStepLR(Optimizer& optimizer, std::vector<int64_t> milestones, double gamma)
    : LRScheduler(optimizer, "MultiStepLR"), milestones_(std::move(milestones)), gamma_(gamma) {
  for (int64_t m : milestones_) GB_CHECK(m >= 0, "MultiStepLR: milestones must be >= 0, got ", m);
  GB_CHECK(std::isfinite(gamma) && gamma >= 0.0, "MultiStepLR: gamma must be finite and >= 0, got ",
           gamma);
  std::sort(milestones_.begin(), milestones_.end());
  initial_step();
}

std::vector<double> MultiStepLR::get_lr() const {
  std::vector<double> lrs = current_lrs();
  const auto hits = std::count(milestones_.begin(), milestones_.end(), last_epoch_);
  if (hits == 0) return lrs;
  for (double& lr : lrs) lr *= std::pow(gamma_, double(hits));
  return lrs;
}

std::vector<double> MultiStepLR::closed_form_lr() const {
  const auto passed =
      std::upper_bound(milestones_.begin(), milestones_.end(), last_epoch_) - milestones_.begin();
  std::vector<double> lrs;
  for (double base : base_lrs_) lrs.push_back(base * std::pow(gamma_, double(passed)));
  return lrs;
}

ExponentialLR::ExponentialLR(Optimizer& optimizer, double gamma)
    : LRScheduler(optimizer, "ExponentialLR"), gamma_(gamma) {
  GB_CHECK(std::isfinite(gamma) && gamma >= 0.0,
           "ExponentialLR: gamma must be finite and >= 0, got ", gamma);
  initial_step();
}

std::vector<double> ExponentialLR::get_lr() const {
  std::vector<double> lrs = current_lrs();
  if (last_epoch_ == 0) return lrs;
  for (double& lr : lrs) lr *= gamma_;
  return lrs;
}

std::vector<double> ExponentialLR::closed_form_lr() const {
  std::vector<double> lrs;
  for (double base : base_lrs_) lrs.push_back(base * std::pow(gamma_, double(last_epoch_)));
  return lrs;
}

CosineAnnealingLR::CosineAnnealingLR(Optimizer& optimizer, int64_t T_max, double eta_min)
    : LRScheduler(optimizer, "CosineAnnealingLR"), T_max_(T_max), eta_min_(eta_min) {
  GB_CHECK(T_max >= 1, "CosineAnnealingLR: T_max must be >= 1, got ", T_max);
  GB_CHECK(std::isfinite(eta_min) && eta_min >= 0.0,
           "CosineAnnealingLR: eta_min must be finite and >= 0, got ", eta_min);
  initial_step();
}

std::vector<double> CosineAnnealingLR::get_lr() const {
  // epoch 0 keeps the lr in effect (PyTorch), which differs from the base inside a chain
  if (last_epoch_ == 0) return current_lrs();
  return closed_form_lr();
}

std::vector<double> CosineAnnealingLR::closed_form_lr() const {
  std::vector<double> lrs;
  const double c = (1.0 + std::cos(kPi * double(last_epoch_) / double(T_max_))) / 2.0;
  for (double base : base_lrs_) lrs.push_back(eta_min_ + (base - eta_min_) * c);
  return lrs;
}

LambdaLR::LambdaLR(Optimizer& optimizer, Lambda lr_lambda)
    : LambdaLR(optimizer, std::vector<Lambda>(optimizer.num_param_groups(), lr_lambda)) {}

LambdaLR::LambdaLR(Optimizer& optimizer, std::vector<Lambda> lr_lambdas)
    : LRScheduler(optimizer, "LambdaLR"), lambdas_(std::move(lr_lambdas)) {
  GB_CHECK(lambdas_.size() == base_lrs_.size(), "LambdaLR: got ", lambdas_.size(),
           " lr_lambdas for ", base_lrs_.size(), " parameter groups");
  for (size_t g = 0; g < lambdas_.size(); ++g)
    GB_CHECK(bool(lambdas_[g]), "LambdaLR: lr_lambda ", g, " is empty");
  initial_step();
}

std::vector<double> LambdaLR::get_lr() const {
  std::vector<double> lrs;
  for (size_t g = 0; g < base_lrs_.size(); ++g)
    lrs.push_back(base_lrs_[g] * lambdas_[g](last_epoch_));
  return lrs;
}

LinearLR::LinearLR(Optimizer& optimizer, double start_factor, double end_factor,
                   int64_t total_iters)
    : LRScheduler(optimizer, "LinearLR"),
      start_factor_(start_factor),
      end_factor_(end_factor),
      total_iters_(total_iters) {
  GB_CHECK(start_factor > 0.0 && start_factor <= 1.0,
           "LinearLR: start_factor must be in (0, 1], got ", start_factor);
  GB_CHECK(end_factor >= 0.0 && end_factor <= 1.0, "LinearLR: end_factor must be in [0, 1], got ",
           end_factor);
  GB_CHECK(total_iters >= 1, "LinearLR: total_iters must be >= 1, got ", total_iters);
  initial_step();
}

std::vector<double> LinearLR::get_lr() const {
  std::vector<double> lrs = current_lrs();
  if (last_epoch_ == 0) {
    for (double& lr : lrs) lr *= start_factor_;
    return lrs;
  }
  if (last_epoch_ > total_iters_) return lrs;
  // factor(e) / factor(e - 1), with factor(e) = start + (end - start) * e / T
  const double d = end_factor_ - start_factor_;
  const double ratio =
      1.0 + d / (double(total_iters_) * start_factor_ + double(last_epoch_ - 1) * d);
  for (double& lr : lrs) lr *= ratio;
  return lrs;
}

std::vector<double> LinearLR::closed_form_lr() const {
  const double t = double(std::min(total_iters_, last_epoch_)) / double(total_iters_);
  std::vector<double> lrs;
  for (double base : base_lrs_)
    lrs.push_back(base * (start_factor_ + (end_factor_ - start_factor_) * t));
  return lrs;
}

}  // namespace glassbox::optim
