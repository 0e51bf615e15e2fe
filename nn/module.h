#pragma once
// nn::Module: the base of every layer and model, shaped like LibTorch's torch::nn::Module.
// A module owns named parameters, buffers and child modules, kept in registration order, and
// derives PyTorch's dotted names from them ("features.0.weight"). ModuleHolder and GB_MODULE
// give LibTorch's value-like handles (nn::Linear wraps a shared_ptr<nn::LinearImpl>).
//
//   struct NetImpl : nn::Module {
//     nn::Linear fc1{nullptr}, fc2{nullptr};
//     NetImpl() {
//       fc1 = register_module("fc1", nn::Linear(784, 64));
//       fc2 = register_module("fc2", nn::Linear(64, 10));
//     }
//     Tensor forward(const Tensor& x) { return fc2(relu(fc1(x))); }
//   };
//   GB_MODULE(Net);  // Net net; net->parameters(); net(x); std::cout << *net;
//
// Calling a module through its handle (`fc1(x)`) runs forward inside an nn::ForwardScope, which
// in anomaly mode (autograd/anomaly.h) pushes the module onto the call path that errors name
// ("Net.fc1 (Linear)"); when the mode is off that costs one branch.
//
// clone() makes a deep copy (see below). It needs a new module of the same type: a module made
// through its handle or registered as a child is rebuilt from its `options` member (every
// built-in layer) or with its default constructor (NetImpl() above). A module whose
// constructor takes other arguments overrides new_instance():
//   struct NetImpl : nn::Module {
//     explicit NetImpl(int64_t hidden);
//     std::shared_ptr<nn::Module> new_instance() const override {
//       return std::make_shared<NetImpl>(hidden_);
//     }
//   };
#include <array>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <ostream>
#include <string>
#include <optional>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

#include "autograd/anomaly.h"
#include "core/error.h"
#include "core/safetensors.h"
#include "core/tensor.h"

namespace glassbox::nn {

// A vector of (name, value) pairs in insertion order, with lookup by name. Iterate with
// `for (auto& [name, value] : dict)`.
template <class V>
class OrderedDict : public std::vector<std::pair<std::string, V>> {
  using Base = std::vector<std::pair<std::string, V>>;

 public:
  using Base::Base;
  using Base::operator[];
  using Base::at;
  // nullptr when absent
  const V* find(const std::string& key) const {
    for (const auto& kv : *this)
      if (kv.first == key) return &kv.second;
    return nullptr;
  }
  V* find(const std::string& key) {
    for (auto& kv : *this)
      if (kv.first == key) return &kv.second;
    return nullptr;
  }
  bool contains(const std::string& key) const { return find(key) != nullptr; }
  const V& operator[](const std::string& key) const { return at(key); }
  const V& at(const std::string& key) const {
    const V* v = find(key);
    if (!v) fail(str("OrderedDict: no entry named '", key, "'", suggestion()));
    return *v;
  }
  std::vector<std::string> keys() const {
    std::vector<std::string> k;
    for (const auto& kv : *this) k.push_back(kv.first);
    return k;
  }
  std::vector<V> values() const {
    std::vector<V> v;
    for (const auto& kv : *this) v.push_back(kv.second);
    return v;
  }

 private:
  std::string suggestion() const {
    if (this->empty()) return " (it is empty)";
    std::string s = " (it has ";
    for (size_t i = 0; i < this->size() && i < 8; ++i)
      s += (i ? ", '" : "'") + (*this)[i].first + "'";
    return s + (this->size() > 8 ? ", ...)" : ")");
  }
};

// What load_state_dict did not load, by dotted name. `mismatched` entries say what differs:
// "conv1.weight: shape [3,1,3,3] in the model, [3,1,5,5] in the file",
// "fc.bias: float32 in the model, float64 in the file".
struct LoadReport {
  std::vector<std::string> missing;     // in the model, not in the state: left as they were
  std::vector<std::string> unexpected;  // in the state, not in the model: ignored
  std::vector<std::string> mismatched;  // in both, but shape or dtype differs: left as they were
  bool ok() const { return missing.empty() && unexpected.empty() && mismatched.empty(); }
  // One line per problem ("missing: 'a', 'b'", "unexpected: ...", one "mismatched: ..." line
  // per entry), or "everything matched".
  std::string to_string() const;
};

class Module;
template <class Impl>
class ModuleHolder;
class ForwardScope;
namespace detail {
template <class M>
std::shared_ptr<Module> rebuild(const Module& m);
}

class Module {
 public:
  Module() = default;
  // An explicit name for printing; by default it is the class name without its namespace and
  // without an "Impl" suffix (NetImpl prints as "Net").
  explicit Module(std::string name) : name_(std::move(name)) {}
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  const std::string& name() const;

