// Element-wise ops: each forward calls one kernel and, when an input needs a gradient,
// records its backward right below. Broadcasting is undone in backward by sum_to.
#include <cmath>
#include <limits>
#include <optional>

#include "autograd/node.h"
#include "core/kernels.h"
#include "core/ops.h"

namespace glassbox {
using autograd::needs_grad;
using autograd::record;
using autograd::sum_to;
using kernels::Binary;
using kernels::Unary;

namespace {
Tensor mask_of(const Tensor& cond, DType dt) { return cond.to(dt); }
}  // namespace

Tensor scalar_like(const Tensor& t, double v) {
  GB_CHECK(t.defined(), "scalar op: tensor is undefined");
  if (!is_floating(t.dtype()))
    GB_CHECK(std::floor(v) == v, "scalar op: ", v, " is not a whole number but the tensor is ",
             dtype_name(t.dtype()), " ", t.shape_str(), "; convert it with .to(kFloat32) first");
  return full({}, v, TensorOptions().set_dtype(t.dtype()).set_device(t.device()));
}

Tensor add(const Tensor& a, const Tensor& b) {
  Tensor out = kernels::binary(Binary::Add, a, b, "add");
  if (needs_grad({a, b}))
    record("AddBackward", out, {a, b}, [sa = a.shape(), sb = b.shape()](const Tensor& g) {
      return std::vector<Tensor>{sum_to(g, sa), sum_to(g, sb)};
    });
  return out;
}

Tensor sub(const Tensor& a, const Tensor& b) {
  Tensor out = kernels::binary(Binary::Sub, a, b, "sub");
  if (needs_grad({a, b}))
    record("SubBackward", out, {a, b}, [sa = a.shape(), sb = b.shape()](const Tensor& g) {
      return std::vector<Tensor>{sum_to(g, sa), sum_to(neg(g), sb)};
    });
  return out;
}

Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor out = kernels::binary(Binary::Mul, a, b, "mul");
  if (needs_grad({a, b})) {
    Tensor sa = a.detach(), sb = b.detach();
    bool ga = a.requires_grad(), gb = b.requires_grad();
    record("MulBackward", out, {a, b},
           [sa, sb, ga, gb](const Tensor& g) {
             return std::vector<Tensor>{ga ? sum_to(g * sb, sa.shape()) : Tensor(),
                                        gb ? sum_to(g * sa, sb.shape()) : Tensor()};
           },
           {a, b});
  }
  return out;
}

Tensor div(const Tensor& a, const Tensor& b) {
  Tensor out = kernels::binary(Binary::Div, a, b, "div");
  if (needs_grad({a, b})) {
    Tensor sb = b.detach(), so = out.detach();
    bool gb = b.requires_grad();
    Shape shape_a = a.shape();
    record("DivBackward", out, {a, b},
           [sb, so, gb, shape_a](const Tensor& g) {
             Tensor ga = g / sb;  // d(a/b)/db = -(a/b)/b
             return std::vector<Tensor>{sum_to(ga, shape_a),
                                        gb ? sum_to(neg(ga * so), sb.shape()) : Tensor()};
           },
           {b});
  }
  return out;
}

Tensor pow(const Tensor& a, const Tensor& exponent) {
  Tensor out = kernels::binary(Binary::Pow, a, exponent, "pow");
  if (needs_grad({a, exponent})) {
    Tensor sa = a.detach(), se = exponent.detach(), so = out.detach();
    bool ge = exponent.requires_grad();
    record("PowBackward", out, {a, exponent},
           [sa, se, so, ge](const Tensor& g) {
             Tensor ga = g * se * pow(sa, se - 1.0);
             Tensor gexp = ge ? sum_to(g * so * log(sa), se.shape()) : Tensor();
             return std::vector<Tensor>{sum_to(ga, sa.shape()), gexp};
           },
           {a, exponent});
  }
  return out;
}

Tensor pow(const Tensor& a, double exponent) {
  Tensor out = kernels::unary(Unary::PowScalar, a, exponent);
  if (needs_grad({a})) {
    Tensor sa = a.detach();
    record("PowBackward", out, {a},
           [sa, exponent](const Tensor& g) {
             if (exponent == 0.0) return std::vector<Tensor>{zeros_like(sa)};
             return std::vector<Tensor>{g * pow(sa, exponent - 1.0) * exponent};
           },
           {a});
  }
  return out;
}

