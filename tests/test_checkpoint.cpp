// Training checkpoints (nn/checkpoint.h) and optimizer settings (optim/optimizer.h): settings
// round trips for every optimizer, bit-identical resume of a run with dropout, errors that
// change nothing, and the training state (epoch, step, generator state, extra entries).
#include <doctest/doctest.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "temp_dir.h"
#include "glassbox.h"
#include "nn/checkpoint.h"

using namespace glassbox;
using doctest::Contains;
namespace fs = std::filesystem;
namespace F = glassbox::nn::functional;

namespace {

using Bytes = std::vector<uint8_t>;

Bytes read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  REQUIRE(f.good());
  return Bytes(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

void write_bytes(const std::string& path, const Bytes& b) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  REQUIRE(f.good());
  f.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
  REQUIRE(f.good());
}

// Same dtype, shape and bytes.
bool bitwise_equal(const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype() || a.shape() != b.shape()) return false;
  const Tensor ca = a.detach().cpu().contiguous(), cb = b.detach().cpu().contiguous();
  return ca.nbytes() == 0 || std::memcmp(ca.raw_data(), cb.raw_data(), ca.nbytes()) == 0;
}

void check_same_tensors(const std::vector<Tensor>& a, const std::vector<Tensor>& b,
                        const std::string& what) {
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) CHECK_MESSAGE(bitwise_equal(a[i], b[i]), what, " ", i);
}

void check_same_state(const std::map<std::string, Tensor>& a,
                      const std::map<std::string, Tensor>& b) {
  REQUIRE(a.size() == b.size());
  for (const auto& [name, t] : a) {
    REQUIRE_MESSAGE(b.count(name), "missing ", name);
    CHECK_MESSAGE(bitwise_equal(t, b.at(name)), name);
  }
}

std::vector<Tensor> snapshot(const std::vector<Tensor>& ts) {
  std::vector<Tensor> out;
  for (const Tensor& t : ts) out.push_back(t.detach().clone());
  return out;
}

// Everything an optimizer holds, to show that a failed load changed nothing.
struct OptimizerSnapshot {
  std::string name;
  optim::Optimizer::Settings settings;
  std::map<std::string, Tensor> state;
  explicit OptimizerSnapshot(const optim::Optimizer& opt)
      : name(opt.name()), settings(opt.settings()), state(opt.state_dict_tensors()) {}
  void check_unchanged(const optim::Optimizer& opt) const {
    CHECK(opt.settings() == settings);
    check_same_state(opt.state_dict_tensors(), state);
  }
};

// Two parameters with gradients that change from step to step.
std::vector<Tensor> small_params() {
  return {from_vector(std::vector<float>{0.5f, -1.f, 2.f, 0.25f}, {2, 2}).requires_grad_(),
          from_vector(std::vector<float>{1.f, -3.f, 0.75f}, {3}).requires_grad_()};
}
void small_steps(optim::Optimizer& opt, int from, int to) {
  for (int s = from; s < to; ++s) {
    for (size_t k = 0; k < opt.params().size(); ++k) {
      Tensor p = opt.params()[k];
      std::vector<float> g(static_cast<size_t>(p.numel()));
      for (size_t i = 0; i < g.size(); ++i) g[i] = float(std::sin(0.7 * double(i + 3 * k) + s));
      p.set_grad(from_vector(g, p.shape()));
    }
    opt.step();
  }
}

// Through a file: save_optimizer, then load_optimizer into `to`.
void file_round_trip(const optim::Optimizer& from, optim::Optimizer& to) {
  TempDir dir;
  const std::string path = dir.file("opt.safetensors");
  save_optimizer(from, path);
  load_optimizer(to, path);
}

// ------------------------------------------------------------------ the resume harness
// Linear + ReLU + Dropout(0.3) + Linear on fixed random data: dropout draws from the
// default generator every step, so a resume is only bit-identical when its state comes back.
nn::Sequential make_net(int64_t hidden = 16) {
  return nn::Sequential(nn::Linear(6, hidden), nn::ReLU(), nn::Dropout(0.3), nn::Linear(hidden, 3));
}

struct Data {
  Tensor x, y;
  Data() {
    Generator gen(2024);
    x = randn({32, 6}, {}, &gen);
    y = randn({32, 3}, {}, &gen);
  }
};

void train(nn::Sequential& net, optim::Optimizer& opt, const Data& data, int steps) {
  net->train();
  for (int s = 0; s < steps; ++s) {
    opt.zero_grad();
    Tensor loss = F::mse_loss(net->forward(data.x), data.y);
    loss.backward();
    opt.step();
  }
}

using MakeOptimizer =
    std::function<std::unique_ptr<optim::Optimizer>(const std::vector<Tensor>& params)>;

