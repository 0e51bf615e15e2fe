#pragma once
// Internal: how PyTorch's repr spells option values, for the layers' pretty_print.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "nn/module.h"
#include "nn/options.h"

namespace glassbox::nn::detail {

inline const char* py_bool(bool b) { return b ? "True" : "False"; }

// Python's repr(float): the shortest string that reads back as the same double, in fixed
// notation for exponents in [-4, 16) ("0.1", "1.0", "100000.0") and scientific otherwise
// ("1e-05", "1e+16").
inline std::string py_float(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  if (v == 0) return std::signbit(v) ? "-0.0" : "0.0";
  char buf[64];
  int prec = 1;
  for (; prec <= 17; ++prec) {
    std::snprintf(buf, sizeof buf, "%.*e", prec - 1, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  // buf = [-]d.ddde[+-]XX: split digits and exponent
  std::string s(buf);
  const bool neg = s[0] == '-';
  if (neg) s.erase(0, 1);
  const size_t e = s.find('e');
  const int exp10 = std::atoi(s.c_str() + e + 1);
  std::string digits = s.substr(0, e);
  if (digits.size() > 1) digits.erase(1, 1);  // drop the '.'
  const std::string sign = neg ? "-" : "";
  if (exp10 >= -4 && exp10 < 16) {
    if (exp10 < 0) return sign + "0." + std::string(-exp10 - 1, '0') + digits;
    if (int(digits.size()) <= exp10 + 1)
      return sign + digits + std::string(exp10 + 1 - digits.size(), '0') + ".0";
    return sign + digits.substr(0, exp10 + 1) + "." + digits.substr(exp10 + 1);
  }
  std::string out;
  out = digits.substr(0, 1);
  if (digits.size() > 1) out += "." + digits.substr(1);
  char ex[16];
  std::snprintf(ex, sizeof ex, "e%c%02d", exp10 < 0 ? '-' : '+', std::abs(exp10));
  return sign + out + ex;
}

// PyTorch prints an int-or-tuple option as given; glassbox prints one number when all dims
// agree ("kernel_size=2") and the tuple otherwise ("kernel_size=(2, 3)").
template <size_t D>
std::string int_or_tuple(const ExpandingArray<D>& a) {
  if (a.all_equal()) return std::to_string(a[0]);
  std::string s = "(";
  for (size_t i = 0; i < D; ++i) s += (i ? ", " : "") + std::to_string(a[i]);
  return s + ")";
}

// Runs a layer's computation; an Error from inside is re-thrown with the layer's description
// in front, so the message names the module as well as the op and shapes.
template <class F>
Tensor with_module_errors(const Module& m, F&& f) {
  try {
    return f();
  } catch (const Error& e) {
    fail(m.to_string() + ": " + e.what());
  }
}

}  // namespace glassbox::nn::detail
