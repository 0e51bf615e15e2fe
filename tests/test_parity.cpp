// Parity with PyTorch 1.13: every functional layer op, its gradients, and the optimizers
// and schedulers, against values PyTorch computed (tests/fixtures/*.safetensors, made by
// tests/fixtures/make_fixtures.py; PyTorch is needed only to regenerate them, never here).
//
// Gradients are those of sum(output * grad_out) for the stored grad_out, i.e.
// output.backward(grad_out); a scalar loss is differentiated directly. The fixtures are
// float64, so the float64 comparisons measure glassbox's own error: element i passes when
// |actual - expected| <= rtol * (|expected| + 0.1 * max|expected|), i.e. rtol relative plus
// an absolute floor of rtol/10 of the tensor's largest value for entries near zero. The
// same cases also run in float32 (inputs rounded from the fixtures) with rtol 1e-4.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "glassbox.h"

using namespace glassbox;

namespace {

constexpr double kTol64 = 1e-5;
constexpr double kTol32 = 1e-4;

TensorMap load_fixture(const std::string& file) {
  return load_safetensors(std::string(GLASSBOX_SOURCE_DIR) + "/tests/fixtures/" + file);
}

// The prefixes of all keys "<prefix>.<suffix>" (e.g. the cases of a file, by ".params").
std::vector<std::string> cases_with(const TensorMap& m, const std::string& suffix) {
  std::vector<std::string> out;
  for (const auto& [key, t] : m)
    if (key.size() > suffix.size() &&
        key.compare(key.size() - suffix.size(), suffix.size(), suffix) == 0)
      out.push_back(key.substr(0, key.size() - suffix.size()));
  return out;
}

bool has(const TensorMap& m, const std::string& key) { return m.count(key) != 0; }

const Tensor& at(const TensorMap& m, const std::string& key) {
  auto it = m.find(key);
  if (it == m.end()) throw std::runtime_error("fixture tensor '" + key + "' is missing");
  return it->second;
}

std::vector<int64_t> ints(const Tensor& t) { return t.to_vector<int64_t>(); }
std::vector<double> doubles(const Tensor& t) { return t.to_vector<double>(); }

// Where the cases run (see algo_runs_here).
Device g_device = kCPU;
Tensor dev(const Tensor& t) { return t.to(g_device); }

// A fresh leaf that collects gradients, in `dt`, on the device the cases run on.
Tensor leaf(const Tensor& t, DType dt) { return t.to(dt).to(g_device).clone().requires_grad_(); }

const char* dtype_tag(DType dt) { return dt == kFloat64 ? "f64" : "f32"; }
double tol_for(DType dt) { return dt == kFloat64 ? kTol64 : kTol32; }

// The error of one comparison: max_i |a_i - e_i| / (|e_i| + 0.1 * max|e|) (infinite on a NaN
// or Inf mismatch), and the element where it occurs.
struct Err {
  double value = 0;
  size_t index = 0;
  double actual = 0, expected = 0;
};

Err rel_err(const Tensor& actual, const Tensor& expected) {
  std::vector<double> a = actual.to(kFloat64).to_vector<double>();
  std::vector<double> e = expected.to(kFloat64).to_vector<double>();
  double emax = 0;
  for (double v : e) emax = std::max(emax, std::abs(v));
  const double floor = std::max(0.1 * emax, 1e-30);
  Err worst;
  for (size_t i = 0; i < a.size(); ++i) {
    double d = std::abs(a[i] - e[i]) / (std::abs(e[i]) + floor);
    if (!(d <= std::numeric_limits<double>::max())) d = std::numeric_limits<double>::infinity();
    if (d > worst.value || i == 0) worst = {d, i, a[i], e[i]};
  }
  return worst;
}

// The worst error seen in one group of comparisons, and where; reported when it goes.
struct Worst {
  std::string group;
  double err = 0;
  std::string where = "-";
  int compared = 0;
  explicit Worst(std::string g) : group(std::move(g)) {}
  ~Worst() {
    MESSAGE(group, ": ", compared, " tensors compared, worst relative error ", err, " (", where,
            ")");
  }
};

void compare(Worst& w, const std::string& what, const Tensor& actual, const Tensor& expected,
             double tol) {
  if (!actual.defined()) {
    FAIL_CHECK(what, ": glassbox produced no tensor (gradient missing?)");
    return;
  }
  if (actual.shape() != expected.shape()) {
    FAIL_CHECK(what, ": shape ", actual.shape_str(), ", PyTorch ", expected.shape_str());
    return;
  }
  const Err err = rel_err(actual, expected);
  if (++w.compared == 1 || err.value > w.err) {
    w.err = err.value;
    w.where = what;
  }
  CHECK_MESSAGE(err.value <= tol, what, ": relative error ", err.value, " > ", tol,
                " (worst at flat index ", err.index, ": glassbox ", err.actual, ", PyTorch ",
                err.expected, ")");
}

// Runs `body`, turning an exception into a failed check that names the case.
template <class Fn>
void guarded(const std::string& what, Fn&& body) {
  try {
    body();
  } catch (const std::exception& e) {
    FAIL_CHECK(what, " threw: ", std::string(e.what()));
  }
}

const std::vector<DType> kDTypes{kFloat64, kFloat32};
const std::vector<F::ConvAlgo> kAlgos{F::ConvAlgo::Direct, F::ConvAlgo::ShiftGemm,
                                      F::ConvAlgo::Im2col, F::ConvAlgo::Flat, F::ConvAlgo::Auto};

// Where the cases run: the CPU in suite "parity", the CUDA device in "device_parity" (the
// same fixtures and tolerances; shiftgemm has no CUDA version and is left out there).
// Runs the cases of one scope on the CUDA device, back on the CPU even when a REQUIRE throws.
struct OnCuda {
  OnCuda() { g_device = kCUDA; }
  ~OnCuda() { g_device = kCPU; }
};
bool cuda_present() {
  if (cuda::is_available()) return true;
  std::cout << "[device_parity] SKIPPED: no CUDA device\n";
  return false;
}
bool algo_runs_here(F::ConvAlgo a) { return g_device.is_cpu() || a != F::ConvAlgo::ShiftGemm; }

// ---------------------------------------------------------------- convolution
F::ConvParams conv_params(const std::vector<int64_t>& p, F::ConvAlgo algo) {
  F::ConvParams cp;
  cp.stride = {p[0], p[1]};
  cp.padding = {p[2], p[3], p[4], p[5]};
  cp.dilation = {p[6], p[7]};
  cp.groups = p[8];
  if (p.size() > 9) cp.output_padding = {p[9], p[10]};
  cp.algo = algo;
  return cp;
}

// Makes ConvAlgo::Auto in ConvParams mean Auto for the duration, whatever another test left
// as the global default.
struct DefaultAlgoAuto {
  F::ConvAlgo saved = F::default_conv_algo();
  DefaultAlgoAuto() { F::set_default_conv_algo(F::ConvAlgo::Auto); }
  ~DefaultAlgoAuto() { F::set_default_conv_algo(saved); }
};

void run_conv_file(const std::string& file, bool transposed) {
  DefaultAlgoAuto auto_default;
  const TensorMap m = load_fixture(file);
  const std::vector<std::string> cases = cases_with(m, ".params");
  REQUIRE(cases.size() >= 10);
  for (F::ConvAlgo algo : kAlgos)
    for (DType dt : kDTypes) {
      if (!algo_runs_here(algo)) continue;
      Worst worst(std::string(transposed ? "conv_transpose2d " : "conv2d ") +
                  F::conv_algo_name(algo) + " " + dtype_tag(dt));
      for (const std::string& c : cases) {
        const std::string what =
            file + " " + c + " [" + F::conv_algo_name(algo) + ", " + dtype_tag(dt) + "]";
        guarded(what, [&] {
          const F::ConvParams params = conv_params(ints(at(m, c + ".params")), algo);
          Tensor x = leaf(at(m, c + ".input"), dt);
          Tensor w = leaf(at(m, c + ".weight"), dt);
          Tensor b = has(m, c + ".bias") ? leaf(at(m, c + ".bias"), dt) : Tensor();
          Tensor y = transposed ? F::conv_transpose2d(x, w, b, params) : F::conv2d(x, w, b, params);
          y.backward(dev(at(m, c + ".grad_out").to(dt)));
          const double tol = tol_for(dt);
          compare(worst, what + " output", y, at(m, c + ".output"), tol);
          compare(worst, what + " grad_input", x.grad(), at(m, c + ".grad_input"), tol);
          compare(worst, what + " grad_weight", w.grad(), at(m, c + ".grad_weight"), tol);
          if (b.defined())
            compare(worst, what + " grad_bias", b.grad(), at(m, c + ".grad_bias"), tol);
        });
      }
    }
}

// ---------------------------------------------------------------- losses
F::Reduction reduction(int64_t code) {
  switch (code) {
    case 0:
      return F::Reduction::None;
    case 1:
      return F::Reduction::Mean;
    default:
      return F::Reduction::Sum;
  }
}

// ---------------------------------------------------------------- optimizers
std::unique_ptr<optim::Optimizer> make_optimizer(const std::string& config,
                                                 const std::vector<Tensor>& params,
                                                 const std::vector<double>& hp) {
  if (config.rfind("sgd", 0) == 0)
    return std::make_unique<optim::SGD>(params, optim::SGDOptions(hp[0])
                                                    .momentum(hp[1])
                                                    .dampening(hp[2])
                                                    .nesterov(hp[3] != 0)
                                                    .weight_decay(hp[4]));
  if (config.rfind("adamw", 0) == 0)
    return std::make_unique<optim::AdamW>(params, optim::AdamWOptions(hp[0])
                                                      .betas(std::make_tuple(hp[1], hp[2]))
                                                      .eps(hp[3])
                                                      .weight_decay(hp[4])
                                                      .amsgrad(hp[5] != 0));
  if (config.rfind("adam", 0) == 0)
    return std::make_unique<optim::Adam>(params, optim::AdamOptions(hp[0])
                                                     .betas(std::make_tuple(hp[1], hp[2]))
                                                     .eps(hp[3])
                                                     .weight_decay(hp[4])
                                                     .amsgrad(hp[5] != 0));
  throw std::runtime_error("unknown optimizer config '" + config + "'");
}

void parity_conv2d() { run_conv_file("conv2d.safetensors", false); }

void parity_conv_transpose2d() { run_conv_file("conv_transpose2d.safetensors", true); }

void parity_pooling() {
  const TensorMap m = load_fixture("pool.safetensors");
  const std::vector<std::string> cases = cases_with(m, ".params");
  REQUIRE(cases.size() >= 15);
  for (DType dt : kDTypes) {
    Worst wmax(std::string("max_pool2d ") + dtype_tag(dt));
    Worst wavg(std::string("avg_pool2d ") + dtype_tag(dt));
    for (const std::string& c : cases) {
      const std::string what = "pool.safetensors " + c + " [" + dtype_tag(dt) + "]";
      guarded(what, [&] {
        const std::vector<int64_t> p = ints(at(m, c + ".params"));
        Tensor x = leaf(at(m, c + ".input"), dt);
        const bool is_max = c.rfind("max", 0) == 0;
        Tensor y = is_max ? F::max_pool2d(x, {p[0], p[1]}, {p[2], p[3]}, {p[4], p[5]}, {p[6], p[7]},
                                          p[8] != 0)
                          : F::avg_pool2d(x, {p[0], p[1]}, {p[2], p[3]}, {p[4], p[5]}, p[6] != 0,
                                          p[7] != 0);
        y.backward(dev(at(m, c + ".grad_out").to(dt)));
        Worst& w = is_max ? wmax : wavg;
        compare(w, what + " output", y, at(m, c + ".output"), tol_for(dt));
        compare(w, what + " grad_input", x.grad(), at(m, c + ".grad_input"), tol_for(dt));
      });
    }
  }
}

void parity_linear() {
  const TensorMap m = load_fixture("linear.safetensors");
  const std::vector<std::string> cases = cases_with(m, ".weight");
  REQUIRE(cases.size() >= 4);
  for (DType dt : kDTypes) {
    Worst worst(std::string("linear ") + dtype_tag(dt));
    for (const std::string& c : cases) {
      const std::string what = "linear.safetensors " + c + " [" + dtype_tag(dt) + "]";
      guarded(what, [&] {
        Tensor x = leaf(at(m, c + ".input"), dt);
        Tensor w = leaf(at(m, c + ".weight"), dt);
        Tensor b = has(m, c + ".bias") ? leaf(at(m, c + ".bias"), dt) : Tensor();
        Tensor y = F::linear(x, w, b);
        y.backward(dev(at(m, c + ".grad_out").to(dt)));
        const double tol = tol_for(dt);
        compare(worst, what + " output", y, at(m, c + ".output"), tol);
        compare(worst, what + " grad_input", x.grad(), at(m, c + ".grad_input"), tol);
        compare(worst, what + " grad_weight", w.grad(), at(m, c + ".grad_weight"), tol);
        if (b.defined())
          compare(worst, what + " grad_bias", b.grad(), at(m, c + ".grad_bias"), tol);
      });
    }
  }
}

void parity_losses() {
  const TensorMap m = load_fixture("loss.safetensors");
  const std::vector<std::string> cases = cases_with(m, ".params");
  REQUIRE(cases.size() >= 15);
  for (DType dt : kDTypes) {
    Worst wsoft(std::string("log_softmax/softmax ") + dtype_tag(dt));
    Worst wnll(std::string("nll_loss/cross_entropy ") + dtype_tag(dt));
    Worst wmse(std::string("mse_loss ") + dtype_tag(dt));
    for (const std::string& c : cases) {
      const std::string what = "loss.safetensors " + c + " [" + dtype_tag(dt) + "]";
      guarded(what, [&] {
        const std::vector<int64_t> p = ints(at(m, c + ".params"));
        const double tol = tol_for(dt);
        Tensor x = leaf(at(m, c + ".input"), dt);
        Tensor y, t;
        Worst* w = &wnll;
        if (c.rfind("log_softmax", 0) == 0 || c.rfind("softmax", 0) == 0) {
          w = &wsoft;
          y = c[0] == 'l' ? F::log_softmax(x, p[0]) : F::softmax(x, p[0]);
        } else if (c.rfind("nll", 0) == 0) {
          y = F::nll_loss(F::log_softmax(x, 1), dev(at(m, c + ".target")), reduction(p[0]), p[1]);
        } else if (c.rfind("ce", 0) == 0) {
          y = F::cross_entropy(x, dev(at(m, c + ".target")), reduction(p[0]), p[1]);
        } else {
          REQUIRE(c.rfind("mse", 0) == 0);
          w = &wmse;
          t = leaf(at(m, c + ".target"), dt);
          y = F::mse_loss(x, t, reduction(p[0]));
        }
        if (has(m, c + ".grad_out"))
          y.backward(dev(at(m, c + ".grad_out").to(dt)));
        else
          y.backward();
        compare(*w, what + " output", y, at(m, c + ".output"), tol);
        compare(*w, what + " grad_input", x.grad(), at(m, c + ".grad_input"), tol);
        if (t.defined())
          compare(*w, what + " grad_target", t.grad(), at(m, c + ".grad_target"), tol);
      });
    }
  }
}

void parity_batch_norm() {
  const TensorMap m = load_fixture("batch_norm.safetensors");
  const std::vector<std::string> cases = cases_with(m, ".params");
  REQUIRE(cases.size() >= 4);
  for (DType dt : kDTypes) {
    Worst worst(std::string("batch_norm ") + dtype_tag(dt));
    for (const std::string& c : cases) {
      const std::string what = "batch_norm.safetensors " + c + " [" + dtype_tag(dt) + "]";
      guarded(what, [&] {
        const std::vector<double> p = doubles(at(m, c + ".params"));  // training, momentum, eps
        const double tol = tol_for(dt);
        Tensor x = leaf(at(m, c + ".input"), dt);
        Tensor rm = dev(at(m, c + ".running_mean").to(dt)).clone();
        Tensor rv = dev(at(m, c + ".running_var").to(dt)).clone();
        Tensor w = has(m, c + ".weight") ? leaf(at(m, c + ".weight"), dt) : Tensor();
        Tensor b = has(m, c + ".bias") ? leaf(at(m, c + ".bias"), dt) : Tensor();
        Tensor y = F::batch_norm(x, rm, rv, w, b, p[0] != 0, p[1], p[2]);
        y.backward(dev(at(m, c + ".grad_out").to(dt)));
        compare(worst, what + " output", y, at(m, c + ".output"), tol);
        compare(worst, what + " grad_input", x.grad(), at(m, c + ".grad_input"), tol);
        if (w.defined()) {
          compare(worst, what + " grad_weight", w.grad(), at(m, c + ".grad_weight"), tol);
          compare(worst, what + " grad_bias", b.grad(), at(m, c + ".grad_bias"), tol);
        }
        compare(worst, what + " running_mean", rm, at(m, c + ".running_mean_after"), tol);
        compare(worst, what + " running_var", rv, at(m, c + ".running_var_after"), tol);
      });
    }
  }
}

void parity_optimizers() {
  const TensorMap m = load_fixture("optim.safetensors");
  std::vector<std::string> configs;
  for (const std::string& c : cases_with(m, ".hparams"))
    if (c.rfind("sched.", 0) != 0) configs.push_back(c);
  REQUIRE(configs.size() >= 10);
  int64_t n = 0;
  while (has(m, "init.p" + std::to_string(n))) ++n;
  REQUIRE(n >= 2);
  for (DType dt : kDTypes) {
    Worst worst(std::string("optimizers ") + dtype_tag(dt));
    for (const std::string& config : configs) {
      const std::string what = "optim.safetensors " + config + " [" + dtype_tag(dt) + "]";
      guarded(what, [&] {
        std::vector<Tensor> params;
        for (int64_t i = 0; i < n; ++i)
          params.push_back(leaf(at(m, "init.p" + std::to_string(i)), dt));
        auto opt = make_optimizer(config, params, doubles(at(m, config + ".hparams")));
        for (int k = 0; has(m, config + ".p0.s" + std::to_string(k)); ++k) {
          const std::string s = ".s" + std::to_string(k);
          for (int64_t i = 0; i < n; ++i)
            params[i].set_grad(dev(at(m, "grad.p" + std::to_string(i) + s).to(dt)).clone());
          opt->step();
          for (int64_t i = 0; i < n; ++i) {
            const std::string key = config + ".p" + std::to_string(i) + s;
            compare(worst, what + " p" + std::to_string(i) + " after step " + std::to_string(k + 1),
                    params[i], at(m, key), tol_for(dt));
          }
        }
      });
    }
  }
}

void parity_schedulers() {
  const TensorMap m = load_fixture("optim.safetensors");
  Worst worst("lr schedulers");
  for (const std::string name : {"steplr", "cosine"}) {
    const std::string what = "optim.safetensors sched." + name;
    guarded(what, [&] {
      const std::vector<double> hp = doubles(at(m, "sched." + name + ".hparams"));
      const Tensor& expected = at(m, "sched." + name + ".lr");
      Tensor p = zeros({2}, dtype(kFloat64).set_requires_grad(true));
      optim::SGD opt({p}, optim::SGDOptions(hp[0]));
      std::unique_ptr<optim::LRScheduler> sched;
      if (name == "steplr")
        sched = std::make_unique<optim::StepLR>(opt, int64_t(hp[1]), hp[2]);
      else
        sched = std::make_unique<optim::CosineAnnealingLR>(opt, int64_t(hp[1]), hp[2]);
      std::vector<double> lrs;
      for (int64_t epoch = 0; epoch < expected.numel(); ++epoch) {
        lrs.push_back(opt.lr());  // the lr in effect during this epoch
        sched->step();
      }
      compare(worst, what + " lr per epoch", from_vector(lrs), expected, kTol64);
    });
  }
}

// Runs one parity function on the CUDA device, or says it skipped.
void on_cuda(void (*parity)()) {
  if (!cuda_present()) return;
  const OnCuda device;
  parity();
}

}  // namespace

