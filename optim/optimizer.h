#pragma once
// Optimizer: the base of SGD, Adam and AdamW. It holds the parameters (leaf tensors), the
// learning rate and the per-parameter state (momentum buffers, moment estimates, step
// counts), which it can export and re-import as named tensors, and its settings (lr and
// hyper-parameters), which it can export and re-import by name, for checkpoints
// (nn/checkpoint.h). Parameters may live on the CPU or a CUDA device; each is updated where it
// lives, by one fused pass over it and its state (core/kernels_optim.h).
#include <cstdint>
#include <functional>
#include <map>
#include <string>
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

// One parameter's state. It is created by the first step() that finds the parameter's
// gradient defined, like PyTorch's lazily filled optimizer.state[p]; its buffers live on the
// parameter's device.
struct ParamState {
  int64_t step = 0;                       // step() calls that updated this parameter
  std::map<std::string, Tensor> buffers;  // "momentum_buffer", "exp_avg", ... (param's shape)
  bool initialized() const { return step > 0 || !buffers.empty(); }
};

class Optimizer {
 public:
  // `name` ("SGD", "Adam", ...) prefixes every error message. The parameters must be distinct
  // floating-point leaf tensors; the list must not be empty.
  Optimizer(std::vector<Tensor> params, double lr, std::string name);
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  // One update of every parameter whose .grad() is defined (the others are skipped and keep
  // no state). Runs without recording and writes the parameters in place.
  virtual void step() = 0;
  // Zeroes every defined gradient in place, keeping its memory.
  void zero_grad();

  double lr() const { return lr_; }
  void set_lr(double lr);  // used by the schedulers; lr must be >= 0
  const std::vector<Tensor>& params() const { return params_; }
  const std::string& name() const { return name_; }
  const ParamState& state(size_t index) const;

  // --- settings: the learning rate and every hyper-parameter, by name ---
  // Booleans are 0 or 1. SGD: lr, momentum, dampening, weight_decay, nesterov. Adam and
  // AdamW: lr, beta1, beta2, eps, weight_decay, amsgrad. With name() they describe the
  // optimizer completely, so a checkpoint can rebuild or check it.
  using Settings = std::map<std::string, double>;
  virtual Settings settings() const = 0;
  // Validates `settings` (exactly the keys settings() returns, each value in the range the
  // constructor accepts) and applies them; errors name the optimizer and nothing changes. A
  // setting that changes which state a parameter keeps (SGD's momentum to or from 0, Adam's
  // amsgrad) is refused while a parameter has state: load it together with the state
  // through load_state.
  void load_settings(const Settings& settings);

  // The per-parameter state as named tensors: "<index>.<key>", e.g. "0.exp_avg",
  // "0.exp_avg_sq", "0.step" (a 0-d int64 tensor), "3.momentum_buffer". Parameters without
  // state yet are absent. The tensors are copies, so later steps do not change them; buffers
  // stay on the parameter's device ("step" is a CPU tensor), and nn/checkpoint.cpp copies
  // them to the host to save them.
  std::map<std::string, Tensor> state_dict_tensors() const;
  // Replaces the whole state with `tensors` (as produced by state_dict_tensors, possibly
  // after a safetensors round trip). Every parameter index present must carry exactly this
  // optimizer's keys; buffers must have the parameter's shape and are copied, converted to the
  // parameter's dtype and device; "step" must hold one non-negative integral value. On any
  // error nothing is changed.
  void load_state_tensors(const std::map<std::string, Tensor>& tensors);

  // Settings and per-parameter state together (the state is checked against the keys the
  // new settings keep): both are applied, or on any error neither.
  void load_state(const Settings& settings, const std::map<std::string, Tensor>& tensors);

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
    Settings settings_;
    std::vector<ParamState> state_;
  };
  PendingState prepare_state(const Settings& settings,
                             const std::map<std::string, Tensor>& tensors) const;
  void commit_state(PendingState&& pending);

 protected:
  // The keys an initialized parameter's state holds under `settings` (already validated;
  // "step" stands for ParamState::step).
  virtual std::vector<std::string> state_keys(const Settings& settings) const = 0;
  // Throws an Error naming the optimizer unless every value of `settings` is in range. The
  // base has already checked that the keys are exactly those of settings().
  virtual void check_settings(const Settings& settings) const = 0;
  // Applies validated settings; must not throw. The base sets the learning rate itself.
  virtual void apply_settings(const Settings& settings) noexcept = 0;
  ParamState& mutable_state(size_t index) { return state_[index]; }
  // The gradient of parameter `index` as a contiguous tensor, or undefined when it has none;
  // checks its shape, dtype and device against the parameter.
  Tensor contiguous_grad(size_t index) const;
  // Runs `update` on a contiguous tensor on the parameter's device holding its elements in
  // row-major order and makes the result the parameter's value: in place when the parameter
  // is contiguous, through a copy otherwise. Bumps the parameter's storage version, as every
  // in-place write does, so a graph that saved the old value refuses to run backward.
  void update_in_place(size_t index, const std::function<void(const Tensor&)>& update) const;

 private:
  // Throws unless `settings` has exactly the keys of settings() and valid values.
  void validate_settings(const Settings& settings) const;

  std::vector<Tensor> params_;
  std::vector<ParamState> state_;
  double lr_;
  std::string name_;
};

}  // namespace glassbox::optim
