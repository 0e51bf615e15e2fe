// The activations (nn/functional_activation.h, nn/activation.h), clamp / square / where, and
// the compound assignment operators: values against closed forms, gradcheck in float64,
// PyTorch parity (tests/fixtures/activation.safetensors, made by make_activation_fixtures.py),
// the Eigen fast path against the scalar one, in-place autograd semantics and error messages.
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "glassbox.h"

using namespace glassbox;
using doctest::Contains;

namespace {

using Inputs = const std::vector<Tensor>&;
using Fn1 = std::function<Tensor(const Tensor&)>;

// Values bounded away from 0 (the kinks) and within [-3, 3].
Tensor grad_input(const Shape& s, uint64_t seed) {
  Generator g(seed);
  Tensor t = rand(s, dtype(kFloat64), &g) * 2.5 + 0.2;
  Tensor sign = (rand(s, dtype(kFloat64), &g) > 0.5).to(kFloat64) * 2.0 - 1.0;
  return (sign * t).detach().requires_grad_();
}

void check_gradcheck(const std::string& name, const std::function<Tensor(Inputs)>& fn,
                     std::vector<Tensor> inputs) {
  INFO("gradcheck ", name);
  GradcheckResult r = gradcheck(fn, inputs);
  CHECK_MESSAGE(r.ok, r.message);
}

// max |a - b| <= tol * (1 + |b|) elementwise, with a message naming the worst element.
void check_close(const Tensor& got, const Tensor& want, double tol, const std::string& what) {
  INFO(what);
  REQUIRE(got.shape() == want.shape());
  std::vector<double> a = got.to_vector<double>(), b = want.to_vector<double>();
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::isnan(b[i])) {
      CHECK_MESSAGE(std::isnan(a[i]), "element ", i);
      continue;
    }
    if (!(std::abs(a[i] - b[i]) <= tol * (1 + std::abs(b[i])))) {
      FAIL_CHECK("element ", i, ": got ", a[i], ", want ", b[i]);
      return;
    }
  }
}

double sig(double x) { return 1 / (1 + std::exp(-x)); }
double sp(double x) { return std::log1p(std::exp(x)); }

struct Closed {
  std::string name;
  Fn1 op;
  std::function<double(double)> f, df;
};

