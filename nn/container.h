#pragma once
// Sequential: chains modules that each take and return one Tensor. Children are named
// "0", "1", ... in order (or by the name given to push_back), so parameters read
// "0.weight", "3.bias", as in PyTorch.
//
//   nn::Sequential features(nn::Conv2d(1, 3, 3), nn::ReLU(), nn::MaxPool2d(2));
//   features->push_back(nn::Flatten());
//   Tensor y = features(x);
#include <cstddef>
#include <functional>
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
    M* raw = module.get();
    entries_.push_back({name, module, [raw](const Tensor& x) {
                          ForwardScope scope(*raw);  // the child on the anomaly call path
                          return raw->forward(x);
                        }});
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
  // The module at `index` as its concrete type (throws when it is another type).
  template <class M>
  std::shared_ptr<M> ptr(size_t index) const {
    auto m = std::dynamic_pointer_cast<M>(ptr(index));
    GB_CHECK(m != nullptr, "Sequential: module ", index, " (", ptr(index)->name(),
             ") is not of the requested type");
    return m;
  }

 private:
  struct Entry {
    std::string name;
    std::shared_ptr<Module> module;
    std::function<Tensor(const Tensor&)> forward;
  };
  std::vector<Entry> entries_;
};
GB_MODULE(Sequential);

}  // namespace glassbox::nn
