// The custom-op API (autograd/function.h): a fused SiLU written both ways the header shows
// (record with a backward lambda, and autograd::Function), checked by gradcheck in float64 and
// against PyTorch's F.silu, trained inside a small model, and the errors a wrong backward gets.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "glassbox.h"

using namespace glassbox;
using doctest::Contains;

namespace {

using Inputs = const std::vector<Tensor>&;

// 1. The house way: forward without recording, then record the backward lambda.
Tensor fused_silu(const Tensor& x) {
  Tensor s, out;
  {
    NoGradGuard no_grad;
    s = sigmoid(x);
    out = x * s;
  }
  if (autograd::needs_grad({x}))
    autograd::record("FusedSiluBackward", out, {x},
                     [x = x.detach(), s](const Tensor& g) {  // d/dx x s(x) = s + x s (1 - s)
                       return std::vector<Tensor>{g * s * (1.0 + x * (1.0 - s))};
                     },
                     {x});
  return out;
}

// 2. LibTorch's Function.
struct FusedSilu : autograd::Function<FusedSilu> {
  static constexpr const char* name = "FusedSiluFnBackward";
  static Tensor forward(autograd::AutogradContext* ctx, const Tensor& x) {
    Tensor s = sigmoid(x);
    ctx->save_for_backward({x, s});
    return x * s;
  }
  static std::vector<Tensor> backward(autograd::AutogradContext* ctx, std::vector<Tensor> g) {
    const auto& saved = ctx->get_saved_variables();
    const Tensor &x = saved[0], &s = saved[1];
    return {g[0] * s * (1.0 + x * (1.0 - s))};
  }
};

// Two tensors and a number: a * b * alpha + c, with b broadcast over a's rows.
struct ScaledMulAdd : autograd::Function<ScaledMulAdd> {
  static Tensor forward(autograd::AutogradContext* ctx, const Tensor& a, const Tensor& b,
                        double alpha, const Tensor& c) {
    ctx->save_for_backward({a, b});
    ctx->saved_data["alpha"] = alpha;
    return a * b * alpha + c;
  }
  static std::vector<Tensor> backward(autograd::AutogradContext* ctx, std::vector<Tensor> g) {
    const auto& v = ctx->get_saved_variables();
    const double alpha = ctx->saved_data["alpha"].toDouble();
    Tensor ga = ctx->needs_input_grad(0) ? g[0] * v[1] * alpha : Tensor();
    Tensor gb =
        ctx->needs_input_grad(1) ? autograd::sum_to(g[0] * v[0] * alpha, v[1].shape()) : Tensor();
    return {ga, gb, Tensor(), g[0]};
  }
};

// Backwards that break the contract, one way each.
struct TwoGrads : autograd::Function<TwoGrads> {
  static Tensor forward(autograd::AutogradContext*, const Tensor& x) { return x * 2.0; }
  static std::vector<Tensor> backward(autograd::AutogradContext*, std::vector<Tensor> g) {
    return {g[0], g[0]};
  }
};
struct WrongShape : autograd::Function<WrongShape> {
  static constexpr const char* name = "WrongShapeBackward";
  static Tensor forward(autograd::AutogradContext*, const Tensor& x) { return x * 2.0; }
  static std::vector<Tensor> backward(autograd::AutogradContext*, std::vector<Tensor> g) {
    return {g[0].sum()};
  }
};
struct WrongDtype : autograd::Function<WrongDtype> {
  static constexpr const char* name = "WrongDtypeBackward";
  static Tensor forward(autograd::AutogradContext*, const Tensor& x) { return x * 2.0; }
  static std::vector<Tensor> backward(autograd::AutogradContext*, std::vector<Tensor> g) {
    return {g[0].to(kFloat32)};
  }
};
struct GradForNumber : autograd::Function<GradForNumber> {
  static constexpr const char* name = "GradForNumberBackward";
  static Tensor forward(autograd::AutogradContext*, const Tensor& x, double k) { return x * k; }
  static std::vector<Tensor> backward(autograd::AutogradContext*, std::vector<Tensor> g) {
    return {g[0], g[0]};
  }
};
struct Identity : autograd::Function<Identity> {
  static Tensor forward(autograd::AutogradContext*, const Tensor& x) { return x; }
  static std::vector<Tensor> backward(autograd::AutogradContext*, std::vector<Tensor> g) {
    return {g[0] * 3.0};  // deliberately not 1, to see this backward ran
  }
};

Tensor rnd(const Shape& s, uint64_t seed) {
  Generator g(seed);
  return randn(s, dtype(kFloat64), &g).requires_grad_();
}

void check_grad(const GradcheckFn& fn, const std::vector<Tensor>& inputs) {
  GradcheckResult r = gradcheck(fn, inputs);
  INFO(r.message);
  CHECK(r.ok);
}

double max_diff(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  return abs(a - b).max().item();
}

TensorMap fixture() {
  return load_safetensors(std::string(GLASSBOX_SOURCE_DIR) +
                          "/tests/fixtures/api_shape.safetensors");
}

struct MlpImpl : nn::Module {
  nn::Linear fc1{nullptr}, fc2{nullptr};
  MlpImpl() {
    fc1 = register_module("fc1", nn::Linear(2, 16));
    fc2 = register_module("fc2", nn::Linear(16, 1));
  }
  Tensor forward(const Tensor& x) { return fc2(FusedSilu::apply(fc1(x))); }
};
GB_MODULE(Mlp);

}  // namespace

