#include "optim/optimizer.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <utility>

#include "autograd/grad_mode.h"
#include "core/error.h"
#include "core/storage.h"

namespace glassbox::optim {

Optimizer::Optimizer(Settings defaults, std::string name)
    : defaults_(std::move(defaults)), name_(std::move(name)) {}

void Optimizer::init_groups(std::vector<ParamGroup> groups) {
  GB_CHECK(!groups.empty() && !(groups.size() == 1 && groups[0].params().empty()), name_,
           ": got an empty parameter list");
  for (ParamGroup& g : groups) add_param_group(std::move(g));
}

void Optimizer::add_param_group(ParamGroup group) {
  const size_t g = groups_.size();
  const std::string where = groups_.empty() ? "" : str(" (parameter group ", g, ")");
  GB_CHECK(!group.params_.empty(), name_, ": parameter group ", g, " is empty");
  if (group.kind_) {
    GB_CHECK(name_ == group.kind_, name_, ": parameter group ", g, " has ", group.kind_,
             " options; give it ", name_, "Options");
    validate_settings(group.settings_, str("parameter group ", g));
  } else {
    group.settings_ = defaults_;
  }
  const size_t offset = params_.size();
  for (size_t k = 0; k < group.params_.size(); ++k) {
    const size_t i = offset + k;
    const Tensor& p = group.params_[k];
    GB_CHECK(p.defined(), name_, ": parameter ", i, " is an undefined tensor", where);
    GB_CHECK(is_floating(p.dtype()), name_, ": parameter ", i, " ", p.shape_str(), " is ",
             dtype_name(p.dtype()), "; only float32 and float64 tensors can be optimized", where);
    GB_CHECK(p.is_leaf(), name_, ": parameter ", i, " ", p.shape_str(),
             " is not a leaf tensor (it was produced by ", p.grad_fn_name(),
             "); optimize the leaf, or detach() it first", where);
    for (int64_t d = 0; d < p.dim(); ++d)
      GB_CHECK(p.stride(d) != 0 || p.size(d) <= 1, name_, ": parameter ", i, " ", p.shape_str(),
               " is an expanded view where several elements share memory; clone() it first", where);
    for (size_t j = 0; j < i; ++j) {
      const Tensor& q = j < offset ? params_[j] : group.params_[j - offset];
      if (!q.is_same(p)) continue;
      if (j < offset && groups_.size() > 0)
        fail(str(name_, ": parameter ", i, " (parameter group ", g,
                 ") is the same tensor as parameter ", j, " (parameter group ", group_of(j),
                 "); a parameter may belong to one group only"));
      fail(str(name_, ": parameter ", i, " is the same tensor as parameter ", j,
               "; pass each parameter once"));
    }
  }
  group.offset_ = offset;
  for (const Tensor& p : group.params_) params_.push_back(p);
  state_.resize(params_.size());
  groups_.push_back(std::move(group));
}

size_t Optimizer::group_of(size_t index) const {
  for (size_t g = groups_.size(); g-- > 0;)
    if (index >= groups_[g].offset_) return g;
  return 0;
}

void Optimizer::check_group(size_t group) const {
  GB_CHECK(group < groups_.size(), name_, ": parameter group ", group, " out of range (",
           groups_.size(), " groups)");
}

void Optimizer::zero_grad() {
  for (Tensor& p : params_)
    if (p.grad().defined()) p.zero_grad();
}

double Optimizer::lr(size_t group) const {
  check_group(group);
  return groups_[group].lr();
}

void Optimizer::set_lr(double lr) {
  GB_CHECK(lr >= 0.0, name_, ": invalid learning rate ", lr, " (must be >= 0)");
  for (ParamGroup& g : groups_) g.settings_["lr"] = lr;
}

void Optimizer::set_lr(size_t group, double lr) {
  check_group(group);
  GB_CHECK(lr >= 0.0, name_, ": invalid learning rate ", lr, " (must be >= 0) for parameter group ",
           group);
  groups_[group].settings_["lr"] = lr;
}

std::optional<double> Optimizer::initial_lr(size_t group) const {
  check_group(group);
  return groups_[group].initial_lr_;
}

void Optimizer::set_initial_lr(size_t group, double lr) {
  check_group(group);
  groups_[group].initial_lr_ = lr;
}

Optimizer::Settings Optimizer::settings(size_t group) const {
  check_group(group);
  return groups_[group].settings_;
}

std::vector<Optimizer::Settings> Optimizer::group_settings() const {
  std::vector<Settings> out;
  for (const ParamGroup& g : groups_) out.push_back(g.settings_);
  return out;
}

const ParamState& Optimizer::state(size_t index) const {
  GB_CHECK(index < state_.size(), name_, ": parameter index ", index, " out of range (",
           state_.size(), " parameters)");
  return state_[index];
}

Tensor Optimizer::contiguous_grad(size_t index) const {
  const Tensor& p = params_[index];
  Tensor g = p.grad();
  if (!g.defined()) return g;
  GB_CHECK(g.shape() == p.shape() && g.dtype() == p.dtype() && g.device() == p.device(), name_,
           ": the gradient of parameter ", index, " is ", dtype_name(g.dtype()), " ", g.shape_str(),
           " on ", g.device().str(), " but the parameter is ", dtype_name(p.dtype()), " ",
           p.shape_str(), " on ", p.device().str());
  return g.contiguous();
}

void Optimizer::update_in_place(size_t index,
                                const std::function<void(const Tensor&)>& update) const {
  const Tensor& p = params_[index];
  NoGradGuard no_record;
  if (p.is_contiguous()) {
    update(p);
    p.impl()->storage->bump_version();
    return;
  }
  Tensor work = p.contiguous();
  update(work);
  Tensor(p).copy_(work);  // bumps the version
}

std::map<std::string, Tensor> Optimizer::state_dict_tensors() const {
  NoGradGuard no_record;
  std::map<std::string, Tensor> out;
  for (size_t i = 0; i < state_.size(); ++i) {
    const ParamState& s = state_[i];
    if (!s.initialized()) continue;
    const std::vector<std::string> keys = state_keys(groups_[group_of(i)].settings_);
    for (const std::string& key : keys) {
      const std::string name = std::to_string(i) + "." + key;
      if (key == "step") {
        out[name] = scalar_tensor(double(s.step), dtype(kInt64));
        continue;
      }
      auto it = s.buffers.find(key);
      GB_CHECK(it != s.buffers.end(), name_, ": internal error, state of parameter ", i, " lacks ",
               key);
      out[name] = it->second.clone();
    }
  }
  return out;
}

namespace {
std::string join_keys(const std::vector<std::string>& keys) {
  if (keys.empty()) return "no state";
  std::string out;
  for (const std::string& k : keys) out += (out.empty() ? "" : ", ") + k;
  return out;
}

// Splits "12.exp_avg" into 12 and "exp_avg"; false when the name has another form.
bool split_key(const std::string& name, size_t* index, std::string* key) {
  const size_t dot = name.find('.');
  if (dot == 0 || dot == std::string::npos || dot > 9) return false;
  for (size_t i = 0; i < dot; ++i)
    if (name[i] < '0' || name[i] > '9') return false;
  if (dot > 1 && name[0] == '0') return false;  // no leading zeros: one spelling per index
  *index = static_cast<size_t>(std::stoull(name.substr(0, dot)));
  *key = name.substr(dot + 1);
  return true;
}
}  // namespace

void Optimizer::validate_settings(const Settings& settings, const std::string& what) const {
  const Settings& mine = defaults_;
  const std::string who = what.empty() ? name_ : name_ + " " + what;
  std::vector<std::string> missing, unknown, names;
  for (const auto& [key, value] : mine) {
    names.push_back(key);
    if (!settings.count(key)) missing.push_back(key);
  }
  for (const auto& [key, value] : settings)
    if (!mine.count(key)) unknown.push_back(key);
  if (!missing.empty() || !unknown.empty()) {
    std::string msg = who + ": the settings do not match this optimizer";
    auto list = [&](const char* what, const std::vector<std::string>& keys) {
      if (keys.empty()) return;
      msg += str("; ", what, ":");
      for (const std::string& k : keys) msg += " '" + k + "'";
    };
    list("missing", missing);
    list("unknown", unknown);
    fail(msg + " (" + name_ + " has: " + join_keys(names) + ")");
  }
  try {
    const double lr = settings.at("lr");
    GB_CHECK(lr >= 0.0, name_, ": invalid learning rate ", lr, " (must be >= 0)");
    check_settings(settings);
  } catch (const Error& e) {
    if (what.empty()) throw;
    fail(str(e.what(), " (", what, ")"));
  }
}

void Optimizer::validate_groups(const std::vector<Settings>& settings) const {
  GB_CHECK(settings.size() == groups_.size(), name_, ": got settings for ", settings.size(),
           " parameter groups, the optimizer has ", groups_.size());
  for (size_t g = 0; g < settings.size(); ++g)
    validate_settings(settings[g], groups_.size() > 1 ? str("parameter group ", g) : "");
}

void Optimizer::load_settings(const Settings& settings) {
  load_group_settings(std::vector<Settings>(groups_.size(), settings));
}

void Optimizer::load_group_settings(const std::vector<Settings>& settings) {
  validate_groups(settings);
  for (size_t g = 0; g < groups_.size(); ++g) {
    const std::vector<std::string> now = state_keys(groups_[g].settings_),
                                   next = state_keys(settings[g]);
    if (now == next) continue;
    const ParamGroup& group = groups_[g];
    for (size_t i = group.offset_; i < group.offset_ + group.params_.size(); ++i)
      GB_CHECK(!state_[i].initialized(), name_, ": these settings change the state a parameter ",
               "keeps (", join_keys(now), " -> ", join_keys(next), ") but parameter ", i,
               " has state; load the settings together with matching state (load_state)");
  }
  for (size_t g = 0; g < groups_.size(); ++g) groups_[g].settings_ = settings[g];
}

Optimizer::PendingState Optimizer::prepare_state(
    const Settings& settings, const std::map<std::string, Tensor>& tensors) const {
  return prepare_state(std::vector<Settings>(groups_.size(), settings), tensors);
}

Optimizer::PendingState Optimizer::prepare_state(
    const std::vector<Settings>& settings, const std::map<std::string, Tensor>& tensors) const {
  validate_groups(settings);
  NoGradGuard no_record;
  std::vector<std::vector<std::string>> keys(params_.size());
  for (size_t i = 0; i < params_.size(); ++i) keys[i] = state_keys(settings[group_of(i)]);
  std::vector<ParamState> fresh(params_.size());
  std::vector<std::set<std::string>> seen(params_.size());
  for (const auto& [name, t] : tensors) {
    size_t i = 0;
    std::string key;
    GB_CHECK(split_key(name, &i, &key), name_, ": state entry '", name,
             "' is not named <parameter index>.<key>");
    GB_CHECK(i < params_.size(), name_, ": state entry '", name, "' is for parameter ", i,
             " but the optimizer has ", params_.size(), " parameters");
    GB_CHECK(std::find(keys[i].begin(), keys[i].end(), key) != keys[i].end(), name_,
             ": state entry '", name, "' has an unknown key '", key, "' (this ", name_,
             " keeps: ", join_keys(keys[i]), ")");
    GB_CHECK(t.defined(), name_, ": state entry '", name, "' is an undefined tensor");
    const Tensor& p = params_[i];
    if (key == "step") {
      GB_CHECK(t.numel() == 1, name_, ": state entry '", name, "' must hold one value, got ",
               t.shape_str());
      const double v = t.cpu().item();
      GB_CHECK(std::isfinite(v) && v >= 0 && v == std::floor(v) && v < 9.0e15, name_,
               ": state entry '", name, "' must be a non-negative integer, got ", v);
      fresh[i].step = static_cast<int64_t>(v);
    } else {
      GB_CHECK(t.shape() == p.shape(), name_, ": state entry '", name, "' has shape ",
               t.shape_str(), " but parameter ", i, " has shape ", p.shape_str());
      GB_CHECK(is_floating(t.dtype()), name_, ": state entry '", name, "' is ",
               dtype_name(t.dtype()), "; expected a floating-point tensor");
      Tensor buf = empty_like(p);
      buf.copy_(t.to(p.device()));
      fresh[i].buffers[key] = buf;
    }
    seen[i].insert(key);
  }
  for (size_t i = 0; i < params_.size(); ++i) {
    if (seen[i].empty()) continue;
    for (const std::string& key : keys[i])
      GB_CHECK(seen[i].count(key), name_, ": the state of parameter ", i, " lacks '", i, ".", key,
               "' (this ", name_, " keeps: ", join_keys(keys[i]), ")");
  }
  PendingState pending;
  pending.owner_ = this;
  pending.settings_ = settings;
  pending.state_ = std::move(fresh);
  return pending;
}

void Optimizer::commit_state(PendingState&& pending) {
  GB_CHECK(pending.owner_ == this, name_,
           ": commit_state got state that this optimizer did not prepare (or that was already "
           "committed)");
  // add_param_group between prepare and commit would leave groups without settings
  GB_CHECK(pending.settings_.size() == groups_.size() && pending.state_.size() == params_.size(),
           name_, ": commit_state got state prepared for ", pending.settings_.size(),
           " parameter groups and ", pending.state_.size(),
           " parameters, but the optimizer now has ", groups_.size(), " and ", params_.size(),
           " (a group was added in between)");
  pending.owner_ = nullptr;
  for (size_t g = 0; g < groups_.size(); ++g) groups_[g].settings_ = pending.settings_[g];
  state_ = std::move(pending.state_);
}

void Optimizer::load_state_tensors(const std::map<std::string, Tensor>& tensors) {
  commit_state(prepare_state(group_settings(), tensors));
}

void Optimizer::load_state(const Settings& settings, const std::map<std::string, Tensor>& tensors) {
  commit_state(prepare_state(settings, tensors));
}

void Optimizer::load_state(const std::vector<Settings>& settings,
                           const std::map<std::string, Tensor>& tensors) {
  commit_state(prepare_state(settings, tensors));
}

}  // namespace glassbox::optim