std::vector<Closed> closed_forms() {
  const double k0 = std::sqrt(2 / M_PI);
  return {
      {"silu", [](const Tensor& x) { return F::silu(x); }, [](double x) { return x * sig(x); },
       [](double x) { return sig(x) * (1 + x * (1 - sig(x))); }},
      {"gelu", [](const Tensor& x) { return F::gelu(x); },
       [](double x) { return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0))); },
       [](double x) {
         return 0.5 * (1 + std::erf(x / std::sqrt(2.0))) +
                x * std::exp(-x * x / 2) / std::sqrt(2 * M_PI);
       }},
      {"gelu tanh", [](const Tensor& x) { return F::gelu(x, "tanh"); },
       [k0](double x) { return 0.5 * x * (1 + std::tanh(k0 * (x + 0.044715 * x * x * x))); },
       [k0](double x) {
         double t = std::tanh(k0 * (x + 0.044715 * x * x * x));
         return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * k0 * (1 + 3 * 0.044715 * x * x);
       }},
      {"leaky_relu 0.2", [](const Tensor& x) { return F::leaky_relu(x, 0.2); },
       [](double x) { return x > 0 ? x : 0.2 * x; }, [](double x) { return x > 0 ? 1 : 0.2; }},
      {"elu 0.7", [](const Tensor& x) { return F::elu(x, 0.7); },
       [](double x) { return x > 0 ? x : 0.7 * std::expm1(x); },
       [](double x) { return x > 0 ? 1 : 0.7 * std::exp(x); }},
      {"softplus", [](const Tensor& x) { return F::softplus(x); },
       [](double x) { return x > 20 ? x : sp(x); }, [](double x) { return x > 20 ? 1 : sig(x); }},
      {"softplus beta 2 threshold 3", [](const Tensor& x) { return F::softplus(x, 2.0, 3.0); },
       [](double x) { return 2 * x > 3 ? x : sp(2 * x) / 2; },
       [](double x) { return 2 * x > 3 ? 1 : sig(2 * x); }},
      {"hardtanh -0.5 2", [](const Tensor& x) { return F::hardtanh(x, -0.5, 2.0); },
       [](double x) { return std::min(std::max(x, -0.5), 2.0); },
       [](double x) { return (x > -0.5 && x < 2.0) ? 1 : 0; }},
      {"mish", [](const Tensor& x) { return F::mish(x); },
       [](double x) { return x * std::tanh(sp(x)); },
       [](double x) {
         double t = std::tanh(sp(x));
         return t + x * sig(x) * (1 - t * t);
       }},
      {"clamp -0.5 2", [](const Tensor& x) { return clamp(x, -0.5, 2.0); },
       [](double x) { return std::min(std::max(x, -0.5), 2.0); },
       [](double x) { return (x >= -0.5 && x <= 2.0) ? 1 : 0; }},
      {"clamp_min 0.25", [](const Tensor& x) { return x.clamp_min(0.25); },
       [](double x) { return std::max(x, 0.25); }, [](double x) { return x >= 0.25 ? 1 : 0; }},
      {"clamp_max 0.25", [](const Tensor& x) { return x.clamp_max(0.25); },
       [](double x) { return std::min(x, 0.25); }, [](double x) { return x <= 0.25 ? 1 : 0; }},
      {"square", [](const Tensor& x) { return x.square(); }, [](double x) { return x * x; },
       [](double x) { return 2 * x; }},
      {"exp", [](const Tensor& x) { return exp(x); }, [](double x) { return std::exp(x); },
       [](double x) { return std::exp(x); }},
      {"tanh", [](const Tensor& x) { return tanh(x); }, [](double x) { return std::tanh(x); },
       [](double x) { return 1 - std::tanh(x) * std::tanh(x); }},
      {"sigmoid", [](const Tensor& x) { return sigmoid(x); }, [](double x) { return sig(x); },
       [](double x) { return sig(x) * (1 - sig(x)); }},
  };
}

// x values that exercise every branch: kinks, bounds, thresholds, large |x|, 0.
std::vector<double> probe_values() {
  std::vector<double> v = {0.0,  -0.5,  2.0,  0.25,  1.5, 1.49, 1.51, 19.5, 20.5,
                           30.0, -30.0, 80.0, -80.0, 5.0, -5.0, 1e-4, -1e-4};
  for (int i = -40; i <= 40; ++i) v.push_back(i * 0.137);
  return v;
}

}  // namespace