TEST_SUITE("custom_op") {
  TEST_CASE("both ways of writing fused SiLU match PyTorch's F.silu, forward and backward") {
    const TensorMap m = fixture();
    for (int way = 0; way < 2; ++way) {
      INFO("way ", way);
      Tensor x = m.at("silu.input").detach().requires_grad_();
      Tensor y = way == 0 ? fused_silu(x) : FusedSilu::apply(x);
      CHECK(y.grad_fn_name() == (way == 0 ? "FusedSiluBackward" : "FusedSiluFnBackward"));
      CHECK(max_diff(y, m.at("silu.output")) < 1e-12);
      y.backward(m.at("silu.grad_out"));
      CHECK(max_diff(x.grad(), m.at("silu.grad_input")) < 1e-12);
    }
  }

  TEST_CASE("gradcheck in float64") {
    check_grad([](Inputs v) { return fused_silu(v[0]); }, {rnd({3, 4}, 1)});
    check_grad([](Inputs v) { return FusedSilu::apply(v[0]); }, {rnd({3, 4}, 2)});
    // composed with other ops on both sides, so the op's output gradient is not all ones
    check_grad([](Inputs v) { return (FusedSilu::apply(v[0] * v[0]) * v[0]).sum(); },
               {rnd({5}, 3)});
    check_grad([](Inputs v) { return ScaledMulAdd::apply(v[0], v[1], -1.5, v[2]); },
               {rnd({3, 4}, 4), rnd({4}, 5), rnd({3, 4}, 6)});
    // an input without requires_grad is passed through; needs_input_grad(1) is false for it
    Tensor b = rnd({4}, 7).detach();
    check_grad([b](Inputs v) { return ScaledMulAdd::apply(v[0], b, 2.0, v[1]); },
               {rnd({3, 4}, 8), rnd({3, 4}, 9)});
  }

  TEST_CASE("forward runs with grad mode off and records one tape entry") {
    Tensor x = rnd({3}, 10);
    Tensor y = ScaledMulAdd::apply(x, x, 1.0, x);
    CHECK(y.grad_fn_name() == "CustomFunctionBackward");  // the default name
    y.sum().backward();
    // d/dx (x*x + x) = 2x + 1, through our backward (the forward's own ops were not recorded)
    CHECK(max_diff(x.grad(), x.detach() * 2.0 + 1.0) < 1e-12);
    // no input needs grad: nothing recorded
    Tensor z = FusedSilu::apply(x.detach());
    CHECK_FALSE(z.requires_grad());
    {
      NoGradGuard ng;
      CHECK_FALSE(FusedSilu::apply(x).requires_grad());
    }
  }

  TEST_CASE("a forward that returns its argument does not rewrite the argument's history") {
    Tensor x = rnd({2}, 11);
    Tensor y = Identity::apply(x);
    CHECK(x.is_leaf());
    y.sum().backward();
    CHECK(max_diff(x.grad(), full({2}, 3.0, dtype(kFloat64))) == 0.0);
  }

  TEST_CASE("a small model using the op trains") {
    manual_seed(0);
    Generator g(42);
    Tensor x = rand({64, 2}, {}, &g) * 4.0 - 2.0;
    Tensor target = (x.select(1, 0) * x.select(1, 1)).unsqueeze(1);  // xy: needs a non-linearity
    Mlp net;
    optim::Adam opt(net->parameters(), optim::AdamOptions(0.03));
    auto loss_now = [&] { return F::mse_loss(net(x), target); };
    const double first = loss_now().item();
    for (int step = 0; step < 300; ++step) {
      opt.zero_grad();
      Tensor loss = loss_now();
      loss.backward();
      opt.step();
    }
    const double last = loss_now().item();
    INFO("loss ", first, " -> ", last);
    CHECK(last < 0.1 * first);
    CHECK(net->fc1->weight.grad().defined());  // the gradient flowed through the custom op
  }

  TEST_CASE("errors from a wrong backward name the op and what was wrong") {
    auto run = [](auto op) {
      Tensor x = rnd({2, 3}, 12);
      op(x).sum().backward();
    };
    CHECK_THROWS_WITH_AS(run([](const Tensor& x) { return TwoGrads::apply(x); }),
                         Contains("CustomFunctionBackward: backward returned 2 gradient(s) but "
                                  "forward took 1 argument(s)"),
                         Error);
    CHECK_THROWS_WITH_AS(run([](const Tensor& x) { return WrongShape::apply(x); }),
                         Contains("WrongShapeBackward: backward returned a gradient of shape [] "
                                  "for forward argument 0 of shape [2,3]"),
                         Error);
    CHECK_THROWS_WITH_AS(run([](const Tensor& x) { return WrongDtype::apply(x); }),
                         Contains("WrongDtypeBackward: backward returned a float32 gradient for "
                                  "forward argument 0, which is float64"),
                         Error);
    CHECK_THROWS_WITH_AS(run([](const Tensor& x) { return GradForNumber::apply(x, 2.0); }),
                         Contains("for forward argument 1, which is not a tensor"), Error);
    // the house way: the engine checks the count and shape, naming the recorded op
    CHECK_THROWS_WITH_AS(run([](const Tensor& x) {
                           Tensor out = (x * 1.0).detach();
                           autograd::record("RawBackward", out, {x}, [](const Tensor& g) {
                             return std::vector<Tensor>{g, g};
                           });
                           return out;
                         }),
                         Contains("RawBackward returned 2 gradients for 1 inputs"), Error);
    // a saved tensor written in place before backward
    Tensor x = rnd({3}, 13);
    Tensor h = x * 1.0;
    Tensor y = FusedSilu::apply(h);
    h.detach().add_(1.0);
    CHECK_THROWS_WITH_AS(y.sum().backward(), Contains("FusedSiluFnBackward"), Error);
    // saved_data of the wrong kind
    autograd::SavedValue v(2.0);
    CHECK_THROWS_WITH_AS(v.toInt(), Contains("the value is not an int"), Error);
  }
}
