// Element-wise CPU kernels: copy/convert, fill, binary and unary math, comparisons.
// Each op is a small functor; loop.h walks the operands and hands whole rows to it.
#include <cmath>
#include <functional>
#include <limits>
#include <cstring>
#include <type_traits>

#include "core/convert.h"
#include "core/cpu/cpu_kernels.h"
#include "core/cpu/loop.h"

namespace glassbox::cpu {
namespace {

char* base_ptr(const Tensor& t) { return static_cast<char*>(t.raw_data()); }

Shape byte_strides(const Tensor& t) {
  Shape s = t.strides();
  for (auto& v : s) v *= static_cast<int64_t>(dtype_size(t.dtype()));
  return s;
}

// Applies out[i] = f(in[i]) over rows; the contiguous branch is the one compilers vectorise.
template <class Out, class In, class F>
void map_rows(const Tensor& out, const Tensor& in, F f) {
  Shape in_strides = broadcast_byte_strides(in.shape(), in.strides(), out.shape(), sizeof(In));
  for_each_row<2>(out.shape(), {byte_strides(out), in_strides}, {base_ptr(out), base_ptr(in)},
                  [&](const std::array<char*, 2>& p, const std::array<int64_t, 2>& s, int64_t n) {
                    Out* o = reinterpret_cast<Out*>(p[0]);
                    const In* a = reinterpret_cast<const In*>(p[1]);
                    if (s[0] == sizeof(Out) && s[1] == sizeof(In)) {
                      for (int64_t i = 0; i < n; ++i) o[i] = f(a[i]);
                    } else {
                      const int64_t so = s[0] / int64_t(sizeof(Out)),
                                    sa = s[1] / int64_t(sizeof(In));
                      for (int64_t i = 0; i < n; ++i) o[i * so] = f(a[i * sa]);
                    }
                  });
}

// out[i] = f(a[i], b[i]) with a and b broadcast to out's shape.
template <class Out, class In, class F>
void zip_rows(const Tensor& out, const Tensor& a, const Tensor& b, F f) {
  Shape sa = broadcast_byte_strides(a.shape(), a.strides(), out.shape(), sizeof(In));
  Shape sb = broadcast_byte_strides(b.shape(), b.strides(), out.shape(), sizeof(In));
  for_each_row<3>(out.shape(), {byte_strides(out), sa, sb},
                  {base_ptr(out), base_ptr(a), base_ptr(b)},
                  [&](const std::array<char*, 3>& p, const std::array<int64_t, 3>& s, int64_t n) {
                    Out* o = reinterpret_cast<Out*>(p[0]);
                    const In* x = reinterpret_cast<const In*>(p[1]);
                    const In* y = reinterpret_cast<const In*>(p[2]);
                    constexpr int64_t e = sizeof(In);
                    if (s[0] == int64_t(sizeof(Out)) && s[1] == e && s[2] == e) {
                      for (int64_t i = 0; i < n; ++i) o[i] = f(x[i], y[i]);
                    } else if (s[0] == int64_t(sizeof(Out)) && s[1] == e && s[2] == 0) {
                      const In yv = y[0];  // tensor-scalar: the common broadcast
                      for (int64_t i = 0; i < n; ++i) o[i] = f(x[i], yv);
                    } else {
                      const int64_t so = s[0] / int64_t(sizeof(Out)), sx = s[1] / e, sy = s[2] / e;
                      for (int64_t i = 0; i < n; ++i) o[i * so] = f(x[i * sx], y[i * sy]);
                    }
                  });
}

// Signed integer overflow is UB; wrap through unsigned arithmetic as two's complement does.
template <class T, class F>
T wrap_int(T a, T b, F f) {
  using U = std::make_unsigned_t<T>;
  return static_cast<T>(f(static_cast<U>(a), static_cast<U>(b)));
}

template <class T>
void binary_typed(Binary op, const Tensor& out, const Tensor& a, const Tensor& b,
                  const char* name) {
  if constexpr (std::is_integral_v<T>) {
    switch (op) {
      case Binary::Add:
        return zip_rows<T, T>(out, a, b, [](T x, T y) { return wrap_int(x, y, std::plus<>()); });
      case Binary::Sub:
        return zip_rows<T, T>(out, a, b, [](T x, T y) { return wrap_int(x, y, std::minus<>()); });
      case Binary::Mul:
        return zip_rows<T, T>(out, a, b,
                              [](T x, T y) { return wrap_int(x, y, std::multiplies<>()); });
      case Binary::Maximum:
        return zip_rows<T, T>(out, a, b, [](T x, T y) { return x > y ? x : y; });
      case Binary::Minimum:
        return zip_rows<T, T>(out, a, b, [](T x, T y) { return x < y ? x : y; });
      default:
        break;
    }
  } else {
    switch (op) {
      case Binary::Add:
        return zip_rows<T, T>(out, a, b, [](T x, T y) { return x + y; });
      case Binary::Sub:
        return zip_rows<T, T>(out, a, b, [](T x, T y) { return x - y; });
      case Binary::Mul:
        return zip_rows<T, T>(out, a, b, [](T x, T y) { return x * y; });
      case Binary::Div:
        return zip_rows<T, T>(out, a, b, [](T x, T y) { return x / y; });
      case Binary::Pow:
        return zip_rows<T, T>(out, a, b, [](T x, T y) { return std::pow(x, y); });
      case Binary::Maximum:
        return zip_rows<T, T>(out, a, b, [](T x, T y) { return (x != x || x > y) ? x : y; });
      case Binary::Minimum:
        return zip_rows<T, T>(out, a, b, [](T x, T y) { return (x != x || x < y) ? x : y; });
      case Binary::PassIfPositive:
        return zip_rows<T, T>(out, a, b, [](T x, T y) { return y > T(0) ? x : T(0); });
    }
  }
  fail(str(name, ": not supported for dtype ", dtype_name(out.dtype()), " (a ", a.shape_str(),
           ", b ", b.shape_str(), "); division and pow need a floating-point tensor"));
}

}  // namespace

void copy(const Tensor& dst, const Tensor& src) {
  broadcast_shapes(src.shape(), dst.shape(), "copy_");
  GB_CHECK(numel_of(broadcast_shapes(src.shape(), dst.shape(), "copy_")) == dst.numel(),
           "copy_: source ", src.shape_str(), " does not broadcast to destination ",
           dst.shape_str());
  if (dst.dtype() == src.dtype() && dst.is_contiguous() && src.is_contiguous() &&
      dst.shape() == src.shape()) {
    if (dst.numel() > 0) std::memcpy(dst.raw_data(), src.raw_data(), dst.nbytes());
    return;
  }
  GB_DISPATCH_ALL(dst.dtype(), "copy_", [&] {
    using To = scalar_t;
    GB_DISPATCH_ALL(src.dtype(), "copy_", [&] {
      using From = scalar_t;
      map_rows<To, From>(dst, src, [](From v) { return convert_value<To, From>(v); });
    });
  });
}

void fill(const Tensor& dst, double value) {
  // write-only: dst is usually fresh, uninitialised memory (an invalid bool, say), so it must
  // not be read as the input of a map
  GB_DISPATCH_ALL(dst.dtype(), "fill_", [&] {
    const scalar_t v = convert_value<scalar_t, double>(value);
    for_each_row<1>(dst.shape(), {byte_strides(dst)}, {base_ptr(dst)},
                    [v](const std::array<char*, 1>& p, const std::array<int64_t, 1>& s, int64_t n) {
                      scalar_t* o = reinterpret_cast<scalar_t*>(p[0]);
                      const int64_t so = s[0] / int64_t(sizeof(scalar_t));
                      if (so == 1) {
                        for (int64_t i = 0; i < n; ++i) o[i] = v;
                      } else {
                        for (int64_t i = 0; i < n; ++i) o[i * so] = v;
                      }
                    });
  });
}

Tensor binary(Binary op, const Tensor& a, const Tensor& b, const char* name) {
  kernels::check_same_dtype(a, b, name);
  Tensor out = empty(broadcast_shapes(a.shape(), b.shape(), name), dtype(a.dtype()));
  GB_DISPATCH_NUMERIC(a.dtype(), name, [&] { binary_typed<scalar_t>(op, out, a, b, name); });
  return out;
}

void binary_(Binary op, const Tensor& dst, const Tensor& src, const char* name) {
  kernels::check_same_dtype(dst, src, name);
  GB_CHECK(numel_of(broadcast_shapes(src.shape(), dst.shape(), name)) == dst.numel(), name,
           ": in-place source ", src.shape_str(), " does not broadcast to ", dst.shape_str());
  GB_DISPATCH_NUMERIC(dst.dtype(), name, [&] { binary_typed<scalar_t>(op, dst, dst, src, name); });
}

void axpy_(const Tensor& dst, const Tensor& src, double alpha) {
  kernels::check_same_dtype(dst, src, "add_");
  GB_CHECK(numel_of(broadcast_shapes(src.shape(), dst.shape(), "add_")) == dst.numel(),
           "add_: source ", src.shape_str(), " does not broadcast to ", dst.shape_str());
  GB_DISPATCH_FLOAT(dst.dtype(), "add_", [&] {
    const scalar_t s = static_cast<scalar_t>(alpha);
    zip_rows<scalar_t, scalar_t>(dst, dst, src, [s](scalar_t x, scalar_t y) { return x + s * y; });
  });
}

Tensor unary(Unary op, const Tensor& a, double param) {
  Tensor out = empty(a.shape(), dtype(a.dtype()));
  if (op == Unary::Neg || op == Unary::Abs || op == Unary::Sign) {
    if (a.dtype() == kInt64) {
      using U = uint64_t;
      if (op == Unary::Neg)
        map_rows<int64_t, int64_t>(out, a, [](int64_t v) { return int64_t(U(0) - U(v)); });
      else if (op == Unary::Abs)
        map_rows<int64_t, int64_t>(out, a,
                                   [](int64_t v) { return v < 0 ? int64_t(U(0) - U(v)) : v; });
      else
        map_rows<int64_t, int64_t>(out, a, [](int64_t v) { return int64_t((v > 0) - (v < 0)); });
      return out;
    }
  }
  GB_CHECK(is_floating(a.dtype()), kernels::unary_name(op),
           ": expected a floating-point tensor, got ", dtype_name(a.dtype()), " ", a.shape_str());
  GB_DISPATCH_FLOAT(a.dtype(), kernels::unary_name(op), [&] {
    using T = scalar_t;
    const T p = static_cast<T>(param);
    switch (op) {
      case Unary::Neg:
        map_rows<T, T>(out, a, [](T v) { return -v; });
        break;
      case Unary::Exp:
        map_rows<T, T>(out, a, [](T v) { return std::exp(v); });
        break;
      case Unary::Log:
        map_rows<T, T>(out, a, [](T v) { return std::log(v); });
        break;
      case Unary::Sqrt:
        map_rows<T, T>(out, a, [](T v) { return std::sqrt(v); });
        break;
      case Unary::Relu:
        map_rows<T, T>(out, a, [](T v) { return v > T(0) ? v : T(0); });
        break;
      case Unary::Sigmoid:
        map_rows<T, T>(out, a, [](T v) { return T(1) / (T(1) + std::exp(-v)); });
        break;
      case Unary::Tanh:
        map_rows<T, T>(out, a, [](T v) { return std::tanh(v); });
        break;
      case Unary::Abs:
        map_rows<T, T>(out, a, [](T v) { return std::abs(v); });
        break;
      case Unary::Sign:
        map_rows<T, T>(out, a, [](T v) { return T((v > T(0)) - (v < T(0))); });
        break;
      case Unary::PowScalar:
        if (p == T(2))
          map_rows<T, T>(out, a, [](T v) { return v * v; });
        else
          map_rows<T, T>(out, a, [p](T v) { return std::pow(v, p); });
        break;
    }
  });
  return out;
}

Tensor compare(Compare op, const Tensor& a, const Tensor& b, const char* name) {
  kernels::check_same_dtype(a, b, name);
  Tensor out = empty(broadcast_shapes(a.shape(), b.shape(), name), dtype(kBool));
  GB_DISPATCH_ALL(a.dtype(), name, [&] {
    using T = scalar_t;
    switch (op) {
      case Compare::Eq:
        zip_rows<bool, T>(out, a, b, [](T x, T y) { return x == y; });
        break;
      case Compare::Ne:
        zip_rows<bool, T>(out, a, b, [](T x, T y) { return x != y; });
        break;
      case Compare::Lt:
        zip_rows<bool, T>(out, a, b, [](T x, T y) { return x < y; });
        break;
      case Compare::Le:
        zip_rows<bool, T>(out, a, b, [](T x, T y) { return x <= y; });
        break;
      case Compare::Gt:
        zip_rows<bool, T>(out, a, b, [](T x, T y) { return x > y; });
        break;
      case Compare::Ge:
        zip_rows<bool, T>(out, a, b, [](T x, T y) { return x >= y; });
        break;
    }
  });
  return out;
}

}  // namespace glassbox::cpu
