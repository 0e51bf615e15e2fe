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

}  // namespace glassbox::nn
