#pragma once
// Building blocks of the layer options structs, as in LibTorch: GB_ARG declares an option
// with a chained setter and a getter (`LinearOptions(3, 4).bias(false)`, `opts.bias()`), and
// ExpandingArray<D> takes either one number for every spatial dim or one per dim
// (`.stride(2)` or `.stride({2, 1})`).
#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <ostream>

#include "core/error.h"
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

template <size_t D>
class ExpandingArray {
 public:
  ExpandingArray(int64_t single) { values_.fill(single); }
  ExpandingArray(std::initializer_list<int64_t> list) {
    GB_CHECK(list.size() == D, "expected ", D,
             " values (one per spatial dim) or a single one, got ", list.size());
    size_t i = 0;
    for (int64_t v : list) values_[i++] = v;
  }
  ExpandingArray(const std::array<int64_t, D>& values) : values_(values) {}

  int64_t operator[](size_t i) const { return values_[i]; }
  int64_t& operator[](size_t i) { return values_[i]; }
  const std::array<int64_t, D>& operator*() const { return values_; }
  const std::array<int64_t, D>& array() const { return values_; }
  static constexpr size_t size() { return D; }
  bool all_equal() const {
    for (size_t i = 1; i < D; ++i)
      if (values_[i] != values_[0]) return false;
    return true;
  }
  bool operator==(const ExpandingArray& o) const { return values_ == o.values_; }
  bool operator!=(const ExpandingArray& o) const { return values_ != o.values_; }

 private:
  std::array<int64_t, D> values_{};
};

// "(3, 3)", as PyTorch prints a tuple
template <size_t D>
std::ostream& operator<<(std::ostream& os, const ExpandingArray<D>& a) {
  os << "(";
  for (size_t i = 0; i < D; ++i) os << (i ? ", " : "") << a[i];
  return os << ")";
}

}  // namespace glassbox::nn

namespace glassbox::nn {
// LibTorch spells reductions torch::kMean etc.
inline constexpr Reduction kNone = Reduction::None;
inline constexpr Reduction kMean = Reduction::Mean;
inline constexpr Reduction kSum = Reduction::Sum;
}  // namespace glassbox::nn