TEST_SUITE("parity") {
  TEST_CASE("conv2d matches PyTorch with every algorithm") { parity_conv2d(); }

  TEST_CASE("conv_transpose2d matches PyTorch with every algorithm") { parity_conv_transpose2d(); }

  TEST_CASE("max_pool2d and avg_pool2d match PyTorch") { parity_pooling(); }

  TEST_CASE("linear matches PyTorch") { parity_linear(); }

  TEST_CASE("log_softmax, softmax, nll_loss, cross_entropy and mse_loss match PyTorch") {
    parity_losses();
  }

  TEST_CASE("batch_norm matches PyTorch in training and eval mode") { parity_batch_norm(); }

  TEST_CASE("SGD, Adam and AdamW follow PyTorch's trajectories") { parity_optimizers(); }

  TEST_CASE("StepLR and CosineAnnealingLR follow PyTorch's lr sequences") { parity_schedulers(); }
}

// The same fixtures on the CUDA device (the emulated one in CI); skipped without one.
TEST_SUITE("device_parity") {
  TEST_CASE("on CUDA: conv2d matches PyTorch with every algorithm") { on_cuda(parity_conv2d); }

  TEST_CASE("on CUDA: conv_transpose2d matches PyTorch with every algorithm") {
    on_cuda(parity_conv_transpose2d);
  }

  TEST_CASE("on CUDA: max_pool2d and avg_pool2d match PyTorch") { on_cuda(parity_pooling); }

  TEST_CASE("on CUDA: linear matches PyTorch") { on_cuda(parity_linear); }

  TEST_CASE("on CUDA: log_softmax, softmax, nll_loss, cross_entropy and mse_loss match PyTorch") {
    on_cuda(parity_losses);
  }

  TEST_CASE("on CUDA: batch_norm matches PyTorch in training and eval mode") {
    on_cuda(parity_batch_norm);
  }

  TEST_CASE("on CUDA: SGD, Adam and AdamW follow PyTorch's trajectories") {
    on_cuda(parity_optimizers);
  }
}