// Run A trains 2n steps straight; run B trains n steps, checkpoints, and a fresh model and
// optimizer (other initial weights, other settings' state) resume from the file for n more.
void check_bit_identical_resume(const MakeOptimizer& make, const std::string& label) {
  INFO(label);
  constexpr int n = 6;
  const Data data;
  TempDir dir;
  const std::string path = dir.file("run.ckpt");

  manual_seed(1);
  nn::Sequential net_a = make_net();
  auto opt_a = make(net_a->parameters());
  manual_seed(77);  // the dropout stream
  train(net_a, *opt_a, data, 2 * n);

  manual_seed(1);
  nn::Sequential net_b = make_net();
  auto opt_b = make(net_b->parameters());
  manual_seed(77);
  train(net_b, *opt_b, data, n);
  TrainingState saved;
  saved.epoch = 1;
  saved.step = n;
  saved.rng = default_generator().state();
  saved.data_seed = 5;
  save_checkpoint(path, *net_b, *opt_b, saved);
  const std::vector<Tensor> weights_b = snapshot(net_b->parameters());
  net_b = nullptr;
  opt_b.reset();

  // the process "restarts": different seed, so different weights and dropout masks
  manual_seed(999);
  nn::Sequential net_c = make_net();
  auto opt_c = make(net_c->parameters());
  CHECK_FALSE(bitwise_equal(net_c->parameters()[0], weights_b[0]));
  (void)randn({100});  // move the default generator on
  const TrainingState loaded = load_checkpoint(path, *net_c, *opt_c);
  check_same_tensors(net_c->parameters(), weights_b, "weights after load");
  CHECK(loaded.epoch == 1);
  CHECK(loaded.step == n);
  default_generator().set_state(loaded.rng);
  train(net_c, *opt_c, data, n);

  check_same_tensors(net_c->parameters(), net_a->parameters(), "parameter");
  for (size_t i = 0; i < opt_a->params().size(); ++i)
    CHECK(opt_c->state(i).step == opt_a->state(i).step);
  check_same_state(opt_c->state_dict_tensors(), opt_a->state_dict_tensors());
  CHECK(opt_c->settings() == opt_a->settings());
}

// The draws full_state's generator has made: a host normal (one block), five float32 (two).
void advance(Generator& gen) {
  (void)gen.normal();
  (void)randn({5}, {}, &gen);
}

// A TrainingState with every field set, the generator part-way through its stream.
TrainingState full_state() {
  TrainingState st;
  st.epoch = 7;
  st.step = 123456789012;
  st.data_seed = UINT64_MAX;
  Generator gen(31337);
  advance(gen);
  st.rng = gen.state();
  REQUIRE(st.rng.offset == 3);
  st.extra = {{"best_accuracy", "0.9871"}, {"note", "lr warm-up done, \"quoted\" = ok"}, {"", ""}};
  return st;
}

void check_same_training_state(const TrainingState& a, const TrainingState& b) {
  CHECK(a.epoch == b.epoch);
  CHECK(a.step == b.step);
  CHECK(a.data_seed == b.data_seed);
  CHECK(a.rng.seed == b.rng.seed);
  CHECK(a.rng.offset == b.rng.offset);
  CHECK(a.extra == b.extra);
}

}  // namespace