  // --- registration: names are unique per module, non-empty and without '.' ---
  // Stores `tensor` itself (a leaf keeps its identity, so the caller's handle sees .grad())
  // and sets requires_grad. Returns the stored tensor. An undefined tensor is allowed
  // (a disabled bias) and is skipped by parameters().
  Tensor register_parameter(std::string name, Tensor tensor, bool requires_grad = true);
  // Non-trainable state saved with the module (running statistics). Returns it.
  Tensor register_buffer(std::string name, Tensor tensor);
  template <class M>
  std::shared_ptr<M> register_module(std::string name, std::shared_ptr<M> module) {
    static_assert(std::is_base_of_v<Module, M>, "register_module: M must derive from nn::Module");
    if (module) module->template remember_type<M>();
    add_child(std::move(name), module);
    return module;
  }
  template <class M>
  std::shared_ptr<M> register_module(std::string name, const ModuleHolder<M>& holder) {
    return register_module(std::move(name), holder.ptr());
  }

  // --- traversal (registration order; children after the module's own entries) ---
  std::vector<Tensor> parameters(bool recurse = true) const;
  OrderedDict<Tensor> named_parameters(bool recurse = true) const;
  std::vector<Tensor> buffers(bool recurse = true) const;
  OrderedDict<Tensor> named_buffers(bool recurse = true) const;
  std::vector<std::shared_ptr<Module>> children() const;
  OrderedDict<std::shared_ptr<Module>> named_children() const;
  // Every descendant (depth first, pre-order) with its dotted path; the module itself is not
  // included.
  OrderedDict<std::shared_ptr<Module>> named_modules() const;
  // Calls fn on this module, then on every descendant (pre-order), e.g. to initialise:
  //   net->apply([](nn::Module& m) {
  //     if (auto* fc = dynamic_cast<nn::LinearImpl*>(&m)) nn::init::zeros_(fc->bias);
  //   });
  void apply(const std::function<void(Module&)>& fn);

  // --- copying ---
  // A deep copy: new parameters and buffers holding copies of the values (same shapes, dtypes
  // and requires_grad; on `device` when given, else where they are), the same training mode,
  // every child cloned likewise. Gradients are not copied; tied (shared) parameters become
  // separate copies; plain C++ members other than the options are the new instance's. The
  // default generator is left as it was (the new instance's random init is overwritten).
  // Cast with std::dynamic_pointer_cast<NetImpl>(net->clone()).
  std::shared_ptr<Module> clone(const std::optional<Device>& device = std::nullopt) const;
  // A new module of this one's type built the same way, whose values clone() then overwrites
  // (see the top of this file). Throws when the type cannot be rebuilt.
  virtual std::shared_ptr<Module> new_instance() const;

  // --- modes and gradients ---
  virtual void train(bool on = true);  // this module and all descendants
  void eval() { train(false); }
  bool is_training() const { return training_; }
  // Zeroes every parameter's gradient in place (keeping its memory, like Tensor::zero_grad),
  // or drops it when set_to_none.
  void zero_grad(bool set_to_none = false);

  // --- conversion: floating parameters and buffers change dtype / move, in place (the
  // module's tensor handles stay valid); gradients are dropped ---
  void to(DType dtype);
  void to(Device device);

  // --- state: parameters and buffers by dotted name, like PyTorch's state_dict ---
  OrderedDict<Tensor> state_dict() const;
  // Copies values in (under no_grad; to the model's devices). An entry matches when its name
  // is a state_dict() name and its shape and dtype are the same; a dtype difference is a
  // mismatch, not a conversion (convert with to(dtype) first). strict: anything missing,
  // unexpected or mismatched throws one Error that names the module and lists all of them, and
  // nothing is changed. Non-strict: every matching entry is loaded and the rest is reported.
  // TensorMap is what load_safetensors returns. `source` is how messages name the state
  // ("the file"); the two-argument form says "the state dict".
  LoadReport load_state_dict(const TensorMap& state, bool strict = true);
  LoadReport load_state_dict(const TensorMap& state, bool strict, const std::string& source);

  // --- printing ---
  // Writes this module's own one-line description. The default writes name() (followed by
  // "()" when the module has no children); layers write their options, PyTorch style:
  // "Linear(in_features=96, out_features=30, bias=True)". operator<< adds the children.
  virtual void pretty_print(std::ostream& os) const;
  // The whole tree, as PyTorch's repr prints it.
  std::string to_string() const;

  // internal: lets new_instance() rebuild this module as an M (set by ModuleHolder and
  // register_module when M is its exact type)
  template <class M>
  void remember_type() {
    if (!rebuild_ && typeid(*this) == typeid(M)) rebuild_ = &detail::rebuild<M>;
  }

 protected:
  // clone(): adds `clone`, a copy of source's child `name` that this module's new instance
  // lacks. Containers override it to keep their own index.
  virtual void adopt_clone(const Module& source, const std::string& name,
                           std::shared_ptr<Module> clone);

 private:
  void copy_from(const Module& src, const std::optional<Device>& device);
  void add_child(std::string name, std::shared_ptr<Module> child);
  void check_new_name(const std::string& name, const char* what) const;
  void collect(const std::string& prefix, bool recurse, bool buffers, OrderedDict<Tensor>& out,
               std::vector<const TensorImpl*>& seen) const;
  void collect_state(const std::string& prefix, OrderedDict<Tensor>& out) const;
  void convert(const std::function<Tensor(const Tensor&)>& fn);
  friend void print_tree(std::ostream& os, const Module& m, const std::string& indent);
  friend class ForwardScope;
  // This module's segment of the anomaly call path: its name as registered in `caller` (the
  // module whose forward is running it), else as first registered anywhere, else name().
  std::string path_segment(const Module* caller) const;

