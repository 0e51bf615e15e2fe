#pragma once
// Number-or-tuple arguments, as LibTorch's: ExpandingArray<D> takes one number for every
// spatial dim or one per dim (`.stride(2)` or `.stride({2, 1})`), and Padding2d is a 2-d
// convolution's explicit zero padding, spelled the PyTorch way: one number for all sides,
// (height, width), or the asymmetric (top, bottom, left, right). Kept below nn/functional.h
// so the functional ops and the modules' options take the same arguments.
#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <ostream>
#include <vector>

#include "core/error.h"

namespace glassbox::nn {

template <size_t D>
class ExpandingArray {
 public:
  ExpandingArray(int64_t single) { values_.fill(single); }
  // {v} repeats v, as PyTorch accepts a one-element tuple; otherwise exactly D values
  ExpandingArray(std::initializer_list<int64_t> list) {
    GB_CHECK(list.size() == D || list.size() == 1, "expected ", D,
             " values (one per spatial dim) or a single one, got ", list.size());
    if (list.size() == 1) {
      values_.fill(*list.begin());
    } else {
      size_t i = 0;
      for (int64_t v : list) values_[i++] = v;
    }
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

// Stored as (top, bottom, left, right), the order the conv code indexes. Two values mean
// (height, width) as in PyTorch's padding=(1, 2), never (top, bottom): `padding = {1, 1}`
// pads all four sides. Three values do not compile; a runtime list (the vector constructor)
// of any length other than 1, 2 or 4 throws.
class Padding2d {
 public:
  Padding2d(int64_t all = 0) : v_{all, all, all, all} {}
  Padding2d(int64_t height, int64_t width) : v_{height, height, width, width} {}
  Padding2d(int64_t top, int64_t bottom, int64_t left, int64_t right)
      : v_{top, bottom, left, right} {}
  Padding2d(const ExpandingArray<2>& hw) : Padding2d(hw[0], hw[1]) {}
  Padding2d(const std::array<int64_t, 4>& tblr) : v_(tblr) {}
  explicit Padding2d(const std::vector<int64_t>& values) {
    if (values.size() == 1) {
      *this = Padding2d(values[0]);
    } else if (values.size() == 2) {
      *this = Padding2d(values[0], values[1]);
    } else {
      GB_CHECK(values.size() == 4, "conv2d/conv_transpose2d: padding takes 1 value (all sides), 2 ",
               "(height, width) or 4 (top, bottom, left, right), got ", values.size(), " values");
      v_ = {values[0], values[1], values[2], values[3]};
    }
  }

  int64_t top() const { return v_[0]; }
  int64_t bottom() const { return v_[1]; }
  int64_t left() const { return v_[2]; }
  int64_t right() const { return v_[3]; }
  int64_t operator[](size_t i) const { return v_[i]; }  // 0 top, 1 bottom, 2 left, 3 right
  int64_t& operator[](size_t i) { return v_[i]; }
  const std::array<int64_t, 4>& array() const { return v_; }
  auto begin() const { return v_.begin(); }
  auto end() const { return v_.end(); }
  static constexpr size_t size() { return 4; }
  bool operator==(const Padding2d& o) const { return v_ == o.v_; }
  bool operator!=(const Padding2d& o) const { return v_ != o.v_; }

 private:
  std::array<int64_t, 4> v_;
};

// "(top 1, bottom 1, left 2, right 2)"
inline std::ostream& operator<<(std::ostream& os, const Padding2d& p) {
  return os << "(top " << p.top() << ", bottom " << p.bottom() << ", left " << p.left()
            << ", right " << p.right() << ")";
}

}  // namespace glassbox::nn
