// Optimizers and schedulers. Every expected value comes from a reference written in this file
// as plain double loops over std::vector, straight from PyTorch 1.13's formulas
// (torch/optim/sgd.py, adam.py, adamw.py single-tensor versions, lr_scheduler.py), or is
// written out by hand; none is computed by the library itself.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "glassbox.h"

using namespace glassbox;
using doctest::Contains;

namespace {

using VD = std::vector<double>;

// ------------------------------------------------------------------ reference optimizers
struct RefState {
  int64_t step = 0;
  bool has_buf = false;
  VD buf, m, v, vmax;  // SGD momentum buffer; Adam exp_avg, exp_avg_sq, max_exp_avg_sq
};

struct SgdCfg {
  double lr, momentum, dampening, weight_decay;
  bool nesterov;
};

// _single_tensor_sgd for one parameter.
void ref_sgd(VD& p, const VD& g, RefState& s, const SgdCfg& c) {
  if (c.momentum != 0 && !s.has_buf) s.buf.assign(p.size(), 0.0);
  for (size_t i = 0; i < p.size(); ++i) {
    double d = g[i];
    if (c.weight_decay != 0) d += c.weight_decay * p[i];
    if (c.momentum != 0) {
      if (!s.has_buf)
        s.buf[i] = d;  // torch.clone(d_p): no dampening on the first step
      else
        s.buf[i] = c.momentum * s.buf[i] + (1 - c.dampening) * d;
      d = c.nesterov ? d + c.momentum * s.buf[i] : s.buf[i];
    }
    p[i] -= c.lr * d;
  }
  if (c.momentum != 0) s.has_buf = true;
}

struct AdamCfg {
  double lr, beta1, beta2, eps, weight_decay;
  bool amsgrad, decoupled;  // decoupled: AdamW
};

// _single_tensor_adam / _single_tensor_adamw for one parameter.
void ref_adam(VD& p, const VD& g, RefState& s, const AdamCfg& c) {
  if (s.step == 0) s.m = s.v = s.vmax = VD(p.size(), 0.0);
  s.step += 1;
  const double bc1 = 1 - std::pow(c.beta1, double(s.step));
  const double bc2 = 1 - std::pow(c.beta2, double(s.step));
  for (size_t i = 0; i < p.size(); ++i) {
    double d = g[i];
    if (c.decoupled)
      p[i] *= 1 - c.lr * c.weight_decay;
    else
      d += c.weight_decay * p[i];
    s.m[i] = c.beta1 * s.m[i] + (1 - c.beta1) * d;
    s.v[i] = c.beta2 * s.v[i] + (1 - c.beta2) * d * d;
    double second = s.v[i];
    if (c.amsgrad) second = s.vmax[i] = std::max(s.vmax[i], s.v[i]);
    const double denom = std::sqrt(second) / std::sqrt(bc2) + c.eps;
    p[i] -= c.lr / bc1 * s.m[i] / denom;
  }
}

// ------------------------------------------------------------------ the harness
// Parameters of several kinds, updated for 10 steps with gradients that change sign, scale
// (so amsgrad's maximum matters) and sometimes are exactly zero:
//   0: [3, 4], a gradient every step
//   1: [5], no gradient (undefined) on steps 1, 4, 7: skipped, its step count lags behind
//   2: [2, 3], never a gradient: untouched, no state
//   3: [4, 3], a transposed (non-contiguous) view, a gradient every step
//   4: [4500], large enough for the multi-threaded loop
constexpr int kSteps = 10;
const std::vector<Shape> kShapes = {{3, 4}, {5}, {2, 3}, {4, 3}, {4500}};

bool has_grad(size_t param, int step) {
  if (param == 2) return false;
  if (param == 1) return step % 3 != 1;
  return true;
}
double round_to(DType dt, double x) { return dt == kFloat32 ? double(float(x)) : x; }

VD initial_values(size_t param, int64_t n, DType dt) {
  VD v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = round_to(dt, std::cos(0.37 * double(i) + double(param)));
  return v;
}
VD gradient(size_t param, int step, int64_t n, DType dt) {
  const double scale[] = {1.0, 0.01, 3.0, 0.2, 0.001};
  VD g(n);
  for (int64_t i = 0; i < n; ++i)
    g[i] =
        (i + step) % 7 == 0
            ? 0.0
            : round_to(dt, scale[step % 5] * std::sin(0.91 * double(i) + 1.7 * step + 0.3 * param));
  return g;
}

Tensor make_tensor(const VD& v, const Shape& shape, DType dt) {
  return from_vector(v, shape).to(dt);
}

std::vector<Tensor> make_params(DType dt) {
  std::vector<Tensor> ps;
  for (size_t k = 0; k < kShapes.size(); ++k) {
    const VD init = initial_values(k, numel_of(kShapes[k]), dt);
    if (k == 3) {  // a leaf that is a transposed view of a [3, 4] buffer
      Tensor base = make_tensor(VD(init.size()), {3, 4}, dt);
      Tensor t = base.t();
      t.copy_(make_tensor(init, kShapes[k], dt));
      REQUIRE(!t.is_contiguous());
      ps.push_back(t.requires_grad_());
    } else {
      ps.push_back(make_tensor(init, kShapes[k], dt).requires_grad_());
    }
  }
  return ps;
}

bool close(double got, double want, double rtol, double atol) {
  return std::abs(got - want) <= atol + rtol * std::abs(want);
}
// Counts mismatches and reports the first one.
void check_close(const VD& got, const VD& want, double rtol, double atol, const std::string& what) {
  REQUIRE(got.size() == want.size());
  int bad = 0;
  for (size_t i = 0; i < got.size(); ++i)
    if (!close(got[i], want[i], rtol, atol) && bad++ == 0)
      FAIL_CHECK(what, "[", i, "]: got ", got[i], ", want ", want[i]);
  CHECK_MESSAGE(bad == 0, what, ": ", bad, " of ", got.size(), " elements differ");
}

using RefStep = std::function<void(VD&, const VD&, RefState&)>;

// Runs `opt` and the reference side by side over kSteps and compares the parameters after
// every step and the exported state at the end.
void run_against_reference(optim::Optimizer& opt, const RefStep& ref, DType dt,
                           const std::string& label) {
  INFO(label, " ", dtype_name(dt));
  const double rtol = dt == kFloat32 ? 2e-5 : 1e-12;
  const double atol = dt == kFloat32 ? 2e-6 : 1e-13;
  const std::vector<Tensor>& ps = opt.params();
  std::vector<VD> want(ps.size());
  std::vector<RefState> states(ps.size());
  for (size_t k = 0; k < ps.size(); ++k) want[k] = initial_values(k, ps[k].numel(), dt);
  for (int step = 0; step < kSteps; ++step) {
    for (size_t k = 0; k < ps.size(); ++k) {
      Tensor p = ps[k];
      if (!has_grad(k, step)) {
        p.set_grad(Tensor());
        continue;
      }
      const VD g = gradient(k, step, p.numel(), dt);
      p.set_grad(make_tensor(g, p.shape(), dt));
      ref(want[k], g, states[k]);
    }
    opt.step();
    for (size_t k = 0; k < ps.size(); ++k)
      check_close(ps[k].to_vector<double>(), want[k], rtol, atol,
                  "step " + std::to_string(step) + " param " + std::to_string(k));
  }
  // parameter 2 never had a gradient: bit-identical, no state
  CHECK(ps[2].to_vector<double>() == initial_values(2, 6, dt));
  CHECK(!opt.state(2).initialized());
  // the exported state matches the reference's
  const std::map<std::string, Tensor> sd = opt.state_dict_tensors();
  for (size_t k = 0; k < ps.size(); ++k) {
    const RefState& s = states[k];
    const std::string i = std::to_string(k) + ".";
    auto buffer = [&](const std::string& key, const VD& w) {
      auto it = sd.find(i + key);
      REQUIRE_MESSAGE(it != sd.end(), "missing ", i + key);
      CHECK(it->second.dtype() == dt);
      CHECK(it->second.shape() == ps[k].shape());
      check_close(it->second.to_vector<double>(), w, rtol, atol, i + key);
    };
    if (s.has_buf) buffer("momentum_buffer", s.buf);
    if (s.step > 0) {
      REQUIRE(sd.count(i + "step"));
      CHECK(sd.at(i + "step").item<int64_t>() == s.step);
      CHECK(opt.state(k).step == s.step);
      buffer("exp_avg", s.m);
      buffer("exp_avg_sq", s.v);
      CHECK(sd.count(i + "max_exp_avg_sq") == (opt.state(k).buffers.count("max_exp_avg_sq")));
      if (opt.state(k).buffers.count("max_exp_avg_sq")) buffer("max_exp_avg_sq", s.vmax);
    }
    if (!s.has_buf && s.step == 0) {
      for (const auto& [name, t] : sd) CHECK_MESSAGE(name.rfind(i, 0) != 0, "unexpected ", name);
    }
  }
}

}  // namespace

