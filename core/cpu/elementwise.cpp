// Element-wise CPU kernels: copy/convert, fill, binary and unary math, comparisons.
// Each op is a small functor; loop.h walks the operands and hands whole rows to it.
#include <cmath>
#include <functional>
#include <limits>
#include <cstring>
#include <type_traits>

#include <Eigen/Core>
#include <unsupported/Eigen/SpecialFunctions>

#include "core/activation_math.h"
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
                    } else if (s[0] == int64_t(sizeof(Out)) && s[1] == 0 && s[2] == e) {
                      // scalar-tensor (0.5 * x): without this branch it took the strided
                      // loop below, which does not vectorise (8x slower than x * 0.5)
                      const In xv = x[0];
                      for (int64_t i = 0; i < n; ++i) o[i] = f(xv, y[i]);
                    } else {
                      const int64_t so = s[0] / int64_t(sizeof(Out)), sx = s[1] / e, sy = s[2] / e;
                      for (int64_t i = 0; i < n; ++i) o[i * so] = f(x[i * sx], y[i * sy]);
                    }
                  });
}

// out[i] = f(in[i]) where f has a scalar form and a vector form over a contiguous run (an
// Eigen array expression: Eigen's exp/log/tanh/erf are SIMD, std:: ones are not).
template <class T, class F, class V>
void map_rows_vec(const Tensor& out, const Tensor& in, F f, V v) {
  Shape in_strides = broadcast_byte_strides(in.shape(), in.strides(), out.shape(), sizeof(T));
  for_each_row<2>(out.shape(), {byte_strides(out), in_strides}, {base_ptr(out), base_ptr(in)},
                  [&](const std::array<char*, 2>& p, const std::array<int64_t, 2>& s, int64_t n) {
                    T* o = reinterpret_cast<T*>(p[0]);
                    const T* a = reinterpret_cast<const T*>(p[1]);
                    if (s[0] == sizeof(T) && s[1] == sizeof(T)) {
                      Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>> y(o, n);
                      const Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>> x(a, n);
                      v(y, x);
                    } else {
                      const int64_t so = s[0] / int64_t(sizeof(T)), sa = s[1] / int64_t(sizeof(T));
                      for (int64_t i = 0; i < n; ++i) o[i * so] = f(a[i * sa]);
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

namespace {

// Contiguous runs of the transcendental ops go through Eigen's vectorised array functions
// (exp, log, tanh, erf, log1p, expm1 are SIMD for float; double falls back per element where
// Eigen has no packet form). The strided path and every piecewise-linear op use the scalar
// formulas of core/activation_math.h, which compilers vectorise by themselves.
template <class T>
void unary_float(Unary op, const Tensor& out, const Tensor& a, T p, T q) {
  using act::kGeluK0;
  using act::kGeluK1;
  using act::kInvSqrt2Pi;
  using act::kSqrt1_2;
  switch (op) {
    case Unary::Neg:
      return map_rows<T, T>(out, a, [](T v) { return -v; });
    case Unary::Exp:
      return map_rows_vec<T>(
          out, a, [](T v) { return std::exp(v); }, [](auto& y, const auto& x) { y = x.exp(); });
    case Unary::Log:
      return map_rows_vec<T>(
          out, a, [](T v) { return std::log(v); }, [](auto& y, const auto& x) { y = x.log(); });
    case Unary::Sqrt:
      return map_rows<T, T>(out, a, [](T v) { return std::sqrt(v); });
    case Unary::Relu:
      return map_rows<T, T>(out, a, [](T v) { return v > T(0) ? v : T(0); });
    case Unary::Sigmoid:
      return map_rows_vec<T>(
          out, a, [](T v) { return act::sigmoid(v); },
          [](auto& y, const auto& x) { y = (T(1) + (-x).exp()).inverse(); });
    case Unary::Tanh:
      return map_rows_vec<T>(
          out, a, [](T v) { return std::tanh(v); }, [](auto& y, const auto& x) { y = x.tanh(); });
    case Unary::Abs:
      return map_rows<T, T>(out, a, [](T v) { return std::abs(v); });
    case Unary::Sign:
      return map_rows<T, T>(out, a, [](T v) { return T((v > T(0)) - (v < T(0))); });
    case Unary::PowScalar:
      if (p == T(2)) return map_rows<T, T>(out, a, [](T v) { return v * v; });
      return map_rows<T, T>(out, a, [p](T v) { return std::pow(v, p); });
    case Unary::Silu:
      return map_rows_vec<T>(
          out, a, [](T v) { return act::silu(v); },
          [](auto& y, const auto& x) { y = x / (T(1) + (-x).exp()); });
    case Unary::SiluGrad:
      return map_rows_vec<T>(
          out, a, [](T v) { return act::silu_grad(v); },
          [](auto& y, const auto& x) {
            y = (T(1) + (-x).exp()).inverse();  // s, then s (1 + x (1 - s))
            y = y * (T(1) + x * (T(1) - y));
          });
    case Unary::Gelu:
      return map_rows_vec<T>(
          out, a, [](T v) { return act::gelu(v); },
          [](auto& y, const auto& x) { y = T(0.5) * x * (T(1) + (x * T(kSqrt1_2)).erf()); });
    case Unary::GeluGrad:
      return map_rows_vec<T>(
          out, a, [](T v) { return act::gelu_grad(v); },
          [](auto& y, const auto& x) {
            y = T(0.5) * (T(1) + (x * T(kSqrt1_2)).erf()) +
                x * T(kInvSqrt2Pi) * (T(-0.5) * x.square()).exp();
          });
    case Unary::GeluTanh:
      return map_rows_vec<T>(
          out, a, [](T v) { return act::gelu_tanh(v); },
          [](auto& y, const auto& x) {
            y = T(0.5) * x * (T(1) + (T(kGeluK0) * (x + T(kGeluK1) * x.cube())).tanh());
          });
    case Unary::GeluTanhGrad:
      return map_rows_vec<T>(
          out, a, [](T v) { return act::gelu_tanh_grad(v); },
          [](auto& y, const auto& x) {
            y = (T(kGeluK0) * (x + T(kGeluK1) * x.cube())).tanh();  // t
            y = T(0.5) * (T(1) + y) + T(0.5) * x * (T(1) - y.square()) * T(kGeluK0) *
                                          (T(1) + T(3 * kGeluK1) * x.square());
          });
    case Unary::LeakyRelu:
      return map_rows<T, T>(out, a, [p](T v) { return act::leaky_relu(v, p); });
    case Unary::LeakyReluGrad:
      return map_rows<T, T>(out, a, [p](T v) { return act::leaky_relu_grad(v, p); });
    case Unary::Elu:
      return map_rows_vec<T>(
          out, a, [p](T v) { return act::elu(v, p); },
          [p](auto& y, const auto& x) {
            y = p * x.expm1();  // then a blend loop: Eigen 3.4's select() is not vectorised
            for (Eigen::Index i = 0; i < x.size(); ++i) y[i] = x[i] > T(0) ? x[i] : y[i];
          });
    case Unary::EluGrad:
      return map_rows_vec<T>(
          out, a, [p](T v) { return act::elu_grad(v, p); },
          [p](auto& y, const auto& x) {
            y = p * x.exp();
            for (Eigen::Index i = 0; i < x.size(); ++i) y[i] = x[i] > T(0) ? T(1) : y[i];
          });
    case Unary::Softplus:
      return map_rows_vec<T>(
          out, a, [p, q](T v) { return act::softplus(v, p, q); },
          [p, q](auto& y, const auto& x) {
            y = (p * x).exp().log1p() / p;
            for (Eigen::Index i = 0; i < x.size(); ++i) y[i] = p * x[i] > q ? x[i] : y[i];
          });
    case Unary::SoftplusGrad:
      return map_rows_vec<T>(
          out, a, [p, q](T v) { return act::softplus_grad(v, p, q); },
          [p, q](auto& y, const auto& x) {
            y = (T(1) + (-p * x).exp()).inverse();
            for (Eigen::Index i = 0; i < x.size(); ++i) y[i] = p * x[i] > q ? T(1) : y[i];
          });
    case Unary::Mish:
      return map_rows_vec<T>(
          out, a, [](T v) { return act::mish(v); },
          [](auto& y, const auto& x) { y = x * x.exp().log1p().tanh(); });
    case Unary::MishGrad:
      return map_rows_vec<T>(
          out, a, [](T v) { return act::mish_grad(v); },
          [](auto& y, const auto& x) {
            y = x.exp().log1p().tanh();  // t
            y = y + x * (T(1) + (-x).exp()).inverse() * (T(1) - y.square());
          });
    case Unary::Clamp:
      return map_rows<T, T>(out, a, [p, q](T v) { return act::clamp(v, p, q); });
    case Unary::InClosedRange:
      return map_rows<T, T>(out, a, [p, q](T v) { return act::in_closed_range(v, p, q); });
    case Unary::InOpenRange:
      return map_rows<T, T>(out, a, [p, q](T v) { return act::in_open_range(v, p, q); });
  }
}

}  // namespace

Tensor unary(Unary op, const Tensor& a, double param, double param2) {
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
    unary_float<scalar_t>(op, out, a, static_cast<scalar_t>(param), static_cast<scalar_t>(param2));
  });
  return out;
}

// out = cond ? a : b over the broadcast shape of all three operands.
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  const Shape shape =
      broadcast_shapes(broadcast_shapes(cond.shape(), a.shape(), "where"), b.shape(), "where");
  Tensor out = empty(shape, dtype(a.dtype()));
  GB_DISPATCH_ALL(a.dtype(), "where", [&] {
    using T = scalar_t;
    const std::array<Shape, 4> strides = {
        byte_strides(out), broadcast_byte_strides(cond.shape(), cond.strides(), shape, 1),
        broadcast_byte_strides(a.shape(), a.strides(), shape, sizeof(T)),
        broadcast_byte_strides(b.shape(), b.strides(), shape, sizeof(T))};
    for_each_row<4>(shape, strides, {base_ptr(out), base_ptr(cond), base_ptr(a), base_ptr(b)},
                    [](const std::array<char*, 4>& p, const std::array<int64_t, 4>& s, int64_t n) {
                      for (int64_t i = 0; i < n; ++i) {
                        const bool c = *reinterpret_cast<const bool*>(p[1] + i * s[1]);
                        *reinterpret_cast<T*>(p[0] + i * s[0]) =
                            *reinterpret_cast<const T*>((c ? p[2] : p[3]) + i * (c ? s[2] : s[3]));
                      }
                    });
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