// Ties split the gradient evenly, as PyTorch does.
static Tensor extremum(const Tensor& a, const Tensor& b, bool is_max) {
  Tensor out = kernels::binary(is_max ? Binary::Maximum : Binary::Minimum, a, b,
                               is_max ? "maximum" : "minimum");
  if (needs_grad({a, b})) {
    Tensor sa = a.detach(), sb = b.detach();
    record(is_max ? "MaximumBackward" : "MinimumBackward", out, {a, b},
           [sa, sb, is_max](const Tensor& g) {
             DType dt = g.dtype();
             Tensor wins = mask_of(is_max ? gt(sa, sb) : lt(sa, sb), dt);
             Tensor ties = mask_of(eq(sa, sb), dt) * 0.5;
             Tensor wa = wins + ties;
             return std::vector<Tensor>{sum_to(g * wa, sa.shape()),
                                        sum_to(g * (1.0 - wa), sb.shape())};
           },
           {a, b});
  }
  return out;
}
Tensor maximum(const Tensor& a, const Tensor& b) { return extremum(a, b, true); }
Tensor minimum(const Tensor& a, const Tensor& b) { return extremum(a, b, false); }

Tensor neg(const Tensor& a) {
  Tensor out = kernels::unary(Unary::Neg, a);
  if (needs_grad({a}))
    record("NegBackward", out, {a}, [](const Tensor& g) { return std::vector<Tensor>{neg(g)}; });
  return out;
}

Tensor exp(const Tensor& a) {
  Tensor out = kernels::unary(Unary::Exp, a);
  if (needs_grad({a})) {
    Tensor so = out.detach();
    record("ExpBackward", out, {a}, [so](const Tensor& g) { return std::vector<Tensor>{g * so}; },
           {out});
  }
  return out;
}

Tensor log(const Tensor& a) {
  Tensor out = kernels::unary(Unary::Log, a);
  if (needs_grad({a})) {
    Tensor sa = a.detach();
    record("LogBackward", out, {a}, [sa](const Tensor& g) { return std::vector<Tensor>{g / sa}; },
           {a});
  }
  return out;
}

Tensor sqrt(const Tensor& a) {
  Tensor out = kernels::unary(Unary::Sqrt, a);
  if (needs_grad({a})) {
    Tensor so = out.detach();
    record("SqrtBackward", out, {a},
           [so](const Tensor& g) { return std::vector<Tensor>{g / (so * 2.0)}; }, {out});
  }
  return out;
}

Tensor relu(const Tensor& a) {
  Tensor out = kernels::unary(Unary::Relu, a);
  if (needs_grad({a})) {
    Tensor so = out.detach();
    record("ReluBackward", out, {a},
           [so](const Tensor& g) {
             return std::vector<Tensor>{
                 kernels::binary(Binary::PassIfPositive, g, so, "relu backward")};
           },
           {out});
  }
  return out;
}

Tensor sigmoid(const Tensor& a) {
  Tensor out = kernels::unary(Unary::Sigmoid, a);
  if (needs_grad({a})) {
    Tensor so = out.detach();
    record("SigmoidBackward", out, {a},
           [so](const Tensor& g) { return std::vector<Tensor>{g * so * (1.0 - so)}; }, {out});
  }
  return out;
}

Tensor tanh(const Tensor& a) {
  Tensor out = kernels::unary(Unary::Tanh, a);
  if (needs_grad({a})) {
    Tensor so = out.detach();
    record("TanhBackward", out, {a},
           [so](const Tensor& g) { return std::vector<Tensor>{g * (1.0 - so * so)}; }, {out});
  }
  return out;
}

Tensor abs(const Tensor& a) {
  Tensor out = kernels::unary(Unary::Abs, a);
  if (needs_grad({a})) {
    Tensor sa = a.detach();
    record(
        "AbsBackward", out, {a},
        [sa](const Tensor& g) { return std::vector<Tensor>{g * kernels::unary(Unary::Sign, sa)}; },
        {a});
  }
  return out;
}

// A missing bound is +-inf, so one kernel serves clamp, clamp_min and clamp_max. The gradient
// passes where min <= x <= max, bounds included, as PyTorch's clamp_backward.
Tensor clamp(const Tensor& a, std::optional<double> min, std::optional<double> max) {
  GB_CHECK(a.defined(), "clamp: input is undefined");
  GB_CHECK(min || max, "clamp: at least one of min and max must be given (input ", a.shape_str(),
           ")");
  GB_CHECK(is_floating(a.dtype()), "clamp: expected a floating-point tensor, got ",
           dtype_name(a.dtype()), " ", a.shape_str());
  constexpr double inf = std::numeric_limits<double>::infinity();
  const double lo = min.value_or(-inf), hi = max.value_or(inf);
  GB_CHECK(!std::isnan(lo) && !std::isnan(hi), "clamp: a bound is NaN (min ", lo, ", max ", hi,
           ", input ", a.shape_str(), ")");
  Tensor out = kernels::unary(Unary::Clamp, a, lo, hi);
  if (needs_grad({a})) {
    Tensor sa = a.detach();
    record("ClampBackward", out, {a},
           [sa, lo, hi](const Tensor& g) {
             return std::vector<Tensor>{g * kernels::unary(Unary::InClosedRange, sa, lo, hi)};
           },
           {a});
  }
  return out;
}
Tensor clamp_min(const Tensor& a, double min) { return clamp(a, min, std::nullopt); }
Tensor clamp_max(const Tensor& a, double max) { return clamp(a, std::nullopt, max); }

