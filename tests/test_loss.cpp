// Losses (nn/functional_loss.h, nn/loss.h): PyTorch 1.13 parity for every loss, option and
// reduction (tests/fixtures/losses.safetensors, from make_loss_fixtures.py), float64
// gradchecks of input and target gradients, hand-computed values, the stability cases
// (huge logits, probabilities of exactly 0 and 1) and the errors.
#include <doctest/doctest.h>

#include <cmath>
#include <sstream>
#include <string>
#include <vector>

#include "glassbox.h"

using namespace glassbox;
using doctest::Contains;

namespace {

using Inputs = const std::vector<Tensor>&;

TensorMap load_losses() {
  return load_safetensors(std::string(GLASSBOX_SOURCE_DIR) + "/tests/fixtures/losses.safetensors");
}

const Tensor& at(const TensorMap& m, const std::string& key) {
  auto it = m.find(key);
  REQUIRE_MESSAGE(it != m.end(), "fixture tensor '", key, "' is missing");
  return it->second;
}
Tensor opt(const TensorMap& m, const std::string& key, DType dt) {
  auto it = m.find(key);
  return it == m.end() ? Tensor() : it->second.to(dt);
}

// |got - want| <= rtol (|want| + 0.1 max|want|): relative, with a floor for entries near 0.
void expect_close(const std::string& what, const Tensor& got, const Tensor& want, double rtol) {
  INFO(what);
  REQUIRE(got.defined());
  REQUIRE(got.shape() == want.shape());
  const std::vector<double> g = got.to_vector<double>(), w = want.to_vector<double>();
  double scale = 0.0;
  for (double v : w) scale = std::max(scale, std::abs(v));
  for (size_t i = 0; i < w.size(); ++i) {
    const bool same_nonfinite =
        !std::isfinite(w[i]) && (g[i] == w[i] || std::isnan(g[i]) == std::isnan(w[i]));
    const bool ok =
        same_nonfinite || std::abs(g[i] - w[i]) <= rtol * (std::abs(w[i]) + 0.1 * scale);
    if (!ok) {
      FAIL_CHECK("element ", i, ": got ", g[i], ", PyTorch ", w[i]);
      return;
    }
  }
}

F::Reduction reduction_of(double code) {
  return code == 0 ? F::Reduction::None : code == 2 ? F::Reduction::Sum : F::Reduction::Mean;
}
F::KLDivReduction kl_reduction_of(double code) {
  const F::KLDivReduction r[] = {F::KLDivReduction::None, F::KLDivReduction::Mean,
                                 F::KLDivReduction::Sum, F::KLDivReduction::BatchMean};
  return r[int(code)];
}

// One fixture case, run in dtype dt: the loss, then output.backward(grad_out).
void run_fixture_case(const TensorMap& m, const std::string& c, DType dt, double rtol) {
  const std::vector<double> p = at(m, c + ".params").to_vector<double>();
  const F::Reduction red = reduction_of(p[0]);
  const double option = p[1];
  const int64_t ignore = int64_t(p[2]);
  Tensor x = at(m, c + ".input").detach().to(dt).clone().requires_grad_();
  const Tensor& target_raw = at(m, c + ".target");
  const bool float_target = is_floating(target_raw.dtype());
  const bool want_tgrad = m.count(c + ".grad_target") != 0;
  Tensor t = float_target ? target_raw.detach().to(dt).clone() : target_raw;
  if (want_tgrad) t.requires_grad_();
  const Tensor w = opt(m, c + ".weight", dt), pw = opt(m, c + ".pos_weight", dt);
  const std::string kind = c.substr(0, c.find('_'));
  Tensor y;
  if (kind == "bce") {
    y = F::binary_cross_entropy(x, t, w, red);
  } else if (kind == "bcelogits") {
    y = F::binary_cross_entropy_with_logits(x, t, w, red, pw);
  } else if (kind == "l1") {
    y = F::l1_loss(x, t, red);
  } else if (kind == "smoothl1") {
    y = F::smooth_l1_loss(x, t, red, option);
  } else if (kind == "huber") {
    y = F::huber_loss(x, t, red, option);
  } else if (kind == "kldiv") {
    y = F::kl_div(x, t, kl_reduction_of(p[0]), option != 0);
  } else if (kind == "nll") {
    y = F::nll_loss(x, t, red, ignore, w);
  } else {
    REQUIRE(kind == "ce");
    y = F::cross_entropy(x, t, red, ignore, w, option);
  }
  y.backward(at(m, c + ".grad_out").to(dt));
  const std::string what = c + " " + dtype_name(dt);
  expect_close(what + " output", y, at(m, c + ".output"), rtol);
  expect_close(what + " grad_input", x.grad(), at(m, c + ".grad_input"), rtol);
  if (want_tgrad) expect_close(what + " grad_target", t.grad(), at(m, c + ".grad_target"), rtol);
}

Tensor randn64(Shape s) { return randn(std::move(s), dtype(kFloat64)); }
Tensor probs64(Shape s) { return sigmoid(randn64(std::move(s))).detach(); }

void expect_gradcheck(const std::string& what, const GradcheckFn& fn,
                      const std::vector<Tensor>& inputs) {
  INFO(what);
  GradcheckResult r = gradcheck(fn, inputs);
  CHECK_MESSAGE(r.ok, r.message);
}

}  // namespace