  mutable std::string name_;
  std::string registered_as_;  // the name under which it was first registered as a child
  bool training_ = true;
  OrderedDict<Tensor> parameters_;
  OrderedDict<Tensor> buffers_;
  OrderedDict<std::shared_ptr<Module>> children_;
  std::shared_ptr<Module> (*rebuild_)(const Module&) = nullptr;
};

namespace detail {
template <class M, class = void>
struct has_options_ctor : std::false_type {};
template <class M>
struct has_options_ctor<M, std::void_t<decltype(std::declval<const M&>().options)>>
    : std::is_constructible<M, const decltype(std::declval<const M&>().options)&> {};
// A new M built as `m` was: from its options, else default-constructed; nullptr when neither.
template <class M>
std::shared_ptr<Module> rebuild(const Module& m) {
  if constexpr (has_options_ctor<M>::value)
    return std::make_shared<M>(static_cast<const M&>(m).options);
  else if constexpr (std::is_default_constructible_v<M>)
    return std::make_shared<M>();
  else
    return nullptr;
}
}  // namespace detail

std::ostream& operator<<(std::ostream& os, const Module& m);

// Puts `module` on the anomaly call path while its forward runs (see autograd/anomaly.h). Does
// nothing when anomaly mode is off at construction; pops what it pushed, also on an exception.
// ModuleHolder::operator() uses it; a container that calls its children's forward directly
// should wrap each call in one too.
class ForwardScope {
 public:
  explicit ForwardScope(const Module& module) {
    if (autograd::is_anomaly_enabled()) enter(module);
  }
  ~ForwardScope() {
    if (entered_) autograd::pop_scope();
  }
  ForwardScope(const ForwardScope&) = delete;
  ForwardScope& operator=(const ForwardScope&) = delete;

 private:
  void enter(const Module& module);
  bool entered_ = false;
};

// A shared_ptr to a module with value-like syntax, as LibTorch's ModuleHolder:
// `nn::Linear fc(3, 4)` constructs a LinearImpl(3, 4); `fc->weight` reaches it; `fc(x)` calls
// forward; copies share the module. `nn::Linear fc{nullptr}` is empty until assigned.
template <class Impl>
class ModuleHolder {
 public:
  using ContainedType = Impl;

  // Default-constructs the module when it can be.
  template <class I = Impl, std::enable_if_t<std::is_default_constructible_v<I>, int> = 0>
  ModuleHolder() : impl_(std::make_shared<I>()) {
    impl_->template remember_type<Impl>();
  }
  ModuleHolder(std::nullptr_t) {}
  ModuleHolder(std::shared_ptr<Impl> module) : impl_(std::move(module)) {
    if (impl_) impl_->template remember_type<Impl>();
  }
  template <class Head, class... Tail,
            std::enable_if_t<!std::is_base_of_v<ModuleHolder, std::decay_t<Head>> &&
                                 !std::is_same_v<std::decay_t<Head>, std::nullptr_t> &&
                                 !std::is_same_v<std::decay_t<Head>, std::shared_ptr<Impl>>,
                             int> = 0>
  explicit ModuleHolder(Head&& head, Tail&&... tail)
      : impl_(std::make_shared<Impl>(std::forward<Head>(head), std::forward<Tail>(tail)...)) {
    impl_->template remember_type<Impl>();
  }

  Impl* operator->() const { return get(); }
  Impl& operator*() const { return *get(); }
  Impl* get() const {
    GB_CHECK(impl_ != nullptr,
             "ModuleHolder: accessing an empty module handle (constructed "
             "with nullptr and never assigned)");
    return impl_.get();
  }
  const std::shared_ptr<Impl>& ptr() const { return impl_; }
  bool is_empty() const { return impl_ == nullptr; }
  explicit operator bool() const { return impl_ != nullptr; }
  operator std::shared_ptr<Impl>() const { return impl_; }

  template <class... Args>
  decltype(auto) operator()(Args&&... args) const {
    Impl* module = get();
    ForwardScope scope(*module);
    return module->forward(std::forward<Args>(args)...);
  }
  template <class Arg>
  decltype(auto) operator[](Arg&& arg) const {
    return (*get())[std::forward<Arg>(arg)];
  }

 private:
  std::shared_ptr<Impl> impl_;
};

template <class Impl>
std::ostream& operator<<(std::ostream& os, const ModuleHolder<Impl>& m) {
  return os << static_cast<const Module&>(*m);
}

}  // namespace glassbox::nn

// Declares `Name` as the ModuleHolder of `NameImpl`, like TORCH_MODULE.
#define GB_MODULE(Name)                                           \
  class Name : public ::glassbox::nn::ModuleHolder<Name##Impl> {  \
   public:                                                        \
    using ::glassbox::nn::ModuleHolder<Name##Impl>::ModuleHolder; \
  }