TEST_SUITE("checkpoint") {
  // ------------------------------------------------------------------ optimizer settings
  TEST_CASE("settings() lists lr and every hyper-parameter") {
    const auto ps = small_params();
    optim::SGD sgd(ps, optim::SGDOptions(0.05).momentum(0.9).nesterov(true).weight_decay(1e-4));
    CHECK(sgd.settings() == optim::Optimizer::Settings{{"lr", 0.05},
                                                       {"momentum", 0.9},
                                                       {"dampening", 0.0},
                                                       {"weight_decay", 1e-4},
                                                       {"nesterov", 1.0}});
    optim::Adam adam(ps, optim::AdamOptions(3e-4).betas({0.8, 0.99}).eps(1e-6).amsgrad(true));
    CHECK(adam.settings() == optim::Optimizer::Settings{{"lr", 3e-4},
                                                        {"beta1", 0.8},
                                                        {"beta2", 0.99},
                                                        {"eps", 1e-6},
                                                        {"weight_decay", 0.0},
                                                        {"amsgrad", 1.0}});
    optim::AdamW adamw(ps);
    CHECK(adamw.settings() == optim::Optimizer::Settings{{"lr", 1e-3},
                                                         {"beta1", 0.9},
                                                         {"beta2", 0.999},
                                                         {"eps", 1e-8},
                                                         {"weight_decay", 1e-2},
                                                         {"amsgrad", 0.0}});
    adamw.set_lr(0.25);  // set_lr shows
    CHECK(adamw.settings().at("lr") == 0.25);
  }

  TEST_CASE("load_settings applies, and options() follows") {
    const auto ps = small_params();
    optim::SGD sgd(ps, optim::SGDOptions(0.1));
    sgd.load_settings({{"lr", 0.02},
                       {"momentum", 0.8},
                       {"dampening", 0.0},
                       {"weight_decay", 0.5},
                       {"nesterov", 1.0}});
    CHECK(sgd.lr() == 0.02);
    CHECK(sgd.options().lr() == 0.02);
    CHECK(sgd.options().momentum() == 0.8);
    CHECK(sgd.options().weight_decay() == 0.5);
    CHECK(sgd.options().nesterov());
    optim::AdamW adamw(ps);
    adamw.load_settings({{"lr", 0.5},
                         {"beta1", 0.5},
                         {"beta2", 0.75},
                         {"eps", 0.0},
                         {"weight_decay", 0.0},
                         {"amsgrad", 1.0}});
    const optim::AdamWOptions o = adamw.options();
    CHECK(o.lr() == 0.5);
    CHECK(std::get<0>(o.betas()) == 0.5);
    CHECK(std::get<1>(o.betas()) == 0.75);
    CHECK(o.eps() == 0.0);
    CHECK(o.weight_decay() == 0.0);
    CHECK(o.amsgrad());
    // amsgrad now keeps max_exp_avg_sq
    small_steps(adamw, 0, 1);
    CHECK(adamw.state_dict_tensors().count("0.max_exp_avg_sq") == 1);
  }

  TEST_CASE("load_settings refuses bad settings, naming the optimizer, and changes nothing") {
    const auto ps = small_params();
    optim::SGD sgd(ps, optim::SGDOptions(0.1).momentum(0.9));
    small_steps(sgd, 0, 2);
    const OptimizerSnapshot before(sgd);
    auto with = [&](const std::string& key, double value) {
      auto s = before.settings;
      s[key] = value;
      return s;
    };
    auto without = [&](const std::string& key) {
      auto s = before.settings;
      s.erase(key);
      return s;
    };
    const std::string sgd_keys = "(SGD has: dampening, lr, momentum, nesterov, weight_decay)";
    const std::string missing =
        "SGD: the settings do not match this optimizer; missing: 'momentum' " + sgd_keys;
    CHECK_THROWS_WITH_AS(sgd.load_settings(without("momentum")), Contains(missing.c_str()), Error);
    CHECK_THROWS_WITH_AS(
        sgd.load_settings(with("beta1", 0.9)),
        Contains("SGD: the settings do not match this optimizer; unknown: 'beta1'"), Error);
    CHECK_THROWS_WITH_AS(sgd.load_settings({}),
                         Contains("missing: 'dampening' 'lr' 'momentum' 'nesterov' 'weight_decay'"),
                         Error);
    CHECK_THROWS_WITH_AS(sgd.load_settings(with("lr", -1)),
                         Contains("SGD: invalid learning rate -1 (must be >= 0)"), Error);
    CHECK_THROWS_WITH_AS(sgd.load_settings(with("lr", std::nan(""))),
                         Contains("SGD: invalid learning rate nan"), Error);
    CHECK_THROWS_WITH_AS(sgd.load_settings(with("momentum", -0.5)),
                         Contains("SGD: invalid momentum -0.5"), Error);
    CHECK_THROWS_WITH_AS(sgd.load_settings(with("nesterov", 0.5)),
                         Contains("SGD: setting 'nesterov' must be 0 or 1, got 0.5"), Error);
    auto nesterov_damped = with("dampening", 0.1);
    nesterov_damped["nesterov"] = 1.0;
    CHECK_THROWS_WITH_AS(sgd.load_settings(nesterov_damped),
                         Contains("SGD: nesterov momentum requires"), Error);
    // momentum 0 would drop the momentum buffers the parameters hold
    CHECK_THROWS_WITH_AS(
        sgd.load_settings(with("momentum", 0.0)),
        Contains("SGD: these settings change the state a parameter keeps (momentum_buffer -> no "
                 "state) but parameter 0 has state"),
        Error);
    before.check_unchanged(sgd);

    optim::Adam adam(ps, optim::AdamOptions(0.1));
    CHECK_THROWS_WITH_AS(adam.load_settings([&] {
      auto s = adam.settings();
      s["beta1"] = 1.0;
      return s;
    }()),
                         Contains("Adam: invalid beta1 (betas[0]) 1 (must be in [0, 1))"), Error);
    CHECK_THROWS_WITH_AS(adam.load_settings([&] {
      auto s = adam.settings();
      s["amsgrad"] = 2.0;
      return s;
    }()),
                         Contains("Adam: setting 'amsgrad' must be 0 or 1, got 2"), Error);
    // without state, amsgrad may change
    auto s = adam.settings();
    s["amsgrad"] = 1.0;
    adam.load_settings(s);
    CHECK(adam.options().amsgrad());
    small_steps(adam, 0, 1);
    s["amsgrad"] = 0.0;
    CHECK_THROWS_WITH_AS(adam.load_settings(s),
                         Contains("Adam: these settings change the state a parameter keeps (step, "
                                  "exp_avg, exp_avg_sq, max_exp_avg_sq -> step, exp_avg, "
                                  "exp_avg_sq)"),
                         Error);
    CHECK(adam.options().amsgrad());
  }

  TEST_CASE("optimizer state round trip: settings and state, in memory and through files") {
    struct Case {
      std::string label;
      std::function<std::unique_ptr<optim::Optimizer>(const std::vector<Tensor>&)> saved, other;
    };
    const std::vector<Case> cases = {
        {"SGD nesterov + weight decay",
         [](const std::vector<Tensor>& ps) {
           return std::make_unique<optim::SGD>(
               ps, optim::SGDOptions(1.0 / 3.0).momentum(0.9).nesterov(true).weight_decay(1e-4));
         },
         [](const std::vector<Tensor>& ps) {
           return std::make_unique<optim::SGD>(ps, optim::SGDOptions(0.5));  // no momentum
         }},
        {"Adam amsgrad",
         [](const std::vector<Tensor>& ps) {
           return std::make_unique<optim::Adam>(ps, optim::AdamOptions(0.1 + 0.2)
                                                        .betas({0.85, 0.995})
                                                        .eps(1e-7)
                                                        .weight_decay(0.01)
                                                        .amsgrad(true));
         },
         [](const std::vector<Tensor>& ps) { return std::make_unique<optim::Adam>(ps); }},
        {"AdamW",
         [](const std::vector<Tensor>& ps) {
           return std::make_unique<optim::AdamW>(
               ps, optim::AdamWOptions(2e-3).betas({0.7, 0.9}).weight_decay(0.3));
         },
         [](const std::vector<Tensor>& ps) {
           return std::make_unique<optim::AdamW>(ps, optim::AdamWOptions().amsgrad(true));
         }},
    };
    for (const Case& c : cases) {
      for (int via_file = 0; via_file < 2; ++via_file) {
        INFO(c.label, via_file ? " through a file" : " in memory");
        const auto ps_a = small_params();
        auto a = c.saved(ps_a);
        small_steps(*a, 0, 3);

        Metadata meta;
        const TensorMap tensors = optimizer_state_tensors(*a, &meta);
        CHECK(meta.at("optimizer.type") == a->name());
        CHECK(meta.at("optimizer.num_params") == "2");
        CHECK(meta.size() == a->settings().size() + 2);
        CHECK(tensors.size() == a->state_dict_tensors().size());

        const auto ps_b = small_params();
        auto b = c.other(ps_b);
        small_steps(*b, 0, 1);  // state of another shape of settings, replaced wholesale
        for (size_t k = 0; k < ps_b.size(); ++k) Tensor(ps_b[k]).detach().copy_(ps_a[k]);
        if (via_file)
          file_round_trip(*a, *b);
        else
          load_optimizer_state(*b, tensors, meta);
        CHECK(b->settings() == a->settings());  // exact, though 1/3 and 0.1 + 0.2 went as text
        check_same_state(b->state_dict_tensors(), a->state_dict_tensors());
        small_steps(*a, 3, 6);
        small_steps(*b, 3, 6);
        check_same_tensors(ps_b, ps_a, "parameter");
      }
    }
    // the text is exact and short where it can be
    const auto ps = small_params();
    Metadata meta;
    optim::SGD sgd(ps, optim::SGDOptions(0.1).momentum(1.0 / 3.0));
    (void)optimizer_state_tensors(sgd, &meta);
    CHECK(meta.at("optimizer.lr") == "0.1");
    CHECK(meta.at("optimizer.momentum") == "0.3333333333333333");
    CHECK(meta.at("optimizer.nesterov") == "0");
  }

  TEST_CASE("load_optimizer_state: wrong type, parameter count or settings is an error") {
    const auto ps = small_params();
    optim::Adam adam(ps, optim::AdamOptions(0.1));
    small_steps(adam, 0, 2);
    Metadata adam_meta;
    const TensorMap adam_tensors = optimizer_state_tensors(adam, &adam_meta);

    optim::SGD sgd(ps, optim::SGDOptions(0.1).momentum(0.5));
    small_steps(sgd, 0, 1);
    const OptimizerSnapshot sgd_before(sgd);
    CHECK_THROWS_WITH_AS(
        load_optimizer_state(sgd, adam_tensors, adam_meta),
        Contains("load_optimizer_state: the checkpoint holds Adam state, the optimizer is SGD"),
        Error);
    optim::AdamW adamw(ps);
    CHECK_THROWS_WITH_AS(load_optimizer_state(adamw, adam_tensors, adam_meta),
                         Contains("the checkpoint holds Adam state, the optimizer is AdamW"),
                         Error);
    sgd_before.check_unchanged(sgd);

    optim::Adam three({ps[0], ps[1], zeros({4}).requires_grad_()});
    small_steps(three, 0, 1);
    const OptimizerSnapshot three_before(three);
    CHECK_THROWS_WITH_AS(load_optimizer_state(three, adam_tensors, adam_meta),
                         Contains("load_optimizer_state: the checkpoint holds Adam state for 2 "
                                  "parameters, the optimizer has 3"),
                         Error);
    three_before.check_unchanged(three);

    optim::Adam other(ps, optim::AdamOptions(0.5));
    const OptimizerSnapshot other_before(other);
    auto meta_with = [&](const std::string& key, const std::string& value) {
      Metadata m = adam_meta;
      m[key] = value;
      return m;
    };
    auto meta_without = [&](const std::string& key) {
      Metadata m = adam_meta;
      m.erase(key);
      return m;
    };
    CHECK_THROWS_WITH_AS(
        load_optimizer_state(other, adam_tensors, meta_with("optimizer.lr", "0.1x")),
        Contains("load_optimizer_state: metadata 'optimizer.lr' must be a finite number, got "
                 "'0.1x'"),
        Error);
    // inf and nan read back exactly, but no setting means anything as one: refused too
    for (const char* bad : {"", " 0.1", "0.1 ", "0,1", "1e", "--1", "inf", "-inf", "nan"})
      CHECK_THROWS_WITH_AS(
          load_optimizer_state(other, adam_tensors, meta_with("optimizer.eps", bad)),
          Contains("metadata 'optimizer.eps' must be a finite number, got '"), Error);
    CHECK_THROWS_WITH_AS(
        load_optimizer_state(other, adam_tensors, meta_with("optimizer.momentum", "0.9")),
        Contains("Adam: the settings do not match this optimizer; unknown: 'momentum'"), Error);
    CHECK_THROWS_WITH_AS(
        load_optimizer_state(other, adam_tensors, meta_without("optimizer.beta2")),
        Contains("Adam: the settings do not match this optimizer; missing: 'beta2'"), Error);
    CHECK_THROWS_WITH_AS(
        load_optimizer_state(other, adam_tensors, meta_with("optimizer.beta2", "1")),
        Contains("Adam: invalid beta2 (betas[1]) 1"), Error);
    CHECK_THROWS_WITH_AS(
        load_optimizer_state(other, adam_tensors, meta_with("optimizer.amsgrad", "1")),
        Contains("Adam: the state of parameter 0 lacks '0.max_exp_avg_sq'"), Error);
    CHECK_THROWS_WITH_AS(
        load_optimizer_state(other, adam_tensors, meta_with("optimizer.num_params", "2.0")),
        Contains("metadata 'optimizer.num_params' must be a decimal integer from 0 to "
                 "18446744073709551615, got '2.0'"),
        Error);
    CHECK_THROWS_WITH_AS(
        load_optimizer_state(other, adam_tensors, meta_without("optimizer.type")),
        Contains("the metadata lacks 'optimizer.type'; this is not optimizer state"), Error);
    CHECK_THROWS_WITH_AS(load_optimizer_state(other, {}, {}),
                         Contains("the metadata lacks 'optimizer.type'"), Error);
    TensorMap bad_tensors = adam_tensors;
    bad_tensors["1.exp_avg"] = zeros({4});
    CHECK_THROWS_WITH_AS(
        load_optimizer_state(other, bad_tensors, adam_meta),
        Contains("Adam: state entry '1.exp_avg' has shape [4] but parameter 1 has shape [3]"),
        Error);
    other_before.check_unchanged(other);
    // the good one loads
    load_optimizer_state(other, adam_tensors, adam_meta);
    CHECK(other.lr() == 0.1);

    // a file that is no optimizer state
    TempDir dir;
    save_safetensors(dir.file("w.safetensors"), {{"w", zeros({2})}});
    const std::string no_type =
        "load_optimizer(" + dir.file("w.safetensors") + "): the metadata lacks 'optimizer.type'";
    CHECK_THROWS_WITH_AS(load_optimizer(other, dir.file("w.safetensors")),
                         Contains(no_type.c_str()), Error);
  }

  TEST_CASE("commit_state takes only state this optimizer prepared, once") {
    const auto ps = small_params();
    optim::SGD a(ps, optim::SGDOptions(0.1)), b(ps, optim::SGDOptions(0.1));
    auto pending = a.prepare_state(a.settings(), {});
    CHECK_THROWS_WITH_AS(
        b.commit_state(std::move(pending)),
        Contains("SGD: commit_state got state that this optimizer did not prepare"), Error);
    pending = a.prepare_state(a.settings(), {});
    a.commit_state(std::move(pending));
    CHECK_THROWS_WITH_AS(a.commit_state(std::move(pending)), Contains("already committed"), Error);
    CHECK_THROWS_WITH_AS(a.commit_state({}), Contains("did not prepare"), Error);
  }

  // ------------------------------------------------------------------ resume
  TEST_CASE("resuming from a checkpoint is bit-identical: Adam, dropout on") {
    check_bit_identical_resume(
        [](const std::vector<Tensor>& ps) {
          return std::make_unique<optim::Adam>(ps, optim::AdamOptions(0.01).amsgrad(true));
        },
        "Adam");
    check_bit_identical_resume(
        [](const std::vector<Tensor>& ps) {
          return std::make_unique<optim::AdamW>(ps, optim::AdamWOptions(0.01));
        },
        "AdamW");
  }

  TEST_CASE("resuming from a checkpoint is bit-identical: SGD with momentum, dropout on") {
    check_bit_identical_resume(
        [](const std::vector<Tensor>& ps) {
          return std::make_unique<optim::SGD>(
              ps, optim::SGDOptions(0.05).momentum(0.9).weight_decay(1e-3));
        },
        "SGD");
    check_bit_identical_resume(
        [](const std::vector<Tensor>& ps) {
          return std::make_unique<optim::SGD>(ps,
                                              optim::SGDOptions(0.05).momentum(0.9).nesterov(true));
        },
        "SGD nesterov");
  }

  TEST_CASE("without the generator state, a resume with dropout diverges") {
    // the check above is not vacuous: dropout masks do depend on the restored state
    const Data data;
    TempDir dir;
    manual_seed(1);
    nn::Sequential a = make_net();
    optim::SGD opt_a(a->parameters(), optim::SGDOptions(0.05));
    manual_seed(77);
    train(a, opt_a, data, 2);
    save_checkpoint(dir.file("c"), *a, opt_a, {});
    const Generator::State rng = default_generator().state();
    train(a, opt_a, data, 2);

    nn::Sequential b = make_net();
    optim::SGD opt_b(b->parameters(), optim::SGDOptions(0.05));
    (void)load_checkpoint(dir.file("c"), *b, opt_b);
    default_generator().set_state(rng);
    (void)randn({3});  // a different stream
    train(b, opt_b, data, 2);
    CHECK_FALSE(bitwise_equal(b->parameters()[0], a->parameters()[0]));
  }

  // ------------------------------------------------------------------ errors change nothing
  TEST_CASE("a checkpoint of another architecture: one error listing the mismatch, no change") {
    TempDir dir;
    const std::string path = dir.file("run.ckpt");
    manual_seed(3);
    nn::Sequential saved = make_net(16);
    optim::Adam opt_saved(saved->parameters(), optim::AdamOptions(0.01));
    train(saved, opt_saved, Data(), 2);
    save_checkpoint(path, *saved, opt_saved, {});

    // hidden width 8, and the second Linear at index 2
    nn::Sequential other(nn::Linear(6, 8), nn::ReLU(), nn::Linear(8, 3));
    optim::Adam opt_other(other->parameters(), optim::AdamOptions(0.5).amsgrad(true));
    train(other, opt_other, Data(), 1);
    const std::vector<Tensor> weights = snapshot(other->parameters());
    const OptimizerSnapshot opt_before(opt_other);

    std::string message;
    try {
      (void)load_checkpoint(path, *other, opt_other);
    } catch (const Error& e) {
      message = e.what();
    }
    INFO(message);
    const std::string want =
        "load_checkpoint(" + path +
        "): the checkpoint does not match Sequential (2 missing, 2 unexpected, 2 mismatched); "
        "nothing was loaded:\n"
        "  missing: '2.weight', '2.bias'\n"
        "  unexpected: '3.bias', '3.weight'\n"
        "  mismatched: 0.weight: shape [8,6] in the model, [16,6] in the checkpoint\n"
        "  mismatched: 0.bias: shape [8] in the model, [16] in the checkpoint\n"
        // the optimizer's part does not fit either (same count, other shapes): reported too
        "  optimizer: Adam: state entry '0.exp_avg' has shape [16,6] but parameter 0 has shape "
        "[8,6]";
    CHECK(message == want);
    check_same_tensors(other->parameters(), weights, "weights");
    opt_before.check_unchanged(opt_other);

    // the right architecture with the wrong optimizer: the model is not touched either
    nn::Sequential same = make_net(16);
    optim::SGD sgd(same->parameters(), optim::SGDOptions(0.1));
    const std::vector<Tensor> same_weights = snapshot(same->parameters());
    const std::string wrong_type =
        "load_checkpoint(" + path + "): the checkpoint holds Adam state, the optimizer is SGD";
    CHECK_THROWS_WITH_AS(load_checkpoint(path, *same, sgd), Contains(wrong_type.c_str()), Error);
    check_same_tensors(same->parameters(), same_weights, "weights");
    CHECK(!sgd.state(0).initialized());
    CHECK(sgd.lr() == 0.1);

    // the right architecture in float64: a dtype difference is a mismatch, not a conversion
    nn::Sequential wide = make_net(16);
    wide->to(kFloat64);
    optim::Adam opt_wide(wide->parameters());
    const std::vector<Tensor> wide_weights = snapshot(wide->parameters());
    const std::string dtype_error =
        "(4 mismatched); nothing was loaded:\n"
        "  mismatched: 0.weight: float64 in the model, float32 in the checkpoint\n";
    CHECK_THROWS_WITH_AS(load_checkpoint(path, *wide, opt_wide), Contains(dtype_error.c_str()),
                         Error);
    check_same_tensors(wide->parameters(), wide_weights, "weights");
    CHECK(!opt_wide.state(0).initialized());
  }

  TEST_CASE("load_checkpoint refuses files that are not checkpoints and malformed metadata") {
    TempDir dir;
    const std::string path = dir.file("run.ckpt");
    manual_seed(4);
    nn::Sequential net = make_net();
    optim::SGD opt(net->parameters(), optim::SGDOptions(0.1).momentum(0.9));
    train(net, opt, Data(), 1);
    save_checkpoint(path, *net, opt, full_state());
    Metadata meta;
    const TensorMap tensors = load_safetensors(path, &meta);

    nn::Sequential target = make_net();
    optim::SGD target_opt(target->parameters(), optim::SGDOptions(0.3).momentum(0.5));
    train(target, target_opt, Data(), 1);
    const std::vector<Tensor> weights = snapshot(target->parameters());
    const OptimizerSnapshot opt_before(target_opt);

    // a plain weights file
    TensorMap weights_only;
    for (const auto& [name, t] : net->state_dict()) weights_only[name] = t;
    save_safetensors(dir.file("weights.safetensors"), weights_only);
    const std::string plain = "load_checkpoint(" + dir.file("weights.safetensors") +
                              "): not a training checkpoint (no glassbox.checkpoint key); for "
                              "weights use nn::load";
    CHECK_THROWS_WITH_AS(load_checkpoint(dir.file("weights.safetensors"), *target, target_opt),
                         Contains(plain.c_str()), Error);

    auto load_with = [&](const std::function<void(Metadata&, TensorMap&)>& edit) {
      Metadata m = meta;
      TensorMap t = tensors;
      edit(m, t);
      const std::string p = dir.file("edited.ckpt");
      save_safetensors(p, t, m);
      (void)load_checkpoint(p, *target, target_opt);
    };
    auto set = [&](const std::string& key, const std::string& value) {
      return [key, value](Metadata& m, TensorMap&) { m[key] = value; };
    };
    auto erase = [&](const std::string& key) {
      return [key](Metadata& m, TensorMap&) { m.erase(key); };
    };
    CHECK_THROWS_WITH_AS(load_with(set("glassbox.checkpoint", "2")),
                         Contains("checkpoint format version '2' is not supported"), Error);
    // the counters: [0, 2^53], one spelling per value; a caller adds to them without overflow
    const std::string counter =
        "): metadata 'epoch' must be a decimal integer from 0 to "
        "9007199254740992 (2^53), got '";
    for (const char* bad : {"12a", "-5", "9223372036854775807", "9007199254740993",
                            "18446744073709551616", "99999999999999999999999"}) {
      CAPTURE(bad);
      CHECK_THROWS_WITH_AS(
          load_with(set("epoch", bad)),
          Contains(("load_checkpoint(" + dir.file("edited.ckpt") + counter + bad + "'").c_str()),
          Error);
    }
    for (const char* bad : {"", "+5", "007", "-0", " 1", "1 ", "0x10", "abc", "-5",
                            "9223372036854775807", "9223372036854775808"})
      CHECK_THROWS_WITH_AS(load_with(set("step", bad)),
                           Contains(str("metadata 'step' must be a decimal integer from 0 to "
                                        "9007199254740992 (2^53), got '",
                                        bad, "'")
                                        .c_str()),
                           Error);
    const std::string any64 = " must be a decimal integer from 0 to 18446744073709551615, got '";
    CHECK_THROWS_WITH_AS(
        load_with(set("data_seed", "18446744073709551616")),
        Contains(("metadata 'data_seed'" + any64 + "18446744073709551616'").c_str()), Error);
    CHECK_THROWS_WITH_AS(load_with(set("data_seed", "-1")),
                         Contains(("metadata 'data_seed'" + any64 + "-1'").c_str()), Error);
    for (const char* bad : {"", "+5", "007", "-1", "0x10", "1.5"})
      CHECK_THROWS_WITH_AS(load_with(set("rng.offset", bad)),
                           Contains(("metadata 'rng.offset'" + any64 + bad + "'").c_str()), Error);
    // an untrusted value is quoted cut short, control characters escaped
    CHECK_THROWS_WITH_AS(
        load_with(set("epoch", std::string(5000, '7') + "\n")),
        Contains(("9007199254740992 (2^53), got '" + std::string(100, '7') + "...'").c_str()),
        Error);
    CHECK_THROWS_WITH_AS(load_with(set("glassbox.checkpoint", "v\n2")),
                         Contains("checkpoint format version 'v\\x0a2' is not supported"), Error);
    CHECK_THROWS_WITH_AS(load_with(erase("rng.offset")),
                         Contains("the metadata lacks 'rng.offset'"), Error);
    // a checkpoint of the xoshiro256** generator earlier builds used: refused, naming the file
    const std::string predates =
        str("load_checkpoint(", dir.file("edited.ckpt"),
            "): this checkpoint predates the counter-based (Philox) generator");
    CHECK_THROWS_WITH_AS(load_with([](Metadata& m, TensorMap&) {
                           m.erase("rng.offset");
                           for (int i = 0; i < 4; ++i) m[str("rng.s", i)] = "0x1";
                           m["rng.has_spare"] = "0";
                           m["rng.spare"] = "0x0";
                         }),
                         Contains(predates.c_str()), Error);
    CHECK_THROWS_WITH_AS(load_with(set("rng.s0", "0x1")), Contains(predates.c_str()), Error);
    CHECK_THROWS_WITH_AS(load_with(erase("epoch")), Contains("the metadata lacks 'epoch'"), Error);
    CHECK_THROWS_WITH_AS(load_with(set("rng.s4", "0x1")), Contains("unknown metadata key 'rng.s4'"),
                         Error);
    CHECK_THROWS_WITH_AS(load_with(set("optimizer.momentum", "0.9.")),
                         Contains("metadata 'optimizer.momentum' must be a finite number, got "
                                  "'0.9.'"),
                         Error);
    CHECK_THROWS_WITH_AS(load_with([](Metadata&, TensorMap& t) { t["stray"] = zeros({1}); }),
                         Contains("unexpected tensor 'stray' (a checkpoint holds model.<name> and "
                                  "optimizer.<index>.<key> tensors)"),
                         Error);
    CHECK_THROWS_WITH_AS(
        load_with([](Metadata&, TensorMap& t) { t["optimizer.0.momentum_buffer"] = zeros({2}); }),
        Contains("SGD: state entry '0.momentum_buffer' has shape [2] but parameter 0 has shape "
                 "[16,6]"),
        Error);
    CHECK_THROWS_WITH_AS(load_with([](Metadata&, TensorMap& t) { t.erase("model.3.bias"); }),
                         Contains("the checkpoint does not match Sequential (1 missing); nothing "
                                  "was loaded:\n  missing: '3.bias'"),
                         Error);
    check_same_tensors(target->parameters(), weights, "weights");
    opt_before.check_unchanged(target_opt);

    // unknown top-level keys (another tool's) are ignored; the unedited file loads
    load_with(set("written_by", "someone else"));
    check_same_tensors(target->parameters(), net->parameters(), "weights");
    CHECK(target_opt.settings() == opt.settings());
  }

  TEST_CASE("a checkpoint edited by hand is refused by its header checksum; nothing changes") {
    // The metadata (epoch, step, settings) sits in the header, outside the data's CRC: the
    // header's own CRC catches an edit that keeps the file well-formed.
    TempDir dir;
    const std::string path = dir.file("run.ckpt");
    manual_seed(6);
    nn::Sequential net = make_net();
    optim::SGD opt(net->parameters(), optim::SGDOptions(0.1).momentum(0.9));
    train(net, opt, Data(), 1);
    save_checkpoint(path, *net, opt, full_state());
    const Bytes good = read_bytes(path);
    nn::Sequential target = make_net();
    optim::SGD target_opt(target->parameters(), optim::SGDOptions(0.3).momentum(0.5));
    const std::vector<Tensor> weights = snapshot(target->parameters());
    const OptimizerSnapshot opt_before(target_opt);
    for (const auto& [from, to] : std::vector<std::pair<std::string, std::string>>{
             {"\"epoch\":\"7\"", "\"epoch\":\"8\""},
             {"\"optimizer.lr\":\"0.1\"", "\"optimizer.lr\":\"0.9\""},
             {"\"extra.best_accuracy\":\"0.9871\"", "\"extra.best_accuracy\":\"0.9999\""}}) {
      CAPTURE(from);
      Bytes bad = good;
      const auto at = std::search(bad.begin(), bad.end(), from.begin(), from.end());
      REQUIRE(at != bad.end());
      std::copy(to.begin(), to.end(), at);  // same length: the file stays well-formed
      write_bytes(path, bad);
      CHECK_THROWS_WITH_AS(
          load_checkpoint(path, *target, target_opt),
          Contains(("load_safetensors(" + path + "): the header was changed after it was written")
                       .c_str()),
          Error);
      check_same_tensors(target->parameters(), weights, "weights");
      opt_before.check_unchanged(target_opt);
    }
    write_bytes(path, good);
    CHECK(load_checkpoint(path, *target, target_opt).epoch == 7);
  }

  // ------------------------------------------------------------------ the training state
  TEST_CASE("TrainingState round trip: counters, generator state, extra entries") {
    TempDir dir;
    const std::string path = dir.file("state.ckpt");
    manual_seed(5);
    nn::Sequential net = make_net();
    optim::AdamW opt(net->parameters());
    const TrainingState st = full_state();
    save_checkpoint(path, *net, opt, st);
    Metadata meta;
    (void)load_safetensors(path, &meta);
    CHECK(meta.at("glassbox.checkpoint") == "1");
    CHECK(meta.at("epoch") == "7");
    CHECK(meta.at("data_seed") == "18446744073709551615");
    CHECK(meta.at("rng.seed") == "31337");
    CHECK(meta.at("rng.offset") == "3");
    CHECK(meta.at("extra.note") == st.extra.at("note"));
    check_same_training_state(load_checkpoint(path, *net, opt), st);

    // the restored generator continues the stream exactly
    Generator original(31337);
    advance(original);
    Generator restored(1);
    restored.set_state(load_checkpoint(path, *net, opt).rng);
    for (int i = 0; i < 5; ++i) {
      const double x = original.normal(), y = restored.normal();
      CHECK(std::memcmp(&x, &y, sizeof x) == 0);
    }

    // extreme values, no extra: the counters' limit is 2^53, the generator's 2^64 - 1
    TrainingState odd;
    odd.epoch = int64_t{1} << 53;
    odd.step = int64_t{1} << 53;
    odd.rng = {UINT64_MAX, UINT64_MAX};
    save_checkpoint(path, *net, opt, odd);
    const TrainingState back = load_checkpoint(path, *net, opt);
    check_same_training_state(back, odd);
    CHECK(back.extra.empty());
    // counters outside [0, 2^53] are written as they are, and refused on load, naming the
    // file, the key and the range (INT64_MAX + 1 would overflow in the caller)
    for (const auto& [epoch, step] : std::vector<std::pair<int64_t, int64_t>>{
             {-1, 0}, {0, -1}, {INT64_MIN, 0}, {INT64_MAX, 0}, {0, (int64_t{1} << 53) + 1}}) {
      TrainingState bad;
      bad.epoch = epoch;
      bad.step = step;
      save_checkpoint(path, *net, opt, bad);
      const bool epoch_bad = epoch < 0 || epoch > (int64_t{1} << 53);
      CHECK_THROWS_WITH_AS(
          load_checkpoint(path, *net, opt),
          Contains(str("load_checkpoint(", path, "): metadata '", epoch_bad ? "epoch" : "step",
                       "' must be a decimal integer from 0 to 9007199254740992 (2^53), got '",
                       epoch_bad ? epoch : step, "'")
                       .c_str()),
          Error);
    }
    // a state saved with the default generator's state
    manual_seed(8);
    (void)randn({3});  // the default generator has moved on by a block
    TrainingState from_default;
    from_default.rng = default_generator().state();
    save_checkpoint(path, *net, opt, from_default);
    check_same_training_state(load_checkpoint(path, *net, opt), from_default);
  }
}