TEST_SUITE("loss") {
  TEST_CASE("every loss, option and reduction matches PyTorch 1.13") {
    const TensorMap m = load_losses();
    std::vector<std::string> cases;
    for (const auto& [key, t] : m)
      if (key.size() > 7 && key.compare(key.size() - 7, 7, ".params") == 0)
        cases.push_back(key.substr(0, key.size() - 7));
    REQUIRE(cases.size() >= 90);
    for (const std::string& c : cases) {
      run_fixture_case(m, c, kFloat64, 1e-9);
      run_fixture_case(m, c, kFloat32, 1e-4);
    }
  }

  TEST_CASE("gradcheck: input and target gradients of every loss and option") {
    manual_seed(3);
    const std::vector<F::Reduction> reds = {F::Reduction::None, F::Reduction::Mean,
                                            F::Reduction::Sum};
    for (F::Reduction r : reds) {
      const std::string rn = r == F::Reduction::None  ? " none"
                             : r == F::Reduction::Sum ? " sum"
                                                      : " mean";
      Tensor x = probs64({3, 4}).requires_grad_(), y = probs64({3, 4}).requires_grad_();
      Tensor w = probs64({4}) + 0.5;
      expect_gradcheck("bce" + rn,
                       [r](Inputs v) { return F::binary_cross_entropy(v[0], v[1], Tensor(), r); },
                       {x, y});
      expect_gradcheck("bce weight" + rn,
                       [r, w](Inputs v) { return F::binary_cross_entropy(v[0], v[1], w, r); },
                       {x, y});
      Tensor z = (randn64({3, 4}) * 3).requires_grad_();
      Tensor pw = probs64({4}) * 3;
      expect_gradcheck(
          "bce_with_logits" + rn,
          [r](Inputs v) { return F::binary_cross_entropy_with_logits(v[0], v[1], Tensor(), r); },
          {z, y});
      expect_gradcheck("bce_with_logits weight pos_weight" + rn,
                       [r, w, pw](Inputs v) {
                         return F::binary_cross_entropy_with_logits(v[0], v[1], w, r, pw);
                       },
                       {z, y});
      Tensor a = randn64({4, 5}).requires_grad_(), b = randn64({4, 5}).requires_grad_();
      expect_gradcheck("l1" + rn, [r](Inputs v) { return F::l1_loss(v[0], v[1], r); }, {a, b});
      expect_gradcheck("mse" + rn, [r](Inputs v) { return F::mse_loss(v[0], v[1], r); }, {a, b});
      for (double beta : {1.0, 0.3, 0.0})
        expect_gradcheck("smooth_l1 beta " + std::to_string(beta) + rn,
                         [r, beta](Inputs v) { return F::smooth_l1_loss(v[0], v[1], r, beta); },
                         {a, b});
      for (double delta : {1.0, 0.4})
        expect_gradcheck("huber delta " + std::to_string(delta) + rn,
                         [r, delta](Inputs v) { return F::huber_loss(v[0], v[1], r, delta); },
                         {a, b});
      Tensor lp = F::log_softmax(randn64({3, 5}), 1).detach().requires_grad_();
      Tensor q = F::softmax(randn64({3, 5}), 1).detach().requires_grad_();
      Tensor lq = F::log_softmax(randn64({3, 5}), 1).detach().requires_grad_();
      expect_gradcheck("kl_div" + rn, [r](Inputs v) { return F::kl_div(v[0], v[1], r); }, {lp, q});
      expect_gradcheck("kl_div log_target" + rn,
                       [r](Inputs v) { return F::kl_div(v[0], v[1], r, true); }, {lp, lq});
      Tensor logits = randn64({5, 4}).requires_grad_();
      Tensor logits4 = randn64({2, 4, 3, 2}).requires_grad_();
      Tensor t = from_vector(std::vector<int64_t>{0, 3, -100, 2, 1}, {5});
      Tensor t4 = from_vector(std::vector<int64_t>{0, 1, 2, 3, 1, 1, 2, 0, 3, 1, 2, 1}, {2, 3, 2});
      Tensor cw = from_vector(std::vector<double>{0.3, 1.5, 2.0, 0.7}, {4});
      for (double ls : {0.0, 0.25, 1.0}) {
        const std::string o = " ls " + std::to_string(ls) + rn;
        expect_gradcheck(
            "cross_entropy" + o,
            [r, t, ls](Inputs v) { return F::cross_entropy(v[0], t, r, -100, Tensor(), ls); },
            {logits});
        expect_gradcheck(
            "cross_entropy weight" + o,
            [r, t, cw, ls](Inputs v) { return F::cross_entropy(v[0], t, r, -100, cw, ls); },
            {logits});
        expect_gradcheck(
            "cross_entropy [N,C,H,W] weight ignore 1" + o,
            [r, t4, cw, ls](Inputs v) { return F::cross_entropy(v[0], t4, r, 1, cw, ls); },
            {logits4});
      }
      expect_gradcheck("nll_loss weight" + rn,
                       [r, t, cw](Inputs v) { return F::nll_loss(v[0], t, r, -100, cw); },
                       {logits});
    }
    Tensor lp = F::log_softmax(randn64({3, 5}), 1).detach().requires_grad_();
    Tensor q = F::softmax(randn64({3, 5}), 1).detach().requires_grad_();
    expect_gradcheck("kl_div batchmean",
                     [](Inputs v) { return F::kl_div(v[0], v[1], F::KLDivReduction::BatchMean); },
                     {lp, q});
  }

  TEST_CASE("values by hand") {
    const TensorOptions f64 = dtype(kFloat64);
    // BCE of p = 0.5 is log 2 whatever the target; a weight scales it
    Tensor half = full({2, 2}, 0.5, f64);
    CHECK(F::binary_cross_entropy(half, from_vector(std::vector<double>{0, 1, 0.3, 1}, {2, 2}))
              .item() == doctest::Approx(std::log(2.0)));
    CHECK(F::binary_cross_entropy(half, zeros({2, 2}, f64), full({2}, 3.0, f64), F::Reduction::Sum)
              .item() == doctest::Approx(12 * std::log(2.0)));
    // pos_weight 2 on a positive doubles its loss: 2 * log(1 + e^-1)
    Tensor one = ones({1}, f64);
    CHECK(F::binary_cross_entropy_with_logits(one, one, Tensor(), F::Reduction::Sum,
                                              full({1}, 2.0, f64))
              .item() == doctest::Approx(2 * std::log1p(std::exp(-1.0))));
    // zero logits: loss log 2 and gradient sigmoid(0) - y = 0.5 - y (no kink at 0)
    Tensor z = zeros({2}, f64).requires_grad_();
    Tensor y = from_vector(std::vector<double>{0.0, 1.0}, {2});
    F::binary_cross_entropy_with_logits(z, y, Tensor(), F::Reduction::Sum).backward();
    CHECK(z.grad().to_vector<double>() == std::vector<double>{0.5, -0.5});
    // smooth_l1 / huber at d = 0.5 and d = 3 with beta = delta = 1
    Tensor d = from_vector(std::vector<double>{0.5, -3.0}, {2});
    CHECK(F::smooth_l1_loss(d, zeros({2}, f64), F::Reduction::None).to_vector<double>() ==
          std::vector<double>{0.125, 2.5});
    CHECK(F::huber_loss(d, zeros({2}, f64), F::Reduction::None, 2.0).to_vector<double>() ==
          std::vector<double>{0.125, 4.0});
    // KL of identical distributions is 0; batchmean = sum / N, mean = sum / numel
    Tensor p = from_vector(std::vector<double>{0.25, 0.75, 0.5, 0.5}, {2, 2});
    CHECK(F::kl_div(log(p), p, F::KLDivReduction::BatchMean).item() == doctest::Approx(0.0));
    Tensor uniform = full({2, 2}, std::log(0.5), f64);
    const double kl0 = 0.25 * std::log(0.5) + 0.75 * std::log(1.5);
    CHECK(F::kl_div(uniform, p, F::KLDivReduction::BatchMean).item() == doctest::Approx(kl0 / 2));
    CHECK(F::kl_div(uniform, p, F::KLDivReduction::Mean).item() == doctest::Approx(kl0 / 4));
    // 0 log 0 = 0
    Tensor p0 = from_vector(std::vector<double>{0.0, 1.0}, {1, 2});
    CHECK(F::kl_div(uniform.slice(0, 0, 1), p0, F::Reduction::Sum).item() ==
          doctest::Approx(std::log(2.0)));
    // weighted mean divides by the weights of the counted targets: (2*a + 0.5*b) / 2.5
    Tensor lp = from_vector(std::vector<double>{-1.0, -2.0, -3.0, -4.0, -5.0, -6.0}, {3, 2});
    Tensor t = from_vector(std::vector<int64_t>{0, 1, -100}, {3});
    Tensor cw = from_vector(std::vector<double>{2.0, 0.5}, {2});
    CHECK(F::nll_loss(lp, t, F::Reduction::Mean, -100, cw).item() ==
          doctest::Approx((2 * 1.0 + 0.5 * 4.0) / 2.5));
    CHECK(F::nll_loss(lp, t, F::Reduction::Sum, -100, cw).item() ==
          doctest::Approx(2 * 1.0 + 0.5 * 4.0));
    // label_smoothing 1 with uniform logits: -log(1/C) everywhere
    Tensor flat = zeros({2, 4}, f64);
    Tensor t2 = from_vector(std::vector<int64_t>{1, 3}, {2});
    CHECK(F::cross_entropy(flat, t2, F::Reduction::Mean, -100, Tensor(), 1.0).item() ==
          doctest::Approx(std::log(4.0)));
    // today's signatures still work
    CHECK(F::cross_entropy(flat, t2, F::Reduction::Sum, 3).item() ==
          doctest::Approx(std::log(4.0)));
  }

  TEST_CASE("stability: huge logits and probabilities of exactly 0 and 1") {
    for (DType dt : {kFloat32, kFloat64}) {
      INFO(dtype_name(dt));
      Tensor x = from_vector(std::vector<double>{1e4, -1e4, 1e4, -1e4, 90.0, -90.0}, {6})
                     .to(dt)
                     .requires_grad_();
      Tensor y = from_vector(std::vector<double>{1, 0, 0, 1, 1, 0}, {6}).to(dt);
      Tensor loss = F::binary_cross_entropy_with_logits(x, y, Tensor(), F::Reduction::None,
                                                        full({6}, 3.0, dtype(dt)));
      loss.sum().backward();
      const std::vector<double> l = loss.to_vector<double>(), g = x.grad().to_vector<double>();
      CHECK(l[0] == 0.0);
      CHECK(l[1] == 0.0);
      CHECK(l[2] == doctest::Approx(1e4));
      CHECK(l[3] == doctest::Approx(3e4));  // pos_weight 3 on a positive
      const std::vector<double> want = {0.0, 0.0, 1.0, -3.0, 0.0, 0.0};
      for (size_t i = 0; i < want.size(); ++i) CHECK(std::abs(g[i] - want[i]) < 1e-30);
      // BCE: log clamped at -100, gradient bounded by the 1e-12 floor
      Tensor p = from_vector(std::vector<double>{0.0, 1.0, 0.0, 1.0}, {4}).to(dt).requires_grad_();
      Tensor q = from_vector(std::vector<double>{1.0, 0.0, 0.0, 1.0}, {4}).to(dt);
      Tensor b = F::binary_cross_entropy(p, q, Tensor(), F::Reduction::None);
      b.sum().backward();
      CHECK(b.to_vector<double>() == std::vector<double>{100.0, 100.0, 0.0, 0.0});
      for (double v : p.grad().to_vector<double>()) CHECK(std::isfinite(v));
    }
  }

  TEST_CASE("bad shapes and options throw, naming the loss and the shapes") {
    Tensor a = zeros({4, 2}), b = zeros({4, 3});
    CHECK_THROWS_WITH_AS(
        F::binary_cross_entropy_with_logits(a, b),
        Contains("binary_cross_entropy_with_logits: target [4,3] does not match input [4,2]"),
        Error);
    CHECK_THROWS_WITH_AS(F::l1_loss(a, b),
                         Contains("l1_loss: target [4,3] does not match input [4,2]"), Error);
    CHECK_THROWS_WITH_AS(F::kl_div(a, zeros({4, 2}, dtype(kFloat64))),
                         Contains("kl_div: input is float32 but target is float64"), Error);
    CHECK_THROWS_WITH_AS(
        F::binary_cross_entropy_with_logits(a, a, Tensor(), F::Reduction::Mean, zeros({3})),
        Contains("pos_weight [3] does not broadcast to input [4,2]"), Error);
    CHECK_THROWS_WITH_AS(F::binary_cross_entropy(a, a, zeros({4})),
                         Contains("weight [4] does not broadcast to input [4,2]"), Error);
    CHECK_THROWS_WITH_AS(F::binary_cross_entropy(full({4, 2}, 1.5), a),
                         Contains("all elements of input should be between 0 and 1"), Error);
    CHECK_THROWS_WITH_AS(F::binary_cross_entropy(a, full({4, 2}, -0.5)),
                         Contains("all elements of target should be between 0 and 1"), Error);
    CHECK_THROWS_WITH_AS(F::smooth_l1_loss(a, a, F::Reduction::Mean, -1.0),
                         Contains("smooth_l1_loss: beta must be >= 0, got -1"), Error);
    CHECK_THROWS_WITH_AS(F::huber_loss(a, a, F::Reduction::Mean, 0.0),
                         Contains("huber_loss: delta must be > 0, got 0"), Error);
    Tensor t = zeros({4}, dtype(kInt64));
    CHECK_THROWS_WITH_AS(F::cross_entropy(a, t, F::Reduction::Mean, -100, Tensor(), 1.5),
                         Contains("cross_entropy: label_smoothing must be in [0, 1], got 1.5"),
                         Error);
    CHECK_THROWS_WITH_AS(F::cross_entropy(a, t, F::Reduction::Mean, -100, Tensor(), -0.1),
                         Contains("label_smoothing"), Error);
    CHECK_THROWS_WITH_AS(
        F::cross_entropy(a, t, F::Reduction::Mean, -100, ones({3})),
        Contains("cross_entropy: weight [3] must hold one value per class, [2] for input [4,2]"),
        Error);
    CHECK_THROWS_WITH_AS(F::nll_loss(a, t, F::Reduction::Mean, -100, ones({2}, dtype(kFloat64))),
                         Contains("nll_loss: weight is float64 but input is float32"), Error);
    CHECK_THROWS_WITH_AS(
        F::cross_entropy(a, full({4}, 5.0, dtype(kInt64)), F::Reduction::Mean, -100, ones({2})),
        Contains("target value 5 is out of range for 2 classes"), Error);
    // through a module, the error names it too
    nn::BCEWithLogitsLoss m;
    CHECK_THROWS_WITH_AS(m(a, b), Contains("does not match input [4,2]"), Error);
  }

  TEST_CASE("modules: options, buffers, pretty_print") {
    manual_seed(5);
    Tensor x = randn({6, 3}), y = sigmoid(randn({6, 3}));
    Tensor cw = from_vector(std::vector<float>{0.5f, 1.0f, 2.0f}, {3});
    nn::BCEWithLogitsLoss bce(
        nn::BCEWithLogitsLossOptions(nn::Reduction::Sum).weight(cw).pos_weight(cw * 2.0f));
    CHECK(bce(x, y).item() ==
          doctest::Approx(
              F::binary_cross_entropy_with_logits(x, y, cw, F::Reduction::Sum, cw * 2.0f).item()));
    CHECK(bce->named_buffers().size() == 2);
    Tensor t = from_vector(std::vector<int64_t>{0, 2, 1, 1, 0, 2}, {6});
    nn::CrossEntropyLoss ce(
        nn::CrossEntropyLossOptions().weight(cw).label_smoothing(0.1).ignore_index(1));
    CHECK(ce(x, t).item() ==
          doctest::Approx(F::cross_entropy(x, t, F::Reduction::Mean, 1, cw, 0.1).item()));
    CHECK(ce->state_dict().size() == 1);
    nn::CrossEntropyLoss plain;
    CHECK(plain->state_dict().size() == 0);  // an undefined weight is not saved
    nn::NLLLoss nll(nn::NLLLossOptions().weight(cw));
    CHECK(nll(x, t).item() ==
          doctest::Approx(F::nll_loss(x, t, F::Reduction::Mean, -100, cw).item()));
    nn::KLDivLoss kl(nn::KLDivLossOptions(nn::KLDivReduction::BatchMean).log_target(true));
    Tensor lp = F::log_softmax(x, 1), lq = F::log_softmax(randn({6, 3}), 1);
    CHECK(kl(lp, lq).item() ==
          doctest::Approx(F::kl_div(lp, lq, F::KLDivReduction::BatchMean, true).item()));
    CHECK(nn::KLDivLoss(nn::KLDivLossOptions(nn::Reduction::Sum))->options.reduction() ==
          nn::KLDivReduction::Sum);
    nn::SmoothL1Loss s(nn::SmoothL1LossOptions().beta(0.5));
    CHECK(s(x, y).item() ==
          doctest::Approx(F::smooth_l1_loss(x, y, F::Reduction::Mean, 0.5).item()));
    nn::HuberLoss h(nn::HuberLossOptions(nn::Reduction::None).delta(2.0));
    CHECK(h(x, y).shape() == x.shape());
    nn::L1Loss l1;
    CHECK(l1(x, y).item() == doctest::Approx(F::l1_loss(x, y).item()));
    nn::BCELoss b(nn::BCELossOptions().weight(cw));
    CHECK(b(y, y).item() == doctest::Approx(F::binary_cross_entropy(y, y, cw).item()));
    std::ostringstream os;
    os << *b << " " << *bce << " " << *l1 << " " << *s << " " << *h << " " << *kl << " " << *ce;
    CHECK(os.str() ==
          "BCELoss() BCEWithLogitsLoss() L1Loss() SmoothL1Loss() HuberLoss() KLDivLoss() "
          "CrossEntropyLoss()");
    // Module::to moves the registered weight with the module (in place, as LibTorch does: the
    // buffer is the options' tensor, so cw converts too)
    const double want = F::cross_entropy(x, t, F::Reduction::Mean, 1, cw, 0.1).item();
    ce->to(kFloat64);
    CHECK(ce->weight.dtype() == kFloat64);
    CHECK(ce(x.to(kFloat64), t).item() == doctest::Approx(want).epsilon(1e-5));
  }
  TEST_CASE("a loss keeps its own copy of the class weights: to() and clone() leave the user's") {
    Tensor w = from_vector<float>({1, 2, 3});
    nn::CrossEntropyLoss a(nn::CrossEntropyLossOptions().weight(w));
    nn::CrossEntropyLoss b(nn::CrossEntropyLossOptions().weight(w));
    a->to(kFloat64);
    CHECK(w.dtype() == kFloat32);
    CHECK(b->weight.dtype() == kFloat32);
    Tensor x = randn({4, 3}), t = from_vector<int64_t>({0, 1, 2, 1});
    CHECK_NOTHROW(b(x, t));
    auto c = std::dynamic_pointer_cast<nn::CrossEntropyLossImpl>(b->clone());
    REQUIRE(c != nullptr);
    CHECK(c->weight.impl() != b->weight.impl());
    {
      NoGradGuard no_grad;
      c->weight.mul_(10.0);
    }
    CHECK(b->weight.to_vector<float>() == std::vector<float>{1, 2, 3});
    CHECK(w.to_vector<float>() == std::vector<float>{1, 2, 3});
  }
  TEST_CASE("kl_div's target gradient is 0 where the target is 0") {
    Tensor x = from_vector<double>({-1.2, -0.5, -2.0}).requires_grad_();
    Tensor t = from_vector<double>({0.0, 0.25, 0.75}).requires_grad_();
    F::kl_div(x, t, F::KLDivReduction::Sum).backward();
    const std::vector<double> g = t.grad().to_vector<double>();
    CHECK(g[0] == 0.0);
    CHECK(g[1] == doctest::Approx(std::log(0.25) + 1 + 0.5));
    CHECK(x.grad().to_vector<double>()[0] == 0.0);
  }
}