TEST_SUITE("optim") {
  TEST_CASE("SGD matches the reference for every option combination") {
    for (DType dt : {kFloat64, kFloat32})
      for (double momentum : {0.0, 0.9})
        for (double dampening : {0.0, 0.3})
          for (bool nesterov : {false, true})
            for (double wd : {0.0, 0.05}) {
              if (nesterov && (momentum == 0 || dampening != 0)) continue;
              const SgdCfg c{0.1, momentum, dampening, wd, nesterov};
              optim::SGD opt(make_params(dt), optim::SGDOptions(c.lr)
                                                  .momentum(momentum)
                                                  .dampening(dampening)
                                                  .nesterov(nesterov)
                                                  .weight_decay(wd));
              run_against_reference(
                  opt, [&](VD& p, const VD& g, RefState& s) { ref_sgd(p, g, s, c); }, dt,
                  "SGD momentum=" + std::to_string(momentum) + " dampening=" +
                      std::to_string(dampening) + " nesterov=" + std::to_string(nesterov) +
                      " weight_decay=" + std::to_string(wd));
              // SGD keeps no step count, and no state at all without momentum
              const auto sd = opt.state_dict_tensors();
              CHECK(!sd.count("0.step"));
              CHECK(sd.count("0.momentum_buffer") == (momentum != 0 ? 1u : 0u));
            }
  }

  TEST_CASE("Adam and AdamW match the reference for every option combination") {
    for (DType dt : {kFloat64, kFloat32})
      for (bool decoupled : {false, true})
        for (bool amsgrad : {false, true})
          for (double wd : {0.0, 0.1})
            for (auto betas : {optim::Betas{0.9, 0.999}, optim::Betas{0.5, 0.8}})
              for (double eps : {1e-8, 0.1}) {
                const AdamCfg c{0.05,    std::get<0>(betas), std::get<1>(betas), eps, wd,
                                amsgrad, decoupled};
                const std::string label = std::string(decoupled ? "AdamW" : "Adam") +
                                          " amsgrad=" + std::to_string(amsgrad) +
                                          " weight_decay=" + std::to_string(wd) + " betas=(" +
                                          std::to_string(c.beta1) + "," + std::to_string(c.beta2) +
                                          ") eps=" + std::to_string(eps);
                RefStep ref = [&](VD& p, const VD& g, RefState& s) { ref_adam(p, g, s, c); };
                if (decoupled) {
                  optim::AdamW opt(
                      make_params(dt),
                      optim::AdamWOptions(c.lr).betas(betas).eps(eps).weight_decay(wd).amsgrad(
                          amsgrad));
                  run_against_reference(opt, ref, dt, label);
                } else {
                  optim::Adam opt(
                      make_params(dt),
                      optim::AdamOptions(c.lr).betas(betas).eps(eps).weight_decay(wd).amsgrad(
                          amsgrad));
                  run_against_reference(opt, ref, dt, label);
                }
              }
  }

  TEST_CASE("defaults follow PyTorch and LibTorch") {
    Tensor w = zeros({2}).requires_grad_();
    optim::SGDOptions s(0.5);
    CHECK(s.lr() == 0.5);
    CHECK(s.momentum() == 0.0);
    CHECK(s.dampening() == 0.0);
    CHECK(s.weight_decay() == 0.0);
    CHECK(!s.nesterov());
    optim::Adam adam({w});
    CHECK(adam.lr() == 1e-3);
    CHECK(adam.options().betas() == optim::Betas{0.9, 0.999});
    CHECK(adam.options().eps() == 1e-8);
    CHECK(adam.options().weight_decay() == 0.0);
    CHECK(!adam.options().amsgrad());
    optim::AdamW adamw({w});
    CHECK(adamw.lr() == 1e-3);
    CHECK(adamw.options().weight_decay() == 0.01);
    CHECK(adamw.name() == "AdamW");
    adamw.set_lr(0.25);
    CHECK(adamw.options().lr() == 0.25);
  }

  TEST_CASE("the first step of each optimizer, by hand") {
    // p = 1, g = 0.5, lr = 0.1
    Tensor p = tensor({1.0}).requires_grad_();
    p.set_grad(tensor({0.5}));
    optim::SGD sgd({p}, optim::SGDOptions(0.1).momentum(0.9).weight_decay(0.2));
    sgd.step();  // d = 0.5 + 0.2 * 1 = 0.7; buf = 0.7; p = 1 - 0.07
    CHECK(p.item() == doctest::Approx(0.93).epsilon(1e-14));
    sgd.step();  // d = 0.5 + 0.186 = 0.686; buf = 0.63 + 0.686 = 1.316; p = 0.93 - 0.1316
    CHECK(p.item() == doctest::Approx(0.7984).epsilon(1e-14));

    // Adam's first step moves every element by lr * g / (|g| + eps): about lr * sign(g)
    Tensor q = tensor({1.0, -2.0, 3.0}).requires_grad_();
    q.set_grad(tensor({0.5, -4.0, 0.0}));
    optim::Adam adam({q}, optim::AdamOptions(0.1));
    adam.step();
    const VD got = q.to_vector<double>();
    CHECK(got[0] == doctest::Approx(1.0 - 0.1 * 0.5 / (0.5 + 1e-8)).epsilon(1e-14));
    CHECK(got[1] == doctest::Approx(-2.0 + 0.1 * 4.0 / (4.0 + 1e-8)).epsilon(1e-14));
    CHECK(got[2] == 3.0);

    // AdamW: decay first, then the same step
    Tensor r = tensor({2.0}).requires_grad_();
    r.set_grad(tensor({1.0}));
    optim::AdamW adamw({r}, optim::AdamWOptions(0.1).weight_decay(0.5));
    adamw.step();  // 2 * (1 - 0.05) - 0.1 * 1 / (1 + 1e-8)
    CHECK(r.item() == doctest::Approx(1.9 - 0.1 / (1 + 1e-8)).epsilon(1e-14));
  }

  TEST_CASE("step counts are per parameter and advance once per step()") {
    Tensor a = zeros({3}).requires_grad_();
    Tensor b = zeros({2, 2}).requires_grad_();
    Tensor c = zeros({1}).requires_grad_();
    optim::Adam opt({a, b, c}, optim::AdamOptions(0.1));
    a.set_grad(ones({3}));
    b.set_grad(ones({2, 2}));
    for (int i = 0; i < 3; ++i) opt.step();
    b.set_grad(Tensor());
    for (int i = 0; i < 2; ++i) opt.step();
    CHECK(opt.state(0).step == 5);
    CHECK(opt.state(1).step == 3);
    CHECK(opt.state(2).step == 0);
    CHECK(!opt.state(2).initialized());
    CHECK(c.to_vector<float>() == std::vector<float>{0.f});
    // with a constant gradient each Adam step moves by lr (to float rounding), whatever the
    // step count: bias correction divides the warm-up out exactly
    CHECK(a.to_vector<float>()[0] == doctest::Approx(-0.5).epsilon(1e-6));
    CHECK(b.to_vector<float>()[0] == doctest::Approx(-0.3).epsilon(1e-6));
    const auto sd = opt.state_dict_tensors();
    CHECK(sd.at("0.step").item<int64_t>() == 5);
    CHECK(sd.at("1.step").item<int64_t>() == 3);
    CHECK(sd.at("0.step").dtype() == kInt64);
    CHECK(sd.at("0.step").dim() == 0);
    CHECK(!sd.count("2.step"));
    CHECK(!sd.count("0.max_exp_avg_sq"));
    CHECK(sd.size() == 6);
  }

  TEST_CASE("zero_grad zeroes gradients in place and skips undefined ones") {
    Tensor w = tensor({1.f, 2.f, 3.f}).requires_grad_();
    Tensor b = tensor({0.5f}).requires_grad_();
    Tensor unused = zeros({2}).requires_grad_();
    optim::SGD opt({w, b, unused}, optim::SGDOptions(0.1));
    (sum(w * w) + sum(b)).backward();
    const void* wbuf = w.grad().raw_data();
    const void* bbuf = b.grad().raw_data();
    opt.zero_grad();
    CHECK(w.grad().to_vector<float>() == std::vector<float>{0.f, 0.f, 0.f});
    CHECK(b.grad().to_vector<float>() == std::vector<float>{0.f});
    CHECK(w.grad().raw_data() == wbuf);
    CHECK(b.grad().raw_data() == bbuf);
    CHECK(!unused.grad().defined());
    // the next backward accumulates into the same, zeroed memory
    sum(w * 3.0).backward();
    CHECK(w.grad().raw_data() == wbuf);
    CHECK(w.grad().to_vector<float>() == std::vector<float>{3.f, 3.f, 3.f});
  }

  TEST_CASE("step() runs without recording, in place, and invalidates graphs that saved it") {
    Tensor w = tensor({1.0, 2.0}).requires_grad_();
    Tensor x = tensor({3.0, 4.0});
    optim::SGD opt({w}, optim::SGDOptions(0.5));
    Tensor y = sum(w * x);  // MulBackward saves w
    y.backward(Tensor(), /*retain_graph=*/true);
    const void* data = w.raw_data();
    CHECK(grad_enabled());
    opt.step();  // w -= 0.5 * x
    CHECK(grad_enabled());
    CHECK(w.is_leaf());
    CHECK(w.grad_fn_name().empty());
    CHECK(w.raw_data() == data);
    CHECK(w.to_vector<double>() == VD{-0.5, 0.0});
    CHECK_THROWS_WITH_AS(y.backward(), Contains("modified in place"), Error);
  }

  TEST_CASE("option and parameter errors name the optimizer") {
    auto ps = [] { return std::vector<Tensor>{zeros({2}).requires_grad_()}; };
    using optim::AdamOptions, optim::AdamWOptions, optim::SGDOptions;
    CHECK_THROWS_WITH_AS(optim::SGD(ps(), SGDOptions(-0.1)),
                         Contains("SGD: invalid learning rate -0.1"), Error);
    CHECK_THROWS_WITH_AS(optim::SGD(ps(), SGDOptions(std::nan(""))),
                         Contains("SGD: invalid learning rate nan"), Error);
    CHECK_THROWS_WITH_AS(optim::SGD(ps(), SGDOptions(0.1).momentum(-0.5)),
                         Contains("SGD: invalid momentum -0.5"), Error);
    CHECK_THROWS_WITH_AS(optim::SGD(ps(), SGDOptions(0.1).weight_decay(-1)),
                         Contains("SGD: invalid weight_decay -1"), Error);
    CHECK_THROWS_WITH_AS(
        optim::SGD(ps(), SGDOptions(0.1).nesterov(true)),
        Contains("SGD: nesterov momentum requires a momentum > 0 and zero dampening"), Error);
    CHECK_THROWS_WITH_AS(
        optim::SGD(ps(), SGDOptions(0.1).momentum(0.9).dampening(0.1).nesterov(true)),
        Contains("SGD: nesterov momentum requires"), Error);
    CHECK_THROWS_WITH_AS(optim::Adam(ps(), AdamOptions(-1)),
                         Contains("Adam: invalid learning rate -1"), Error);
    CHECK_THROWS_WITH_AS(optim::Adam(ps(), AdamOptions().betas({1.0, 0.9})),
                         Contains("Adam: invalid beta1 (betas[0]) 1 (must be in [0, 1))"), Error);
    CHECK_THROWS_WITH_AS(optim::Adam(ps(), AdamOptions().betas({-0.1, 0.9})),
                         Contains("Adam: invalid beta1"), Error);
    CHECK_THROWS_WITH_AS(optim::Adam(ps(), AdamOptions().betas({0.9, 1.0})),
                         Contains("Adam: invalid beta2 (betas[1]) 1"), Error);
    CHECK_THROWS_WITH_AS(optim::Adam(ps(), AdamOptions().eps(-1e-8)),
                         Contains("Adam: invalid eps -1e-08"), Error);
    CHECK_THROWS_WITH_AS(optim::Adam(ps(), AdamOptions().weight_decay(-0.1)),
                         Contains("Adam: invalid weight_decay -0.1"), Error);
    CHECK_THROWS_WITH_AS(optim::AdamW(ps(), AdamWOptions().betas({0.9, 1.5})),
                         Contains("AdamW: invalid beta2"), Error);
    CHECK_THROWS_WITH_AS(optim::AdamW(ps(), AdamWOptions().eps(-1)), Contains("AdamW: invalid eps"),
                         Error);
    CHECK_THROWS_WITH_AS(optim::AdamW(ps(), AdamWOptions(-1e-3)),
                         Contains("AdamW: invalid learning rate"), Error);
    // zero is allowed where PyTorch allows it
    optim::Adam(ps(), AdamOptions(0.0).betas({0.0, 0.0}).eps(0.0));
    optim::SGD(ps(), SGDOptions(0.0));

    // parameters
    CHECK_THROWS_WITH_AS(optim::SGD(std::vector<Tensor>{}, SGDOptions(0.1)),
                         Contains("SGD: got an empty parameter list"), Error);
    Tensor leaf = ones({2}).requires_grad_();
    CHECK_THROWS_WITH_AS(optim::Adam({leaf, leaf * 2.0}),
                         Contains("Adam: parameter 1 [2] is not a leaf tensor"), Error);
    CHECK_THROWS_WITH_AS(optim::Adam({tensor({1, 2})}), Contains("Adam: parameter 0 [2] is int64"),
                         Error);
    CHECK_THROWS_WITH_AS(optim::AdamW({leaf, leaf}),
                         Contains("AdamW: parameter 1 is the same tensor as parameter 0"), Error);
    CHECK_THROWS_WITH_AS(optim::SGD({Tensor()}, SGDOptions(0.1)),
                         Contains("SGD: parameter 0 is an undefined tensor"), Error);
    CHECK_THROWS_WITH_AS(optim::SGD({ones({1}).expand({3})}, SGDOptions(0.1)),
                         Contains("SGD: parameter 0 [3] is an expanded view"), Error);
    optim::SGD opt({leaf}, SGDOptions(0.1));
    CHECK_THROWS_WITH_AS(opt.set_lr(-2), Contains("SGD: invalid learning rate -2"), Error);
    CHECK(opt.lr() == 0.1);
    CHECK_THROWS_WITH_AS((void)opt.state(5), Contains("SGD: parameter index 5 out of range"),
                         Error);
  }

  TEST_CASE("state round trip: save, reload into a fresh optimizer, continue identically") {
    for (DType dt : {kFloat32, kFloat64}) {
      INFO(dtype_name(dt));
      for (int kind = 0; kind < 3; ++kind) {
        INFO("kind ", kind);
        auto make = [&](std::vector<Tensor> ps) -> std::unique_ptr<optim::Optimizer> {
          if (kind == 0)
            return std::make_unique<optim::SGD>(
                ps, optim::SGDOptions(0.1).momentum(0.9).nesterov(true).weight_decay(0.01));
          if (kind == 1)
            return std::make_unique<optim::Adam>(
                ps, optim::AdamOptions(0.05).amsgrad(true).weight_decay(0.1));
          return std::make_unique<optim::AdamW>(ps, optim::AdamWOptions(0.05));
        };
        auto run = [&](optim::Optimizer& opt, int from, int to) {
          for (int step = from; step < to; ++step) {
            for (size_t k = 0; k < opt.params().size(); ++k) {
              Tensor p = opt.params()[k];
              p.set_grad(has_grad(k, step)
                             ? make_tensor(gradient(k, step, p.numel(), dt), p.shape(), dt)
                             : Tensor());
            }
            opt.step();
          }
        };
        std::vector<Tensor> ps = make_params(dt);
        auto opt = make(ps);
        run(*opt, 0, 5);
        // through safetensors bytes, as a checkpoint would go
        const std::vector<uint8_t> bytes = safetensors_serialize(opt->state_dict_tensors());
        std::vector<Tensor> saved;
        for (const Tensor& p : ps) saved.push_back(p.detach().clone());
        run(*opt, 5, 10);

        std::vector<Tensor> ps2;
        for (const Tensor& p : saved) ps2.push_back(p.clone().requires_grad_());
        auto opt2 = make(ps2);
        const std::map<std::string, Tensor> loaded = safetensors_parse(bytes.data(), bytes.size());
        CHECK(!loaded.empty());
        opt2->load_state_tensors(loaded);
        CHECK(opt2->state_dict_tensors().size() == loaded.size());
        run(*opt2, 5, 10);
        for (size_t k = 0; k < ps.size(); ++k) CHECK(equal(ps2[k], ps[k]));
        const auto sd1 = opt->state_dict_tensors(), sd2 = opt2->state_dict_tensors();
        REQUIRE(sd1.size() == sd2.size());
        for (const auto& [name, t] : sd1) CHECK_MESSAGE(equal(sd2.at(name), t), name);
      }
    }
  }

  TEST_CASE("state_dict_tensors returns copies; loading converts and copies") {
    Tensor w = tensor({1.f, 2.f}).requires_grad_();
    optim::Adam opt({w}, optim::AdamOptions(0.1));
    w.set_grad(tensor({1.f, -1.f}));
    opt.step();
    auto sd = opt.state_dict_tensors();
    const VD m = sd.at("0.exp_avg").to_vector<double>();
    opt.step();
    CHECK(sd.at("0.exp_avg").to_vector<double>() == m);  // a snapshot
    CHECK(sd.at("0.step").item<int64_t>() == 1);
    // float64 buffers and a float32 step (as PyTorch writes it) load into a float32 optimizer
    std::map<std::string, Tensor> in = {{"0.exp_avg", tensor({0.5, 0.25})},
                                        {"0.exp_avg_sq", tensor({1.0, 4.0})},
                                        {"0.step", scalar_tensor(7.0)}};
    opt.load_state_tensors(in);
    sd = opt.state_dict_tensors();
    CHECK(sd.at("0.exp_avg").dtype() == kFloat32);
    CHECK(sd.at("0.exp_avg").to_vector<float>() == std::vector<float>{0.5f, 0.25f});
    CHECK(sd.at("0.step").item<int64_t>() == 7);
    CHECK(opt.state(0).step == 7);
    in.at("0.exp_avg").fill_(9.0);  // the optimizer kept its own copy
    CHECK(opt.state(0).buffers.at("exp_avg").to_vector<float>() == std::vector<float>{0.5f, 0.25f});
    // loading an empty map clears the state
    opt.load_state_tensors({});
    CHECK(!opt.state(0).initialized());
    CHECK(opt.state_dict_tensors().empty());
  }

  TEST_CASE("loading malformed state is an error that changes nothing") {
    Tensor w = zeros({2}).requires_grad_();
    Tensor u = zeros({3}).requires_grad_();
    optim::Adam opt({w, u}, optim::AdamOptions(0.1).amsgrad(true));
    w.set_grad(ones({2}));
    opt.step();
    const auto good = opt.state_dict_tensors();
    REQUIRE(good.size() == 4);
    auto with = [&](const std::string& key, const Tensor& t) {
      auto m = good;
      m[key] = t;
      return m;
    };
    auto without = [&](const std::string& key) {
      auto m = good;
      m.erase(key);
      return m;
    };
    CHECK_THROWS_WITH_AS(
        opt.load_state_tensors(with("0.exp_avg", zeros({3}))),
        Contains("Adam: state entry '0.exp_avg' has shape [3] but parameter 0 has shape [2]"),
        Error);
    CHECK_THROWS_WITH_AS(
        opt.load_state_tensors(with("0.momentum_buffer", zeros({2}))),
        Contains("Adam: state entry '0.momentum_buffer' has an unknown key 'momentum_buffer' "
                 "(this Adam keeps: step, exp_avg, exp_avg_sq, max_exp_avg_sq)"),
        Error);
    CHECK_THROWS_WITH_AS(
        opt.load_state_tensors(with("2.step", scalar_tensor(1.0))),
        Contains("Adam: state entry '2.step' is for parameter 2 but the optimizer has 2 "
                 "parameters"),
        Error);
    CHECK_THROWS_WITH_AS(opt.load_state_tensors(with("step", scalar_tensor(1.0))),
                         Contains("Adam: state entry 'step' is not named <parameter index>.<key>"),
                         Error);
    CHECK_THROWS_WITH_AS(opt.load_state_tensors(with("x.step", scalar_tensor(1.0))),
                         Contains("is not named"), Error);
    CHECK_THROWS_WITH_AS(opt.load_state_tensors(with("01.step", scalar_tensor(1.0))),
                         Contains("is not named"), Error);
    CHECK_THROWS_WITH_AS(
        opt.load_state_tensors(with("0.step", scalar_tensor(1.5))),
        Contains("Adam: state entry '0.step' must be a non-negative integer, got 1.5"), Error);
    CHECK_THROWS_WITH_AS(opt.load_state_tensors(with("0.step", scalar_tensor(-1.0))),
                         Contains("must be a non-negative integer"), Error);
    CHECK_THROWS_WITH_AS(opt.load_state_tensors(with("0.step", zeros({2}))),
                         Contains("Adam: state entry '0.step' must hold one value, got [2]"),
                         Error);
    CHECK_THROWS_WITH_AS(opt.load_state_tensors(with("0.exp_avg", tensor({1, 2}))),
                         Contains("Adam: state entry '0.exp_avg' is int64"), Error);
    CHECK_THROWS_WITH_AS(opt.load_state_tensors(without("0.max_exp_avg_sq")),
                         Contains("Adam: the state of parameter 0 lacks '0.max_exp_avg_sq'"),
                         Error);
    CHECK_THROWS_WITH_AS(opt.load_state_tensors(with("1.exp_avg", zeros({3}))),
                         Contains("Adam: the state of parameter 1 lacks '1.step'"), Error);
    // nothing changed
    const auto after = opt.state_dict_tensors();
    REQUIRE(after.size() == good.size());
    for (const auto& [name, t] : good) CHECK_MESSAGE(equal(after.at(name), t), name);
    // an SGD without momentum keeps no state at all
    optim::SGD sgd({w}, optim::SGDOptions(0.1));
    CHECK_THROWS_WITH_AS(
        sgd.load_state_tensors({{"0.momentum_buffer", zeros({2})}}),
        Contains("SGD: state entry '0.momentum_buffer' has an unknown key 'momentum_buffer' "
                 "(this SGD keeps: no state)"),
        Error);
  }

  TEST_CASE("StepLR, by hand") {
    Tensor w = zeros({1}).requires_grad_();
    optim::SGD opt({w}, optim::SGDOptions(0.1));
    optim::StepLR sched(opt, /*step_size=*/3, /*gamma=*/0.5);
    CHECK(sched.get_last_lr()[0] == 0.1);
    CHECK(sched.last_epoch() == 0);
    // epochs 1..10
    const VD want = {0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025, 0.025, 0.0125, 0.0125};
    for (size_t e = 0; e < want.size(); ++e) {
      sched.step();
      CHECK(sched.last_epoch() == int64_t(e + 1));
      CHECK(sched.get_last_lr()[0] == doctest::Approx(want[e]).epsilon(1e-15));
      CHECK(opt.lr() == sched.get_last_lr()[0]);
    }
    // PyTorch's StepLR is chainable: a manual change carries over
    opt.set_lr(1.0);
    sched.step();  // epoch 11
    sched.step();  // epoch 12: decays
    CHECK(opt.lr() == 0.5);
    // default gamma 0.1
    optim::StepLR tenth(opt, 1);
    tenth.step();
    CHECK(opt.lr() == doctest::Approx(0.05).epsilon(1e-15));
    CHECK_THROWS_WITH_AS(optim::StepLR(opt, 0), Contains("StepLR: step_size must be >= 1, got 0"),
                         Error);
    CHECK_THROWS_WITH_AS(optim::StepLR(opt, 2, -1.0),
                         Contains("StepLR: gamma must be finite and >= 0, got -1"), Error);
  }

  TEST_CASE("CosineAnnealingLR, by hand and against PyTorch's recursive form") {
    Tensor w = zeros({1}).requires_grad_();
    {
      optim::Adam opt({w}, optim::AdamOptions(1.0));
      optim::CosineAnnealingLR sched(opt, /*T_max=*/4);
      CHECK(sched.get_last_lr()[0] == 1.0);
      // (1 + cos(pi * t / 4)) / 2 for t = 1..9: down to 0 at t = 4, back up to 1 at t = 8
      const double a = (1 + std::sqrt(0.5)) / 2, b = (1 - std::sqrt(0.5)) / 2;
      const VD want = {a, 0.5, b, 0.0, b, 0.5, a, 1.0, a};
      for (size_t e = 0; e < want.size(); ++e) {
        sched.step();
        CHECK(sched.get_last_lr()[0] == doctest::Approx(want[e]).epsilon(1e-15));
        CHECK(opt.lr() == sched.get_last_lr()[0]);
      }
    }
    // lr_scheduler.py CosineAnnealingLR.get_lr(), stepped without an epoch argument
    for (int64_t T_max : {1, 2, 7, 10}) {
      const double base = 0.3, eta_min = 0.01;
      optim::SGD opt({w}, optim::SGDOptions(base));
      optim::CosineAnnealingLR sched(opt, T_max, eta_min);
      double lr = base;
      for (int64_t t = 1; t <= 3 * T_max + 1; ++t) {
        if ((t - 1 - T_max) % (2 * T_max) == 0)
          lr = lr + (base - eta_min) * (1 - std::cos(M_PI / double(T_max))) / 2;
        else
          lr = (1 + std::cos(M_PI * double(t) / double(T_max))) /
                   (1 + std::cos(M_PI * double(t - 1) / double(T_max))) * (lr - eta_min) +
               eta_min;
        sched.step();
        INFO("T_max ", T_max, " epoch ", t);
        CHECK(sched.get_last_lr()[0] == doctest::Approx(lr).epsilon(1e-12));
        if (t == T_max) CHECK(sched.get_last_lr()[0] == doctest::Approx(eta_min).epsilon(1e-15));
      }
    }
    optim::SGD opt({w}, optim::SGDOptions(0.1));
    CHECK_THROWS_WITH_AS(optim::CosineAnnealingLR(opt, 0),
                         Contains("CosineAnnealingLR: T_max must be >= 1, got 0"), Error);
    CHECK_THROWS_WITH_AS(optim::CosineAnnealingLR(opt, 5, -0.1),
                         Contains("CosineAnnealingLR: eta_min must be finite and >= 0"), Error);
  }

  TEST_CASE("each optimizer minimises a quadratic through autograd") {
    // f(x) = sum(a * (x - c)^2) with a > 0, minimum at x = c
    const Tensor a = tensor({1.0f, 4.0f, 0.5f, 2.0f}), c = tensor({3.0f, -1.0f, 0.5f, 2.0f});
    for (int kind = 0; kind < 4; ++kind) {
      INFO("kind ", kind);
      Tensor x = zeros({4}).requires_grad_();
      std::unique_ptr<optim::Optimizer> opt;
      if (kind == 0)
        opt = std::make_unique<optim::SGD>(std::vector<Tensor>{x}, optim::SGDOptions(0.05));
      if (kind == 1)
        opt = std::make_unique<optim::SGD>(std::vector<Tensor>{x},
                                           optim::SGDOptions(0.02).momentum(0.9).nesterov(true));
      if (kind == 2)
        opt = std::make_unique<optim::Adam>(std::vector<Tensor>{x}, optim::AdamOptions(0.1));
      if (kind == 3)
        opt = std::make_unique<optim::AdamW>(std::vector<Tensor>{x},
                                             optim::AdamWOptions(0.1).weight_decay(1e-4));
      optim::CosineAnnealingLR sched(*opt, 300, 1e-3);
      float first = 0, last = 0;
      for (int step = 0; step < 300; ++step) {
        opt->zero_grad();
        Tensor d = x - c;
        Tensor loss = sum(a * d * d);
        loss.backward();
        opt->step();
        sched.step();
        if (step == 0) first = loss.item<float>();
        last = loss.item<float>();
      }
      CHECK(first > 10.f);
      CHECK(last < 1e-4f);
      CHECK(allclose(x, c, 0, 1e-2));
    }
  }
}