Tensor square(const Tensor& a) {
  GB_CHECK(a.defined(), "square: input is undefined");
  if (!is_floating(a.dtype())) return mul(a, a);  // integers: the wrapping integer multiply
  Tensor out = kernels::unary(Unary::PowScalar, a, 2.0);
  if (needs_grad({a})) {
    Tensor sa = a.detach();
    record("SquareBackward", out, {a},
           [sa](const Tensor& g) { return std::vector<Tensor>{g * sa * 2.0}; }, {a});
  }
  return out;
}

// Each branch gets the gradient where it was chosen, 0 elsewhere; the condition gets none.
Tensor where(const Tensor& condition, const Tensor& a, const Tensor& b) {
  GB_CHECK(condition.defined() && a.defined() && b.defined(), "where: an operand is undefined");
  Tensor out = kernels::where(condition, a, b);
  if (needs_grad({a, b})) {
    Tensor c = condition.detach();
    record("WhereBackward", out, {a, b},
           [c, sa = a.shape(), sb = b.shape(), ga = a.requires_grad(),
            gb = b.requires_grad()](const Tensor& g) {
             Tensor zero = scalar_like(g, 0.0);
             return std::vector<Tensor>{ga ? sum_to(kernels::where(c, g, zero), sa) : Tensor(),
                                        gb ? sum_to(kernels::where(c, zero, g), sb) : Tensor()};
           },
           {condition});
  }
  return out;
}
Tensor where(const Tensor& condition, const Tensor& a, double b) {
  return where(condition, a, scalar_like(a, b));
}
Tensor where(const Tensor& condition, double a, const Tensor& b) {
  return where(condition, scalar_like(b, a), b);
}

// --- operators ---
Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
Tensor operator-(const Tensor& a) { return neg(a); }
Tensor operator+(const Tensor& a, double s) { return add(a, scalar_like(a, s)); }
Tensor operator-(const Tensor& a, double s) { return sub(a, scalar_like(a, s)); }
Tensor operator*(const Tensor& a, double s) { return mul(a, scalar_like(a, s)); }
Tensor operator/(const Tensor& a, double s) { return div(a, scalar_like(a, s)); }
Tensor operator+(double s, const Tensor& a) { return add(scalar_like(a, s), a); }
Tensor operator-(double s, const Tensor& a) { return sub(scalar_like(a, s), a); }
Tensor operator*(double s, const Tensor& a) { return mul(scalar_like(a, s), a); }
Tensor operator/(double s, const Tensor& a) { return div(scalar_like(a, s), a); }

// --- comparisons ---
using kernels::Compare;
Tensor eq(const Tensor& a, const Tensor& b) { return kernels::compare(Compare::Eq, a, b, "eq"); }
Tensor ne(const Tensor& a, const Tensor& b) { return kernels::compare(Compare::Ne, a, b, "ne"); }
Tensor lt(const Tensor& a, const Tensor& b) { return kernels::compare(Compare::Lt, a, b, "lt"); }
Tensor le(const Tensor& a, const Tensor& b) { return kernels::compare(Compare::Le, a, b, "le"); }
Tensor gt(const Tensor& a, const Tensor& b) { return kernels::compare(Compare::Gt, a, b, "gt"); }
Tensor ge(const Tensor& a, const Tensor& b) { return kernels::compare(Compare::Ge, a, b, "ge"); }
Tensor operator==(const Tensor& a, const Tensor& b) { return eq(a, b); }
Tensor operator!=(const Tensor& a, const Tensor& b) { return ne(a, b); }
Tensor operator<(const Tensor& a, const Tensor& b) { return lt(a, b); }
Tensor operator<=(const Tensor& a, const Tensor& b) { return le(a, b); }
Tensor operator>(const Tensor& a, const Tensor& b) { return gt(a, b); }
Tensor operator>=(const Tensor& a, const Tensor& b) { return ge(a, b); }
Tensor operator==(const Tensor& a, double s) { return eq(a, scalar_like(a, s)); }
Tensor operator!=(const Tensor& a, double s) { return ne(a, scalar_like(a, s)); }
Tensor operator<(const Tensor& a, double s) { return lt(a, scalar_like(a, s)); }
Tensor operator<=(const Tensor& a, double s) { return le(a, scalar_like(a, s)); }
Tensor operator>(const Tensor& a, double s) { return gt(a, scalar_like(a, s)); }
Tensor operator>=(const Tensor& a, double s) { return ge(a, scalar_like(a, s)); }

}  // namespace glassbox
