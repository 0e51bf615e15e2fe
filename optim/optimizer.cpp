#include "optim/optimizer.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <utility>

#include "autograd/grad_mode.h"
#include "core/error.h"
#include "core/storage.h"

namespace glassbox::optim {

Optimizer::Optimizer(std::vector<Tensor> params, double lr, std::string name)
    : params_(std::move(params)), lr_(lr), name_(std::move(name)) {
  GB_CHECK(lr >= 0.0, name_, ": invalid learning rate ", lr, " (must be >= 0)");
  GB_CHECK(!params_.empty(), name_, ": got an empty parameter list");
  for (size_t i = 0; i < params_.size(); ++i) {
    const Tensor& p = params_[i];
    GB_CHECK(p.defined(), name_, ": parameter ", i, " is an undefined tensor");
    GB_CHECK(is_floating(p.dtype()), name_, ": parameter ", i, " ", p.shape_str(), " is ",
             dtype_name(p.dtype()), "; only float32 and float64 tensors can be optimized");
    GB_CHECK(p.is_leaf(), name_, ": parameter ", i, " ", p.shape_str(),
             " is not a leaf tensor (it was produced by ", p.grad_fn_name(),
             "); optimize the leaf, or detach() it first");
    for (int64_t d = 0; d < p.dim(); ++d)
      GB_CHECK(p.stride(d) != 0 || p.size(d) <= 1, name_, ": parameter ", i, " ", p.shape_str(),
               " is an expanded view where several elements share memory; clone() it first");
    for (size_t j = 0; j < i; ++j)
      GB_CHECK(!params_[j].is_same(p), name_, ": parameter ", i,
               " is the same tensor as parameter ", j, "; pass each parameter once");
  }
  state_.resize(params_.size());
}

void Optimizer::zero_grad() {
  for (Tensor& p : params_)
    if (p.grad().defined()) p.zero_grad();
}

void Optimizer::set_lr(double lr) {
  GB_CHECK(lr >= 0.0, name_, ": invalid learning rate ", lr, " (must be >= 0)");
  lr_ = lr;
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
  const std::vector<std::string> keys = state_keys(settings());
  for (size_t i = 0; i < state_.size(); ++i) {
    const ParamState& s = state_[i];
    if (!s.initialized()) continue;
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

void Optimizer::validate_settings(const Settings& settings) const {
  const Settings mine = this->settings();
  std::vector<std::string> missing, unknown, names;
  for (const auto& [key, value] : mine) {
    names.push_back(key);
    if (!settings.count(key)) missing.push_back(key);
  }
  for (const auto& [key, value] : settings)
    if (!mine.count(key)) unknown.push_back(key);
  if (!missing.empty() || !unknown.empty()) {
    std::string msg = name_ + ": the settings do not match this optimizer";
    auto list = [&](const char* what, const std::vector<std::string>& keys) {
      if (keys.empty()) return;
      msg += str("; ", what, ":");
      for (const std::string& k : keys) msg += " '" + k + "'";
    };
    list("missing", missing);
    list("unknown", unknown);
    fail(msg + " (" + name_ + " has: " + join_keys(names) + ")");
  }
  const double lr = settings.at("lr");
  GB_CHECK(lr >= 0.0, name_, ": invalid learning rate ", lr, " (must be >= 0)");
  check_settings(settings);
}

void Optimizer::load_settings(const Settings& settings) {
  validate_settings(settings);
  const std::vector<std::string> now = state_keys(this->settings()), next = state_keys(settings);
  if (now != next) {
    for (size_t i = 0; i < state_.size(); ++i)
      GB_CHECK(!state_[i].initialized(), name_, ": these settings change the state a parameter ",
               "keeps (", join_keys(now), " -> ", join_keys(next), ") but parameter ", i,
               " has state; load the settings together with matching state (load_state)");
  }
  lr_ = settings.at("lr");
  apply_settings(settings);
}

Optimizer::PendingState Optimizer::prepare_state(
    const Settings& settings, const std::map<std::string, Tensor>& tensors) const {
  validate_settings(settings);
  NoGradGuard no_record;
  const std::vector<std::string> keys = state_keys(settings);
  const std::set<std::string> known(keys.begin(), keys.end());
  std::vector<ParamState> fresh(params_.size());
  std::vector<std::set<std::string>> seen(params_.size());
  for (const auto& [name, t] : tensors) {
    size_t i = 0;
    std::string key;
    GB_CHECK(split_key(name, &i, &key), name_, ": state entry '", name,
             "' is not named <parameter index>.<key>");
    GB_CHECK(i < params_.size(), name_, ": state entry '", name, "' is for parameter ", i,
             " but the optimizer has ", params_.size(), " parameters");
    GB_CHECK(known.count(key), name_, ": state entry '", name, "' has an unknown key '", key,
             "' (this ", name_, " keeps: ", join_keys(keys), ")");
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
    for (const std::string& key : keys)
      GB_CHECK(seen[i].count(key), name_, ": the state of parameter ", i, " lacks '", i, ".", key,
               "' (this ", name_, " keeps: ", join_keys(keys), ")");
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
  pending.owner_ = nullptr;
  lr_ = pending.settings_.at("lr");
  apply_settings(pending.settings_);
  state_ = std::move(pending.state_);
}

void Optimizer::load_state_tensors(const std::map<std::string, Tensor>& tensors) {
  commit_state(prepare_state(settings(), tensors));
}

void Optimizer::load_state(const Settings& settings, const std::map<std::string, Tensor>& tensors) {
  commit_state(prepare_state(settings, tensors));
}

}  // namespace glassbox::optim