TEST_SUITE("activation") {
  TEST_CASE("values and derivatives match the closed forms, float64 and float32") {
    const std::vector<double> xs = probe_values();
    for (const Closed& c : closed_forms()) {
      for (DType dt : {kFloat64, kFloat32}) {
        // float32: relative, except where 1 + tanh cancels (GELU-tanh's gradient far left:
        // about 2e-6 absolute, in PyTorch too)
        const double tol = dt == kFloat64 ? 1e-12 : 5e-6;
        // contiguous (the Eigen path) and strided (a step-2 slice: the scalar path)
        std::vector<double> twice;
        for (double x : xs) twice.insert(twice.end(), {x, 99.0});
        Tensor base = from_vector(twice).to(dt);
        for (bool strided : {false, true}) {
          Tensor x = strided ? base.slice(0, 0, base.size(0), 2).detach()
                             : from_vector(xs).to(dt).detach();
          x.requires_grad_();
          Tensor y = c.op(x);
          y.sum().backward();
          std::vector<double> want, dwant;
          for (double v : xs) {
            // compare against the closed form at the value the input actually holds
            const double xv = dt == kFloat32 ? double(float(v)) : v;
            want.push_back(c.f(xv));
            dwant.push_back(c.df(xv));
          }
          const std::string what = str(c.name, " ", dtype_name(dt), strided ? " strided" : "");
          check_close(y, from_vector(want), tol, what + " forward");
          check_close(x.grad(), from_vector(dwant), tol, what + " gradient");
        }
      }
    }
  }

  TEST_CASE("gradcheck in float64") {
    for (const Closed& c : closed_forms())
      check_gradcheck(c.name, [&](Inputs in) { return c.op(in[0]); }, {grad_input({3, 5}, 1)});
    check_gradcheck("softplus beta 0.5 threshold 1",
                    [](Inputs in) { return F::softplus(in[0], 0.5, 1.0); },
                    {grad_input({3, 5}, 2)});
    check_gradcheck("leaky_relu negative slope -0.3",
                    [](Inputs in) { return F::leaky_relu(in[0], -0.3); }, {grad_input({7}, 3)});
    check_gradcheck("where broadcast",
                    [](Inputs in) { return where(in[2].detach() > 0.0, in[0], in[1]); },
                    {grad_input({2, 3}, 4), grad_input({3}, 5), grad_input({2, 1}, 6)});
    check_gradcheck("where tensor-scalar", [](Inputs in) { return where(in[0] > 0.5, in[0], 2.0); },
                    {grad_input({4}, 7)});
    check_gradcheck("where scalar-tensor",
                    [](Inputs in) { return where(in[0] > 0.5, -1.0, in[0] * in[0]); },
                    {grad_input({4}, 8)});
    check_gradcheck("compound ops rebase history",
                    [](Inputs in) {
                      Tensor a = in[0] * 1.0;
                      a += in[1];
                      a -= in[1] * in[1];
                      a *= in[1];
                      a += 3.0;
                      a *= 0.5;
                      a /= in[2];  // last: it saves its result, so a is shared from here on
                      return a;
                    },
                    {grad_input({2, 3}, 9), grad_input({3}, 10), grad_input({2, 3}, 11)});
  }

  TEST_CASE("PyTorch parity (activation.safetensors)") {
    const TensorMap m = load_safetensors(std::string(GLASSBOX_SOURCE_DIR) +
                                         "/tests/fixtures/activation.safetensors");
    const std::vector<std::pair<std::string, Fn1>> cases = {
        {"silu", [](const Tensor& x) { return F::silu(x); }},
        {"mish", [](const Tensor& x) { return F::mish(x); }},
        {"gelu", [](const Tensor& x) { return F::gelu(x); }},
        {"gelu_tanh", [](const Tensor& x) { return F::gelu(x, "tanh"); }},
        {"leaky_relu_default", [](const Tensor& x) { return F::leaky_relu(x); }},
        {"leaky_relu_0.2", [](const Tensor& x) { return F::leaky_relu(x, 0.2); }},
        {"elu_default", [](const Tensor& x) { return F::elu(x); }},
        {"elu_0.5", [](const Tensor& x) { return F::elu(x, 0.5); }},
        {"softplus_default", [](const Tensor& x) { return F::softplus(x); }},
        {"softplus_b2_t1", [](const Tensor& x) { return F::softplus(x, 2.0, 1.0); }},
        {"hardtanh_default", [](const Tensor& x) { return F::hardtanh(x); }},
        {"hardtanh_m2_3", [](const Tensor& x) { return F::hardtanh(x, -2.0, 3.0); }},
        {"clamp_m05_05", [](const Tensor& x) { return clamp(x, -0.5, 0.5); }},
        {"clamp_min_0", [](const Tensor& x) { return clamp(x, 0.0, std::nullopt); }},
        {"clamp_max_0", [](const Tensor& x) { return clamp(x, std::nullopt, 0.0); }},
        {"square", [](const Tensor& x) { return square(x); }},
    };
    for (const auto& [name, fn] : cases) {
      REQUIRE_MESSAGE(m.count(name + ".input"), name);
      for (DType dt : {kFloat64, kFloat32}) {
        const double tol = dt == kFloat64 ? 1e-10 : 1e-5;
        Tensor x = m.at(name + ".input").to(dt).detach().requires_grad_();
        Tensor y = fn(x);
        y.backward(m.at(name + ".grad_out").to(dt));
        const std::string what = str(name, " ", dtype_name(dt));
        check_close(y, m.at(name + ".output"), tol, what + " output");
        check_close(x.grad(), m.at(name + ".grad_input"), tol, what + " grad_input");
      }
    }
  }

  TEST_CASE("edge cases: infinities, NaN, the Softplus threshold, clamp bounds") {
    const double inf = std::numeric_limits<double>::infinity();
    Tensor x = tensor({-inf, inf, 100.0, -100.0, 20.0, 20.000001});
    CHECK(F::softplus(x).to_vector<double>()[1] == inf);
    CHECK(F::softplus(x).to_vector<double>()[0] == 0.0);
    // at beta*x == threshold the log form is used; just above it, the identity
    CHECK(F::softplus(x).to_vector<double>()[4] == doctest::Approx(std::log1p(std::exp(20.0))));
    CHECK(F::softplus(x).to_vector<double>()[5] == 20.000001);
    CHECK(F::mish(x).to_vector<double>()[2] == doctest::Approx(100.0));
    CHECK(F::mish(x).to_vector<double>()[3] == doctest::Approx(0.0).epsilon(1e-30));
    CHECK(F::gelu(x, "tanh").to_vector<double>()[2] == 100.0);
    CHECK(F::elu(x).to_vector<double>()[0] == -1.0);
    for (DType dt : {kFloat32, kFloat64}) {
      Tensor n = tensor({std::nan(""), 0.5}).to(dt);
      std::vector<double> c = clamp(n, -1.0, 0.25).to_vector<double>();
      CHECK(std::isnan(c[0]));
      CHECK(c[1] == 0.25);
      CHECK(std::isnan(F::silu(n).to_vector<double>()[0]));
    }
    // min > max gives max everywhere, as torch.clamp
    CHECK(clamp(tensor({-3.0, 0.0, 3.0}), 1.0, -1.0).to_vector<double>() ==
          std::vector<double>{-1.0, -1.0, -1.0});
    // empty and 0-d tensors
    CHECK(F::gelu(zeros({0, 3})).shape() == Shape{0, 3});
    CHECK(F::silu(scalar_tensor(1.0)).item() == doctest::Approx(sig(1.0)));
  }

  TEST_CASE("scalar on the left broadcasts like scalar on the right") {
    Tensor x = randn({5, 7});
    CHECK(equal(0.5 * x, x * 0.5));
    CHECK(equal(2.0 - x, neg(x) + 2.0));
    CHECK(equal(3.0 + x.t(), x.t() + 3.0));
    std::vector<double> d = (1.0 / tensor({2.0, 4.0})).to_vector<double>();
    CHECK(d == std::vector<double>{0.5, 0.25});
  }

  TEST_CASE("where: values, broadcasting, dtypes and errors") {
    Tensor c = tensor({1, 0, 1}) > 0;  // bool [3]
    Tensor a = tensor({{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}});
    CHECK(where(c, a, -1.0).to_vector<double>() ==
          std::vector<double>{1.0, -1.0, 3.0, 4.0, -1.0, 6.0});
    CHECK(where(c, tensor({7, 8, 9}), tensor({0})).to_vector<int64_t>() ==
          std::vector<int64_t>{7, 0, 9});
    CHECK_THROWS_WITH_AS(where(tensor({1.0, 0.0}), a, a), Contains("where: condition must be bool"),
                         Error);
    CHECK_THROWS_WITH_AS(where(c, a, tensor({1, 2, 3})), Contains("where: dtype mismatch"), Error);
    CHECK_THROWS_WITH_AS(where(c, a, zeros({4})), Contains("where"), Error);
  }

  TEST_CASE("compound assignment: values, broadcasting, aliasing") {
    Tensor a = tensor({1.0, 2.0, 3.0, 4.0}).reshape({2, 2});
    a += tensor({10.0, 20.0});
    a -= 1.0;
    a *= tensor({2.0, 3.0}).reshape({2, 1});
    a /= 2.0;
    CHECK(a.to_vector<double>() == std::vector<double>{10.0, 21.0, 18.0, 34.5});
    Tensor b = tensor({1.0, 2.0, 3.0, 4.0}).reshape({2, 2});
    b += b.t();  // reads a private copy of the transposed source
    CHECK(b.to_vector<double>() == std::vector<double>{2.0, 5.0, 5.0, 8.0});
    Tensor i = tensor({1, 2, 3});
    i *= 3.0;
    CHECK(i.to_vector<int64_t>() == std::vector<int64_t>{3, 6, 9});
    CHECK_THROWS_WITH_AS(i /= tensor({2, 2, 2}),
                         Contains("operator/=: not supported for dtype int64"), Error);
    CHECK_THROWS_WITH_AS(a += tensor({1.0, 2.0, 3.0}), Contains("operator+="), Error);
    CHECK_THROWS_WITH_AS(a += tensor({1.f, 2.f}), Contains("operator+=: dtype mismatch"), Error);
    Tensor e = tensor({1.0}).expand({3});
    CHECK_THROWS_WITH_AS(e += 1.0, Contains("operator+=: the tensor [3] is an expanded view"),
                         Error);
  }

  TEST_CASE("compound assignment: autograd semantics") {
    Tensor w = tensor({1.0, 2.0}).requires_grad_();
    // a leaf that requires grad: refused while grad mode is on, allowed under NoGradGuard
    CHECK_THROWS_WITH_AS(w += 1.0, Contains("operator+=: a leaf tensor that requires grad"), Error);
    CHECK_THROWS_WITH_AS(w *= tensor({2.0, 2.0}), Contains("operator*=: a leaf tensor"), Error);
    {
      NoGradGuard ng;
      w += 1.0;
    }
    CHECK(w.to_vector<double>() == std::vector<double>{2.0, 3.0});
    CHECK(w.is_leaf());

    // a non-leaf is rebased: its history becomes (old history) op rhs
    Tensor v = tensor({3.0, 4.0}).requires_grad_();
    Tensor h = w * 2.0;
    h *= v;  // h = 2 w v
    h += v;  // h = 2 w v + v
    CHECK(h.grad_fn_name() == "AddBackward");
    h.sum().backward();
    CHECK(w.grad().to_vector<double>() == std::vector<double>{6.0, 8.0});  // 2 v
    CHECK(v.grad().to_vector<double>() == std::vector<double>{5.0, 7.0});  // 2 w + 1

    // a plain tensor that takes a value requiring grad joins the graph
    Tensor acc = zeros({2}, dtype(kFloat64));
    acc += w;
    CHECK(acc.requires_grad());
    CHECK_FALSE(acc.is_leaf());

    // an op that saved the old value refuses backward (the storage version moved on)
    Tensor x = tensor({0.5, 1.5}).requires_grad_();
    Tensor y = x * 1.0;
    Tensor z = y * y;  // MulBackward saved y
    {
      NoGradGuard ng;
      y += 1.0;  // no tracking under no_grad, but the version still bumps
    }
    CHECK_THROWS_AS(z.sum().backward(), Error);

    // a non-leaf sharing memory with another tensor (a view, a saved value) is refused
    Tensor p = x * 2.0;
    Tensor view = p.narrow(0, 0, 1);
    CHECK_THROWS_WITH_AS(view += 1.0, Contains("operator+=: the tensor [1] shares its memory"),
                         Error);
    Tensor q = exp(x);  // ExpBackward saved its output
    CHECK_THROWS_WITH_AS(q *= 2.0, Contains("shares its memory"), Error);
  }

  TEST_CASE("errors name the op and the bad value") {
    Tensor x = randn({2, 3});
    CHECK_THROWS_WITH_AS(F::gelu(x, "erf"),
                         Contains("gelu: approximate must be \"none\" or \"tanh\", got \"erf\""),
                         Error);
    CHECK_THROWS_WITH_AS(F::hardtanh(x, 1.0, -1.0),
                         Contains("hardtanh: max_val (-1) must not be less than min_val (1)"),
                         Error);
    CHECK_THROWS_WITH_AS(clamp(x, std::nullopt, std::nullopt),
                         Contains("clamp: at least one of min and max must be given"), Error);
    CHECK_THROWS_WITH_AS(F::softplus(x, 0.0),
                         Contains("softplus: beta must be finite and non-zero"), Error);
    CHECK_THROWS_WITH_AS(F::silu(tensor({1, 2})),
                         Contains("silu: expected a floating-point tensor"), Error);
    CHECK_THROWS_WITH_AS(clamp(tensor({1, 2}), 0.0, 1.0),
                         Contains("clamp: expected a floating-point tensor, got int64"), Error);
    CHECK_THROWS_WITH_AS(nn::Hardtanh(nn::HardtanhOptions().min_val(2.0).max_val(1.0)),
                         Contains("Hardtanh: max_val (1) must not be less than min_val (2)"),
                         Error);
  }

  TEST_CASE("modules: forward and PyTorch's repr") {
    auto repr = [](const nn::Module& m) {
      std::ostringstream os;
      os << m;
      return os.str();
    };
    CHECK(repr(*nn::SiLU()) == "SiLU()");
    CHECK(repr(*nn::Mish()) == "Mish()");
    CHECK(repr(*nn::GELU()) == "GELU(approximate='none')");
    CHECK(repr(*nn::GELU(nn::GELUOptions().approximate("tanh"))) == "GELU(approximate='tanh')");
    CHECK(repr(*nn::LeakyReLU()) == "LeakyReLU(negative_slope=0.01)");
    CHECK(repr(*nn::LeakyReLU(0.2)) == "LeakyReLU(negative_slope=0.2)");
    CHECK(repr(*nn::ELU()) == "ELU(alpha=1.0)");
    CHECK(repr(*nn::ELU(nn::ELUOptions().alpha(0.5))) == "ELU(alpha=0.5)");
    CHECK(repr(*nn::Softplus()) == "Softplus(beta=1, threshold=20)");
    CHECK(repr(*nn::Softplus(nn::SoftplusOptions().beta(0.5))) ==
          "Softplus(beta=0.5, threshold=20)");
    CHECK(repr(*nn::Hardtanh()) == "Hardtanh(min_val=-1.0, max_val=1.0)");
    Tensor x = tensor({-2.0, -0.5, 0.5, 2.0});
    CHECK(equal(nn::LeakyReLU(0.2)(x), F::leaky_relu(x, 0.2)));
    CHECK(equal(nn::GELU(nn::GELUOptions().approximate("tanh"))(x), F::gelu(x, "tanh")));
    CHECK(equal(nn::Softplus(nn::SoftplusOptions().beta(2).threshold(1))(x), F::softplus(x, 2, 1)));
    CHECK(nn::Hardtanh()(x).to_vector<double>() == std::vector<double>{-1.0, -0.5, 0.5, 1.0});
    CHECK(equal(nn::SiLU()(x), F::silu(x)));
    CHECK(equal(nn::Mish()(x), F::mish(x)));
    CHECK(equal(nn::ELU()(x), F::elu(x)));
    auto seq = nn::Sequential(nn::Linear(4, 3), nn::GELU(), nn::Linear(3, 2), nn::LeakyReLU(0.1));
    CHECK(seq(randn({5, 4})).shape() == Shape{5, 2});
  }
}