// ------------------------------------------------------------------ parameter groups
namespace {
// A 1-D tensor of `dt` holding `v`.
Tensor vec(const VD& v, DType dt = kFloat64) { return from_vector(v, {int64_t(v.size())}).to(dt); }
Tensor param(const VD& v) { return vec(v).requires_grad_(); }
void set_grads(const std::vector<Tensor>& ps, double g) {
  for (const Tensor& p : ps) Tensor(p).set_grad(full(p.shape(), g, dtype(p.dtype())));
}
}  // namespace

TEST_SUITE("optim") {
  TEST_CASE("parameter groups: each group is updated with its own settings") {
    Tensor a = param({0.0, 0.0}), b = param({0.0});
    using optim::ParamGroup, optim::SGDOptions;
    // b's group has its own options, all of them (LibTorch): momentum 0 there
    optim::SGD opt({ParamGroup({a}), ParamGroup({b}, SGDOptions(0.5))},
                   SGDOptions(0.1).momentum(0.9));
    REQUIRE(opt.num_param_groups() == 2);
    CHECK(opt.lr() == 0.1);
    CHECK(opt.lr(1) == 0.5);
    CHECK(opt.options(0).momentum() == 0.9);
    CHECK(opt.options(1).momentum() == 0.0);
    CHECK(opt.param_groups()[1].params()[0].is_same(b));
    set_grads({a, b}, 1.0);
    opt.step();
    CHECK(a.to_vector<double>() == VD{-0.1, -0.1});
    CHECK(b.to_vector<double>() == VD{-0.5});
    opt.step();  // a: buf = 0.9 * 1 + 1 = 1.9; b: plain SGD
    CHECK(a.to_vector<double>()[0] == doctest::Approx(-0.29).epsilon(1e-15));
    CHECK(b.to_vector<double>() == VD{-1.0});
    CHECK(opt.state(0).buffers.count("momentum_buffer") == 1);
    CHECK(!opt.state(1).initialized());
    const auto tensors = opt.state_dict_tensors();
    CHECK(tensors.size() == 1);  // "0.momentum_buffer"; b keeps none
    CHECK(tensors.count("1.momentum_buffer") == 0);

    opt.set_lr(1, 0.25);
    CHECK(opt.lr(1) == 0.25);
    CHECK(opt.lr(0) == 0.1);
    opt.set_lr(0.3);  // every group
    CHECK(opt.lr(0) == 0.3);
    CHECK(opt.lr(1) == 0.3);
  }

  TEST_CASE("parameter groups: Adam with per-group betas matches the reference per group") {
    Tensor a = param({0.5, -1.0}), b = param({2.0, 0.25, -0.5});
    using optim::AdamOptions, optim::ParamGroup;
    const AdamOptions second = AdamOptions(0.05).betas({0.5, 0.8}).weight_decay(0.1).amsgrad(true);
    optim::Adam opt({ParamGroup({a}), ParamGroup({b}, second)}, AdamOptions(0.01));
    VD ra = a.to_vector<double>(), rb = b.to_vector<double>();
    RefState sa, sb;
    for (int k = 0; k < 4; ++k) {
      const VD ga = {0.3 * k - 0.2, 0.1}, gb = {1.0, -0.5 * k, 0.25};
      a.set_grad(vec(ga, kFloat64));
      b.set_grad(vec(gb, kFloat64));
      opt.step();
      ref_adam(ra, ga, sa, AdamCfg{0.01, 0.9, 0.999, 1e-8, 0.0, false, false});
      ref_adam(rb, gb, sb, AdamCfg{0.05, 0.5, 0.8, 1e-8, 0.1, true, false});
    }
    check_close(a.to_vector<double>(), ra, 1e-14, 1e-15, "group 0");
    check_close(b.to_vector<double>(), rb, 1e-14, 1e-15, "group 1");
    CHECK(opt.state(1).buffers.count("max_exp_avg_sq") == 1);  // amsgrad in group 1 only
    CHECK(opt.state(0).buffers.count("max_exp_avg_sq") == 0);
  }

  TEST_CASE("add_param_group takes the defaults or its own options") {
    Tensor a = param({1.0}), b = param({1.0}), c = param({1.0});
    optim::SGD opt({a}, optim::SGDOptions(0.1).momentum(0.5));
    opt.add_param_group(optim::ParamGroup({b}));
    opt.add_param_group(optim::ParamGroup({c}, optim::SGDOptions(0.7).weight_decay(0.1)));
    REQUIRE(opt.num_param_groups() == 3);
    CHECK(opt.params().size() == 3);
    CHECK(opt.params()[2].is_same(c));
    CHECK(opt.settings(1) == opt.settings(0));
    CHECK(opt.options(2).lr() == 0.7);
    CHECK(opt.options(2).weight_decay() == 0.1);
    CHECK(opt.options(2).momentum() == 0.0);
    set_grads({a, b, c}, 1.0);
    opt.step();
    CHECK(b.to_vector<double>()[0] == doctest::Approx(0.9).epsilon(1e-15));
    CHECK(c.to_vector<double>()[0] == doctest::Approx(1.0 - 0.7 * 1.1).epsilon(1e-15));
  }

  TEST_CASE("parameter group errors name the group") {
    Tensor a = param({1.0}), b = param({1.0});
    using optim::ParamGroup, optim::SGDOptions;
    CHECK_THROWS_WITH_AS(optim::SGD({ParamGroup({a}), ParamGroup({b, a})}, SGDOptions(0.1)),
                         Contains("SGD: parameter 2 (parameter group 1) is the same tensor as "
                                  "parameter 0 (parameter group 0); a parameter may belong to one "
                                  "group only"),
                         Error);
    CHECK_THROWS_WITH_AS(optim::SGD({ParamGroup({a}), ParamGroup({})}, SGDOptions(0.1)),
                         Contains("SGD: parameter group 1 is empty"), Error);
    CHECK_THROWS_WITH_AS(
        optim::SGD({ParamGroup({a}), ParamGroup({b}, SGDOptions(0.1).momentum(-1))},
                   SGDOptions(0.1)),
        Contains("SGD: invalid momentum -1 (must be >= 0) (parameter group 1)"), Error);
    CHECK_THROWS_WITH_AS(
        optim::SGD({ParamGroup({a}), ParamGroup({b}, optim::AdamOptions())}, SGDOptions(0.1)),
        Contains("SGD: parameter group 1 has Adam options; give it SGDOptions"), Error);
    CHECK_THROWS_WITH_AS(
        optim::AdamW({ParamGroup({a}), ParamGroup({b}, optim::AdamWOptions().betas({0.9, 1.0}))}),
        Contains("AdamW: invalid beta2 (betas[1]) 1 (must be in [0, 1)) (parameter group 1)"),
        Error);
    optim::SGD opt({a}, SGDOptions(0.1));
    CHECK_THROWS_WITH_AS(opt.add_param_group(ParamGroup({a})),
                         Contains("a parameter may belong to one group only"), Error);
    CHECK(opt.num_param_groups() == 1);  // nothing changed
    CHECK(opt.params().size() == 1);
    CHECK_THROWS_WITH_AS(opt.add_param_group(ParamGroup({b, b})),
                         Contains("SGD: parameter 2 is the same tensor as parameter 1"), Error);
    CHECK_THROWS_WITH_AS(opt.set_lr(3, 0.1),
                         Contains("SGD: parameter group 3 out of range (1 "
                                  "groups)"),
                         Error);
    CHECK_THROWS_WITH_AS(opt.set_lr(0, -1.0), Contains("SGD: invalid learning rate -1"), Error);
    CHECK_THROWS_WITH_AS(opt.load_group_settings({opt.settings(), opt.settings()}),
                         Contains("SGD: got settings for 2 parameter groups, the optimizer has 1"),
                         Error);
  }

  TEST_CASE("parameter groups: settings and state round trip, per group") {
    auto build = [](const std::vector<Tensor>& ps) {
      using optim::ParamGroup, optim::SGDOptions;
      return std::make_unique<optim::SGD>(
          std::vector<ParamGroup>{ParamGroup({ps[0]}),
                                  ParamGroup({ps[1]}, SGDOptions(0.05).momentum(0.5))},
          SGDOptions(0.1));
    };
    std::vector<Tensor> p1 = {param({1.0, 2.0}), param({3.0})};
    std::vector<Tensor> p2 = {param({1.0, 2.0}), param({3.0})};
    auto o1 = build(p1);
    set_grads(p1, 0.5);
    o1->step();
    o1->set_lr(1, 0.02);
    // a fresh optimizer, with other settings in its groups, takes both groups' settings back
    auto o2 = build(p2);
    o2->load_group_settings(
        {optim::SGDOptions(0.3).to_settings(), optim::SGDOptions(0.9).momentum(0.5).to_settings()});
    o2->load_state(o1->group_settings(), o1->state_dict_tensors());
    CHECK(o2->group_settings() == o1->group_settings());
    CHECK(o2->lr(1) == 0.02);
    // group 1 keeps a momentum buffer, group 0 keeps none: its state must not carry one
    std::map<std::string, Tensor> bad = o1->state_dict_tensors();
    bad["0.momentum_buffer"] = zeros({2}, dtype(kFloat64));
    CHECK_THROWS_WITH_AS(o2->load_state_tensors(bad),
                         Contains("state entry '0.momentum_buffer' has an unknown key"), Error);
    // turning momentum off in group 1 while it has state is refused
    std::vector<optim::Settings> off = o2->group_settings();
    off[1]["momentum"] = 0.0;
    CHECK_THROWS_WITH_AS(o2->load_group_settings(off),
                         Contains("these settings change the state a parameter keeps"), Error);
    // both continue identically from the same parameters
    for (size_t i = 0; i < p1.size(); ++i) {
      NoGradGuard no_record;
      p2[i].copy_(p1[i]);
    }
    for (int k = 0; k < 3; ++k) {
      set_grads(p1, 0.25 * k - 0.5);
      set_grads(p2, 0.25 * k - 0.5);
      o1->step();
      o2->step();
    }
    for (size_t i = 0; i < p1.size(); ++i)
      CHECK(p2[i].to_vector<double>() == p1[i].to_vector<double>());
    off = o2->group_settings();
    off[0]["momentum"] = 0.9;  // group 0 has no state: fine there
    o2->load_group_settings(off);
    CHECK(o2->options(0).momentum() == 0.9);
  }

  TEST_CASE("parameter groups through optimizer files: every group's settings, checked") {
    using optim::ParamGroup, optim::SGDOptions;
    Tensor a = param({1.0}), b = param({1.0, 2.0}), c = param({3.0});
    optim::SGD opt({ParamGroup({a}), ParamGroup({b, c}, SGDOptions(0.5).momentum(0.9))},
                   SGDOptions(0.1));
    set_grads({a, b, c}, 1.0);
    opt.step();
    Metadata meta;
    (void)optimizer_state_tensors(opt, &meta);
    CHECK(meta.at("optimizer.num_groups") == "2");
    CHECK(meta.at("optimizer.lr") == "0.1");
    CHECK(meta.at("optimizer.group.1.lr") == "0.5");
    CHECK(meta.at("optimizer.group.1.momentum") == "0.9");
    CHECK(meta.at("optimizer.group.1.num_params") == "2");
    // one group writes the keys it always wrote
    Metadata single;
    optim::SGD one({param({1.0})}, SGDOptions(0.1));
    (void)optimizer_state_tensors(one, &single);
    for (const auto& [key, value] : single) CHECK((key.find("group") == std::string::npos));

    const TensorMap tensors = optimizer_state_tensors(opt, nullptr);
    Tensor a2 = param({1.0}), b2 = param({1.0, 2.0}), c2 = param({3.0});
    optim::SGD back({ParamGroup({a2}), ParamGroup({b2, c2}, SGDOptions(0.7).momentum(0.1))},
                    SGDOptions(0.2));
    load_optimizer_state(back, tensors, meta);
    CHECK(back.group_settings() == opt.group_settings());
    // another layout is refused, naming it
    optim::SGD flat({param({1.0}), param({1.0, 2.0}), param({3.0})}, SGDOptions(0.1));
    CHECK_THROWS_WITH_AS(load_optimizer_state(flat, tensors, meta),
                         Contains("the checkpoint holds 2 parameter groups, the SGD has 1"), Error);
    optim::SGD other({ParamGroup({param({1.0}), param({1.0, 2.0})}), ParamGroup({param({3.0})})},
                     SGDOptions(0.1));
    CHECK_THROWS_WITH_AS(load_optimizer_state(other, tensors, meta),
                         Contains("parameter group 1 holds 2 parameters, the optimizer's holds 1"),
                         Error);
    Metadata odd = meta;
    odd["optimizer.group.2.lr"] = "0.1";
    CHECK_THROWS_WITH_AS(load_optimizer_state(back, tensors, odd),
                         Contains("is not optimizer.group.<g>.<setting> with g from 1 to 1"),
                         Error);
    odd = meta;
    odd.erase("optimizer.group.1.momentum");
    CHECK_THROWS_WITH_AS(load_optimizer_state(back, tensors, odd), Contains("missing: 'momentum'"),
                         Error);
    odd = meta;
    odd.erase("optimizer.group.1.num_params");
    CHECK_THROWS_WITH_AS(load_optimizer_state(back, tensors, odd),
                         Contains("lacks 'optimizer.group.1.num_params'"), Error);
  }

  // ------------------------------------------------------------------ gradient clipping
  TEST_CASE("clip_grad_norm_: total norm, scaling, norm types") {
    for (DType dt : {kFloat32, kFloat64}) {
      INFO(dtype_name(dt));
      auto make = [&] {
        Tensor a = zeros({2}, dtype(dt)).requires_grad_(),
               b = zeros({1}, dtype(dt)).requires_grad_(),
               none = zeros({3}, dtype(dt)).requires_grad_();
        a.set_grad(vec(VD{3.0, -4.0}, dt));
        b.set_grad(vec(VD{12.0}, dt));
        return std::vector<Tensor>{a, none, b};  // `none` has no gradient: skipped
      };
      const double tol = dt == kFloat32 ? 1e-6 : 1e-13;
      auto ps = make();
      const double total = nn::utils::clip_grad_norm_(ps, 6.5);
      CHECK(total == doctest::Approx(13.0).epsilon(tol));
      const double coef = 6.5 / (13.0 + 1e-6);
      check_close(ps[0].grad().to_vector<double>(), {3 * coef, -4 * coef}, tol, 0, "a");
      check_close(ps[2].grad().to_vector<double>(), {12 * coef}, tol, 0, "b");
      CHECK(!ps[1].grad().defined());
      // below max_norm: untouched, exactly
      ps = make();
      CHECK(nn::utils::clip_grad_norm_(ps, 100.0) == doctest::Approx(13.0).epsilon(tol));
      CHECK(ps[0].grad().to_vector<double>() == VD{3.0, -4.0});
      // other norms
      ps = make();
      const double inf = std::numeric_limits<double>::infinity();
      CHECK(nn::utils::clip_grad_norm_(ps, 6.0, inf) == 12.0);
      check_close(ps[2].grad().to_vector<double>(), {12 * 6.0 / (12.0 + 1e-6)}, tol, 0, "inf");
      ps = make();
      CHECK(nn::utils::clip_grad_norm_(ps, 100.0, 1.0) == doctest::Approx(19.0).epsilon(tol));
      ps = make();
      CHECK(nn::utils::clip_grad_norm_(ps, 100.0, 3.0) ==
            doctest::Approx(std::cbrt(27.0 + 64.0 + 1728.0)).epsilon(tol));
      // one tensor, and nothing to clip
      ps = make();
      CHECK(nn::utils::clip_grad_norm_(ps[0], 1.0) == doctest::Approx(5.0).epsilon(tol));
      check_close(ps[0].grad().to_vector<double>(), {0.6, -0.8}, 1e-6, 0, "single");
      CHECK(nn::utils::clip_grad_norm_(std::vector<Tensor>{ps[1]}, 1.0) == 0.0);
    }
  }

  TEST_CASE("clip_grad_norm_: non-finite norms and bad arguments") {
    const double inf = std::numeric_limits<double>::infinity();
    Tensor a = zeros({2}).requires_grad_(), b = zeros({2}).requires_grad_();
    auto reset = [&](double bad) {
      a.set_grad(vec(VD{1.0, bad}, kFloat32));
      b.set_grad(vec(VD{2.0, 2.0}, kFloat32));
    };
    reset(inf);
    CHECK_THROWS_WITH_AS(nn::utils::clip_grad_norm_({a, b}, 1.0, 2.0, true),
                         Contains("clip_grad_norm_: the total norm of order 2 of the gradients of "
                                  "2 parameters is inf, so they cannot be clipped"),
                         Error);
    CHECK(b.grad().to_vector<double>() == VD{2.0, 2.0});  // unchanged
    // without the check: scaled by 1 / inf, as PyTorch
    CHECK(std::isinf(nn::utils::clip_grad_norm_({a, b}, 1.0)));
    CHECK(b.grad().to_vector<double>() == VD{0.0, 0.0});
    reset(std::nan(""));
    CHECK(std::isnan(nn::utils::clip_grad_norm_({a, b}, 1.0, inf)));
    CHECK(std::isnan(b.grad().to_vector<double>()[0]));
    reset(std::nan(""));
    CHECK_THROWS_WITH_AS(nn::utils::clip_grad_norm_({a, b}, 1.0, inf, true),
                         Contains("is nan, so they cannot be clipped"), Error);
    CHECK_THROWS_WITH_AS(nn::utils::clip_grad_norm_({a}, 1.0, 0.0),
                         Contains("clip_grad_norm_: norm_type must be > 0 or inf, got 0"), Error);
    CHECK_THROWS_WITH_AS(nn::utils::clip_grad_norm_({a}, -1.0),
                         Contains("clip_grad_norm_: max_norm must be >= 0, got -1"), Error);
    CHECK_THROWS_WITH_AS(nn::utils::clip_grad_norm_({Tensor()}, 1.0),
                         Contains("clip_grad_norm_: parameter 0 is an undefined tensor"), Error);
  }

  TEST_CASE("clip_grad_value_ clamps every gradient element") {
    Tensor a = zeros({3}, dtype(kFloat64)).requires_grad_(), b = zeros({1}).requires_grad_();
    a.set_grad(vec(VD{-3.0, 0.5, 2.0}, kFloat64));
    b.set_grad(vec(VD{-0.1}, kFloat32));
    nn::utils::clip_grad_value_({a, b}, 1.0);
    CHECK(a.grad().to_vector<double>() == VD{-1.0, 0.5, 1.0});
    CHECK(b.grad().to_vector<float>() == std::vector<float>{-0.1f});
    nn::utils::clip_grad_value_(a, 0.0);
    CHECK(a.grad().to_vector<double>() == VD{0.0, 0.0, 0.0});
    CHECK_THROWS_WITH_AS(nn::utils::clip_grad_value_({a}, -1.0),
                         Contains("clip_grad_value_: clip_value must be >= 0, got -1"), Error);
  }
}
