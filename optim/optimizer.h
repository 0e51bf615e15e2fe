#pragma once
// Optimizer: the base of SGD, Adam and AdamW. It holds the parameters (leaf tensors) in
// parameter groups, each with its own settings (lr and hyper-parameters, like PyTorch's
// optimizer.param_groups), and the per-parameter state (momentum buffers, moment estimates, step
// counts), which it can export and re-import as named tensors, and its settings (lr and
// hyper-parameters), which it can export and re-import by name, for checkpoints
// (nn/checkpoint.h). Parameters may live on the CPU or a CUDA device; each is updated where it
// lives, by one fused pass over it and its state (core/kernels_optim.h).
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "core/tensor.h"

// Declares an option with a chainable setter and a getter, like LibTorch's TORCH_ARG:
// SGDOptions(0.1).momentum(0.9) sets it, options.momentum() reads it.
#define GB_OPTIM_ARG(T, name, init)                  \
 public:                                             \
  auto name(const T& value)->decltype(*this) {       \
    name##_ = value;                                 \
    return *this;                                    \
  }                                                  \
  const T& name() const noexcept { return name##_; } \
                                                     \
 private:                                            \
  T name##_ = init

namespace glassbox::optim {

// An optimizer's learning rate and hyper-parameters, by name (booleans are 0 or 1). SGD: lr,
// momentum, dampening, weight_decay, nesterov. Adam and AdamW: lr, beta1, beta2, eps,
// weight_decay, amsgrad.
using Settings = std::map<std::string, double>;

// One parameter's state. It is created by the first step() that finds the parameter's
// gradient defined, like PyTorch's lazily filled optimizer.state[p]; its buffers live on the
// parameter's device.
struct ParamState {
  int64_t step = 0;                       // step() calls that updated this parameter
  std::map<std::string, Tensor> buffers;  // "momentum_buffer", "exp_avg", ... (param's shape)
  bool initialized() const { return step > 0 || !buffers.empty(); }
};

// Parameters that share settings, like LibTorch's OptimizerParamGroup:
//   optim::SGD opt({optim::ParamGroup(backbone), optim::ParamGroup(head, optim::SGDOptions(0.1))},
//                  optim::SGDOptions(0.01).momentum(0.9));
// A group built without options takes the optimizer's defaults; a group with options takes
// all of them (as in LibTorch: the head above has momentum 0), and they must be the
// optimizer's own options type. Inside an optimizer, settings() is complete and current.
class ParamGroup {
 public:
  ParamGroup(std::vector<Tensor> params) : params_(std::move(params)) {}  // NOLINT: implicit
  template <class Options, class = decltype(std::declval<const Options&>().to_settings())>
  ParamGroup(std::vector<Tensor> params, const Options& options)
      : params_(std::move(params)), kind_(Options::kOptimizer), settings_(options.to_settings()) {}

  const std::vector<Tensor>& params() const { return params_; }
  const Settings& settings() const { return settings_; }
  double lr() const { return settings_.at("lr"); }
  bool has_options() const { return kind_ != nullptr; }

 private:
  friend class Optimizer;
  std::vector<Tensor> params_;
  const char* kind_ = nullptr;  // the optimizer the options are for ("SGD", ...), or none
  Settings settings_;
  size_t offset_ = 0;                 // flat index of the first parameter
  std::optional<double> initial_lr_;  // PyTorch's group["initial_lr"]: set by a scheduler
};

class Optimizer {
 public:
  using Settings = optim::Settings;
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  // One update of every parameter whose .grad() is defined (the others are skipped and keep
  // no state), each with its group's settings. Runs without recording and writes the
  // parameters in place.
  virtual void step() = 0;
  // Zeroes every defined gradient in place, keeping its memory.
  void zero_grad();

  // --- parameter groups ---
  // Appends a group (its parameters must be new to this optimizer; without options it takes
  // the defaults the optimizer was built with). Its parameters get the next flat indices.
  void add_param_group(ParamGroup group);
  const std::vector<ParamGroup>& param_groups() const { return groups_; }
  size_t num_param_groups() const { return groups_.size(); }
  const Settings& defaults() const { return defaults_; }

  double lr() const { return groups_[0].lr(); }  // the first group's
  double lr(size_t group) const;
  void set_lr(double lr);                // every group's; lr must be >= 0
  void set_lr(size_t group, double lr);  // one group's, as the schedulers do
  // The lr a scheduler started from (PyTorch's group["initial_lr"]): the first scheduler
  // built on this optimizer sets it, later ones (e.g. inside SequentialLR) reuse it.
  std::optional<double> initial_lr(size_t group) const;
  void set_initial_lr(size_t group, double lr);

  // All parameters, group after group: the flat index used by state() and the state names.
  const std::vector<Tensor>& params() const { return params_; }
  const std::string& name() const { return name_; }
  const ParamState& state(size_t index) const;

  // --- settings: the learning rate and every hyper-parameter, by name ---
  // With name() they describe a group completely, so a checkpoint can rebuild or check it.
  Settings settings() const { return groups_[0].settings(); }  // the first group's
  Settings settings(size_t group) const;
  std::vector<Settings> group_settings() const;  // one per group
  // Validates `settings` (exactly the keys settings() returns, each value in the range the
  // constructor accepts) and applies them to every group; errors name the optimizer and
  // nothing changes. A setting that changes which state a parameter keeps (SGD's momentum to
  // or from 0, Adam's amsgrad) is refused while a parameter it affects has state: load it
  // together with the state through load_state.
  void load_settings(const Settings& settings);
  // The same with one entry per group.
  void load_group_settings(const std::vector<Settings>& settings);

  // The per-parameter state as named tensors: "<index>.<key>", e.g. "0.exp_avg",
  // "0.exp_avg_sq", "0.step" (a 0-d int64 tensor), "3.momentum_buffer". Parameters without
  // state yet are absent. The tensors are copies, so later steps do not change them; buffers
  // stay on the parameter's device ("step" is a CPU tensor), and nn/checkpoint.cpp copies
  // them to the host to save them.
  std::map<std::string, Tensor> state_dict_tensors() const;
  // Replaces the whole state with `tensors` (as produced by state_dict_tensors, possibly
  // after a safetensors round trip). Every parameter index present must carry exactly the
  // keys its group keeps; buffers must have the parameter's shape and are copied, converted to
  // the parameter's dtype and device; "step" must hold one non-negative integral value. On
  // any error nothing is changed.
  void load_state_tensors(const std::map<std::string, Tensor>& tensors);

  // Settings (for every group, or one per group) and per-parameter state together (the state
  // is checked against the keys the new settings keep): both are applied, or on any error
  // neither.
  void load_state(const Settings& settings, const std::map<std::string, Tensor>& tensors);
  void load_state(const std::vector<Settings>& settings,
                  const std::map<std::string, Tensor>& tensors);

  // The same in two phases, for loading together with something else (a model) that must
  // stay unchanged when either part fails: prepare_state validates everything and builds
  // the new state (copies of the tensors, converted to each parameter's dtype and device)
  // without changing the optimizer; commit_state installs settings and state and cannot
  // fail. A PendingState belongs to the optimizer that prepared it and is committed once
  // (anything else is an Error). Until then it holds a second copy of the state.
  class PendingState {
   public:
    PendingState() = default;
    PendingState(PendingState&&) = default;
    PendingState& operator=(PendingState&&) = default;
    PendingState(const PendingState&) = delete;
    PendingState& operator=(const PendingState&) = delete;

   private:
    friend class Optimizer;
    const Optimizer* owner_ = nullptr;
    std::vector<Settings> settings_;
    std::vector<ParamState> state_;
  };
  PendingState prepare_state(const Settings& settings,
                             const std::map<std::string, Tensor>& tensors) const;
  PendingState prepare_state(const std::vector<Settings>& settings,
                             const std::map<std::string, Tensor>& tensors) const;
  void commit_state(PendingState&& pending);

 protected:
  // `defaults` (already checked by the derived class) are the settings of groups built
  // without options; `name` ("SGD", "Adam", ...) prefixes every error message. The derived
  // constructor then calls init_groups, once it can check settings.
  Optimizer(Settings defaults, std::string name);
  // Adds the constructor's groups: at least one, none empty, every parameter a distinct
  // floating-point leaf tensor.
  void init_groups(std::vector<ParamGroup> groups);
  // The keys an initialized parameter's state holds under `settings` (already validated;
  // "step" stands for ParamState::step).
  virtual std::vector<std::string> state_keys(const Settings& settings) const = 0;
  // Throws an Error naming the optimizer unless every value of `settings` is in range. The
  // base has already checked that the keys are exactly those of the defaults.
  virtual void check_settings(const Settings& settings) const = 0;
  ParamState& mutable_state(size_t index) { return state_[index]; }
  // The flat indices [begin, end) of group `g`'s parameters.
  size_t group_begin(size_t g) const { return groups_[g].offset_; }
  size_t group_end(size_t g) const { return groups_[g].offset_ + groups_[g].params_.size(); }
  // The gradient of parameter `index` as a contiguous tensor, or undefined when it has none;
  // checks its shape, dtype and device against the parameter.
  Tensor contiguous_grad(size_t index) const;
  // Runs `update` on a contiguous tensor on the parameter's device holding its elements in
  // row-major order and makes the result the parameter's value: in place when the parameter
  // is contiguous, through a copy otherwise. Bumps the parameter's storage version, as every
  // in-place write does, so a graph that saved the old value refuses to run backward.
  void update_in_place(size_t index, const std::function<void(const Tensor&)>& update) const;

 private:
  // Throws unless `settings` has exactly the keys of the defaults and valid values; `what`
  // names the group in messages ("" for all).
  void validate_settings(const Settings& settings, const std::string& what) const;
  // Validates one Settings per group.
  void validate_groups(const std::vector<Settings>& settings) const;
  void check_group(size_t group) const;
  size_t group_of(size_t index) const;

  std::vector<Tensor> params_;
  std::vector<ParamState> state_;
  std::vector<ParamGroup> groups_;
  Settings defaults_;
  std::string name_;
};

}  // namespace glassbox::optim
