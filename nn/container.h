#pragma once
// Containers, as LibTorch's. Sequential chains modules that each take and return one Tensor.
// Children are named "0", "1", ... in order (or by the name given to push_back), so
// parameters read "0.weight", "3.bias", as in PyTorch.
//
//   nn::Sequential features(nn::Conv2d(1, 3, 3), nn::ReLU(), nn::MaxPool2d(2));
//   features->push_back(nn::Flatten());
//   Tensor y = features(x);
//
// ModuleList holds modules by position and ModuleDict by name, for a forward that uses them
// its own way (neither has a forward); their parameters are "0.weight", "<key>.weight".
//   nn::ModuleList blocks(nn::Linear(4, 4), nn::Linear(4, 4));
//   for (const auto& m : *blocks) x = std::dynamic_pointer_cast<nn::LinearImpl>(m)->forward(x);
//   nn::ModuleDict heads({{"cls", nn::Linear(4, 10).ptr()}, {"box", nn::Linear(4, 4).ptr()}});
//   Tensor logits = heads->get<nn::LinearImpl>("cls")->forward(x);
// nn::Identity (forward returns its input) is in nn/linear.h.
#include <cstddef>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "nn/module.h"

namespace glassbox::nn {

namespace detail {
template <class M, class = void>
struct has_tensor_forward : std::false_type {};
template <class M>
struct has_tensor_forward<
    M, std::void_t<decltype(std::declval<M&>().forward(std::declval<const Tensor&>()))>>
    : std::is_convertible<decltype(std::declval<M&>().forward(std::declval<const Tensor&>())),
                          Tensor> {};
}  // namespace detail

class SequentialImpl : public Module {
 public:
  SequentialImpl() = default;
  // Any mix of module handles (nn::Linear(...)) and shared_ptrs to modules.
  template <class First, class... Rest,
            std::enable_if_t<!std::is_same_v<std::decay_t<First>, SequentialImpl>, int> = 0>
  explicit SequentialImpl(First&& first, Rest&&... rest) {
    push_back(std::forward<First>(first));
    (push_back(std::forward<Rest>(rest)), ...);
  }

  // Appends a module named after its position.
  template <class M>
  void push_back(std::shared_ptr<M> module) {
    push_back(std::to_string(entries_.size()), std::move(module));
  }
  template <class M>
  void push_back(const ModuleHolder<M>& module) {
    push_back(module.ptr());
  }
  // Appends a module under an explicit name.
  template <class M>
  void push_back(std::string name, std::shared_ptr<M> module) {
    static_assert(std::is_base_of_v<Module, M>, "Sequential: M must derive from nn::Module");
    static_assert(detail::has_tensor_forward<M>::value,
                  "Sequential: every module needs Tensor forward(const Tensor&)");
    register_module(name, module);
    entries_.push_back({name, module, forward_of<M>(module.get()), &forward_of<M>});
  }
  template <class M>
  void push_back(std::string name, const ModuleHolder<M>& module) {
    push_back(std::move(name), module.ptr());
  }

  // Runs the modules in order. An error names the failing child: "Sequential (2): ...".
  Tensor forward(const Tensor& input);

  size_t size() const { return entries_.size(); }
  bool is_empty() const { return entries_.empty(); }
  std::shared_ptr<Module> operator[](size_t index) const { return ptr(index); }
  std::shared_ptr<Module> ptr(size_t index) const;
  std::shared_ptr<Module> new_instance() const override;
  // The module at `index` as its concrete type (throws when it is another type).
  template <class M>
  std::shared_ptr<M> ptr(size_t index) const {
    auto m = std::dynamic_pointer_cast<M>(ptr(index));
    GB_CHECK(m != nullptr, "Sequential: module ", index, " (", ptr(index)->name(),
             ") is not of the requested type");
    return m;
  }

 protected:
  void adopt_clone(const Module& source, const std::string& name,
                   std::shared_ptr<Module> clone) override;

 private:
  using Forward = std::function<Tensor(const Tensor&)>;
  // m's forward, with m on the anomaly call path; m must be an M (a clone of one is)
  template <class M>
  static Forward forward_of(Module* m) {
    M* raw = static_cast<M*>(m);
    return [raw](const Tensor& x) {
      ForwardScope scope(*raw);
      return raw->forward(x);
    };
  }
  struct Entry {
    std::string name;
    std::shared_ptr<Module> module;
    Forward forward;
    Forward (*bind)(Module*);  // forward_of<M>, for a clone of `module`
  };
  std::vector<Entry> entries_;
};
GB_MODULE(Sequential);

class ModuleListImpl : public Module {
 public:
  ModuleListImpl() = default;
  // Any mix of module handles and shared_ptrs to modules.
  template <class First, class... Rest,
            std::enable_if_t<!std::is_same_v<std::decay_t<First>, ModuleListImpl>, int> = 0>
  explicit ModuleListImpl(First&& first, Rest&&... rest) {
    push_back(std::forward<First>(first));
    (push_back(std::forward<Rest>(rest)), ...);
  }

