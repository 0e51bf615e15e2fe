#pragma once
// Optimizer: the base of SGD, Adam and AdamW. It holds the parameters (leaf tensors), the
// learning rate and the per-parameter state (momentum buffers, moment estimates, step
// counts), which it can export and re-import as named tensors for checkpoints.
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
// gradient defined, like PyTorch's lazily filled optimizer.state[p].
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

  // The per-parameter state as named tensors: "<index>.<key>", e.g. "0.exp_avg",
  // "0.exp_avg_sq", "0.step" (a 0-d int64 tensor), "3.momentum_buffer". Parameters without
  // state yet are absent. The tensors are copies, so later steps do not change them.
  std::map<std::string, Tensor> state_dict_tensors() const;
  // Replaces the whole state with `tensors` (as produced by state_dict_tensors, possibly
  // after a safetensors round trip). Every parameter index present must carry exactly this
  // optimizer's keys; buffers must have the parameter's shape and are copied, converted to the
  // parameter's dtype and device; "step" must hold one non-negative integral value. On any
  // error nothing is changed.
  void load_state_tensors(const std::map<std::string, Tensor>& tensors);

 protected:
  // The keys an initialized parameter's state holds ("step" stands for ParamState::step).
  virtual std::vector<std::string> state_keys() const = 0;
  ParamState& mutable_state(size_t index) { return state_[index]; }
  // The gradient of parameter `index` as a contiguous tensor, or undefined when it has none;
  // checks its shape, dtype and device against the parameter.
  Tensor contiguous_grad(size_t index) const;
  // Runs `update` on a contiguous CPU tensor holding the parameter's elements in row-major
  // order and makes the result the parameter's value: in place when the parameter is
  // contiguous, through a copy otherwise. Bumps the parameter's storage version, as every
  // in-place write does, so a graph that saved the old value refuses to run backward.
  void update_in_place(size_t index, const std::function<void(const Tensor&)>& update) const;

 private:
  std::vector<Tensor> params_;
  std::vector<ParamState> state_;
  double lr_;
  std::string name_;
};

}  // namespace glassbox::optim
