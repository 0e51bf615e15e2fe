#include "nn/container.h"

namespace glassbox::nn {

Tensor SequentialImpl::forward(const Tensor& input) {
  GB_CHECK(!entries_.empty(), "Sequential: forward on an empty Sequential (input ",
           input.shape_str(), ")");
  Tensor x = input;
  for (size_t i = 0; i < entries_.size(); ++i) {
    try {
      x = entries_[i].forward(x);
    } catch (const Error& e) {
      fail(str(name(), " (", entries_[i].name, "): ", e.what()));
    }
  }
  return x;
}

std::shared_ptr<Module> SequentialImpl::ptr(size_t index) const {
  GB_CHECK(index < entries_.size(), "Sequential: index ", index, " out of range for ",
           entries_.size(), " modules");
  return entries_[index].module;
}

std::shared_ptr<Module> SequentialImpl::new_instance() const {
  return std::make_shared<SequentialImpl>();  // clone() then adopts a clone of each entry
}

void SequentialImpl::adopt_clone(const Module& source, const std::string& n,
                                 std::shared_ptr<Module> clone) {
  for (const Entry& e : static_cast<const SequentialImpl&>(source).entries_)
    if (e.name == n) {
      register_module(n, clone);
      Forward f = e.bind(clone.get());
      entries_.push_back({n, std::move(clone), std::move(f), e.bind});
      return;
    }
  Module::adopt_clone(source, n, std::move(clone));  // registered by hand, not an entry
}

std::shared_ptr<Module> ModuleListImpl::ptr(size_t index) const {
  GB_CHECK(index < modules_.size(), "ModuleList: index ", index, " out of range for ",
           modules_.size(), " modules");
  return modules_[index];
}

std::shared_ptr<Module> ModuleListImpl::new_instance() const {
  return std::make_shared<ModuleListImpl>();
}

void ModuleListImpl::adopt_clone(const Module&, const std::string& n,
                                 std::shared_ptr<Module> clone) {
  GB_CHECK(n == std::to_string(modules_.size()), "clone: ModuleList child '", n,
           "' is not at its position ", modules_.size());
  push_back(std::move(clone));
}

std::shared_ptr<Module> ModuleDictImpl::at(const std::string& key) const {
  const std::shared_ptr<Module>* m = modules_.find(key);
  if (!m) {
    std::string have;
    for (const auto& k : modules_.keys()) have += (have.empty() ? "'" : ", '") + k + "'";
    fail(str("ModuleDict: no module under '", key, "' (",
             have.empty() ? std::string("it is empty") : "it has " + have, ")"));
  }
  return *m;
}

std::shared_ptr<Module> ModuleDictImpl::new_instance() const {
  return std::make_shared<ModuleDictImpl>();
}

void ModuleDictImpl::adopt_clone(const Module&, const std::string& n,
                                 std::shared_ptr<Module> clone) {
  insert(n, std::move(clone));
}

}  // namespace glassbox::nn