  // Appends a module named after its position ("0", "1", ...).
  template <class M>
  void push_back(std::shared_ptr<M> module) {
    GB_CHECK(module != nullptr, "ModuleList: push_back of an empty module (at index ",
             modules_.size(), ")");
    register_module(std::to_string(modules_.size()), module);
    modules_.push_back(std::move(module));
  }
  template <class M>
  void push_back(const ModuleHolder<M>& module) {
    push_back(module.ptr());
  }
  // Appends every module of another ModuleList (shared, not copied).
  void extend(const ModuleListImpl& other) {
    for (const auto& m : std::vector<std::shared_ptr<Module>>(other.modules_)) push_back(m);
  }
  // Appends every element of a container of module handles or shared_ptrs.
  template <class Container>
  void extend(const Container& modules) {
    for (const auto& m : modules) push_back(m);
  }

  size_t size() const { return modules_.size(); }
  bool is_empty() const { return modules_.empty(); }
  std::shared_ptr<Module> operator[](size_t index) const { return ptr(index); }
  std::shared_ptr<Module> ptr(size_t index) const;
  // The module at `index` as its concrete type (throws when it is another type).
  template <class M>
  std::shared_ptr<M> ptr(size_t index) const {
    auto m = std::dynamic_pointer_cast<M>(ptr(index));
    GB_CHECK(m != nullptr, "ModuleList: module ", index, " (", ptr(index)->name(),
             ") is not of the requested type");
    return m;
  }
  using Iterator = std::vector<std::shared_ptr<Module>>::const_iterator;
  Iterator begin() const { return modules_.begin(); }
  Iterator end() const { return modules_.end(); }
  std::shared_ptr<Module> new_instance() const override;

 protected:
  void adopt_clone(const Module& source, const std::string& name,
                   std::shared_ptr<Module> clone) override;

 private:
  std::vector<std::shared_ptr<Module>> modules_;
};
GB_MODULE(ModuleList);

class ModuleDictImpl : public Module {
 public:
  ModuleDictImpl() = default;
  // (key, module) pairs, kept in this order
  explicit ModuleDictImpl(
      const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& modules) {
    for (const auto& [k, m] : modules) insert(k, m);
  }

  // Adds a module under `key` (non-empty, without '.', not yet present).
  template <class M>
  void insert(const std::string& key, std::shared_ptr<M> module) {
    GB_CHECK(module != nullptr, "ModuleDict: insert of an empty module under '", key, "'");
    GB_CHECK(!modules_.contains(key), "ModuleDict: already holds a module under '", key,
             "'; keys are unique");
    register_module(key, module);
    modules_.emplace_back(key, std::move(module));
  }
  template <class M>
  void insert(const std::string& key, const ModuleHolder<M>& module) {
    insert(key, module.ptr());
  }

  size_t size() const { return modules_.size(); }
  bool is_empty() const { return modules_.empty(); }
  bool contains(const std::string& key) const { return modules_.contains(key); }
  std::vector<std::string> keys() const { return modules_.keys(); }
  std::vector<std::shared_ptr<Module>> values() const { return modules_.values(); }
  const OrderedDict<std::shared_ptr<Module>>& items() const { return modules_; }
  // The module under `key`; an Error lists the keys when it is absent.
  std::shared_ptr<Module> operator[](const std::string& key) const { return at(key); }
  std::shared_ptr<Module> at(const std::string& key) const;
  // The module under `key` as its concrete type (throws when it is another type).
  template <class M>
  std::shared_ptr<M> get(const std::string& key) const {
    auto m = std::dynamic_pointer_cast<M>(at(key));
    GB_CHECK(m != nullptr, "ModuleDict: module '", key, "' (", at(key)->name(),
             ") is not of the requested type");
    return m;
  }
  // iterates (key, module) pairs in insertion order
  auto begin() const { return modules_.begin(); }
  auto end() const { return modules_.end(); }
  std::shared_ptr<Module> new_instance() const override;

 protected:
  void adopt_clone(const Module& source, const std::string& name,
                   std::shared_ptr<Module> clone) override;

 private:
  OrderedDict<std::shared_ptr<Module>> modules_;
};

// GB_MODULE's handle plus construction from a braced list of (key, module) pairs.
class ModuleDict : public ModuleHolder<ModuleDictImpl> {
 public:
  using ModuleHolder<ModuleDictImpl>::ModuleHolder;
  ModuleDict() = default;
  ModuleDict(std::initializer_list<std::pair<std::string, std::shared_ptr<Module>>> modules)
      : ModuleHolder(std::make_shared<ModuleDictImpl>(
            std::vector<std::pair<std::string, std::shared_ptr<Module>>>(modules))) {}
};

}  // namespace glassbox::nn
