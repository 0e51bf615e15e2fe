#pragma once
// Building blocks of the layer options structs, as in LibTorch: GB_ARG declares an option
// with a chained setter and a getter (`LinearOptions(3, 4).bias(false)`, `opts.bias()`), and
// ExpandingArray<D> (nn/expanding_array.h) takes either one number for every spatial dim or
// one per dim (`.stride(2)` or `.stride({2, 1})`).
#include "nn/expanding_array.h"
#include "nn/functional.h"

// Declares option `name` of type T: `opts.name(value)` sets it and returns the options,
// `opts.name()` reads it. A default may follow: GB_ARG(bool, bias) = true;
#define GB_ARG(T, name)                                    \
 public:                                                   \
  auto name(const T& new_##name)->decltype(*this) {        \
    this->name##_ = new_##name;                            \
    return *this;                                          \
  }                                                        \
  const T& name() const noexcept { return this->name##_; } \
  T& name() noexcept { return this->name##_; }             \
                                                           \
 private:                                                  \
  T name##_

namespace glassbox::nn {

using functional::ConvAlgo;
using functional::Reduction;

// LibTorch spells reductions torch::kMean etc.
inline constexpr Reduction kNone = Reduction::None;
inline constexpr Reduction kMean = Reduction::Mean;
inline constexpr Reduction kSum = Reduction::Sum;
}  // namespace glassbox::nn
