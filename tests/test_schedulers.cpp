// Learning-rate schedulers: every scheduler against PyTorch 1.13's lr sequences
// (tests/fixtures/sched.safetensors, made by tests/fixtures/make_sched_fixtures.py: two
// parameter groups with their own base lrs), option errors, and scheduler state through
// checkpoints: a stopped and resumed run follows the unbroken run's lrs exactly.
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "glassbox.h"
#include "temp_dir.h"

using namespace glassbox;
using doctest::Contains;

namespace {

using VD = std::vector<double>;
const VD kBaseLrs = {0.1, 0.02};  // the fixture's groups

// SGD over two groups with lrs 0.1 and 0.02, as the fixture's optimizer().
std::unique_ptr<optim::SGD> two_groups() {
  using optim::ParamGroup, optim::SGDOptions;
  return std::make_unique<optim::SGD>(
      std::vector<ParamGroup>{
          ParamGroup({zeros({2}, dtype(kFloat64)).requires_grad_()}),
          ParamGroup({zeros({2}, dtype(kFloat64)).requires_grad_()}, SGDOptions(kBaseLrs[1]))},
      SGDOptions(kBaseLrs[0]));
}

using Make = std::function<std::unique_ptr<optim::SchedulerBase>(optim::Optimizer&)>;

// The fixture's cases, with the options make_sched_fixtures.py gives them.
std::vector<std::pair<std::string, Make>> epoch_cases() {
  using namespace optim;
  std::vector<std::pair<std::string, Make>> c;
  c.push_back({"steplr", [](Optimizer& o) { return std::make_unique<StepLR>(o, 3, 0.5); }});
  c.push_back({"multistep", [](Optimizer& o) {
                 return std::make_unique<MultiStepLR>(o, std::vector<int64_t>{2, 5, 5, 9}, 0.3);
               }});
  c.push_back(
      {"exponential", [](Optimizer& o) { return std::make_unique<ExponentialLR>(o, 0.8); }});
  c.push_back(
      {"cosine", [](Optimizer& o) { return std::make_unique<CosineAnnealingLR>(o, 5, 0.001); }});
  c.push_back(
      {"lambda", [](Optimizer& o) {
         return std::make_unique<LambdaLR>(
             o, std::vector<LambdaLR::Lambda>{[](int64_t e) { return std::pow(0.9, double(e)); },
                                              [](int64_t e) { return 1.0 / double(1 + e); }});
       }});
  c.push_back({"linear", [](Optimizer& o) { return std::make_unique<LinearLR>(o, 0.25, 1.0, 4); }});
  c.push_back(
      {"linear_decay", [](Optimizer& o) { return std::make_unique<LinearLR>(o, 1.0, 0.1, 5); }});
  c.push_back(
      {"onecycle_cos", [](Optimizer& o) {
         return std::make_unique<OneCycleLR>(o, VD{1.0, 0.5}, OneCycleLROptions().total_steps(20));
       }});
  c.push_back({"onecycle_linear3", [](Optimizer& o) {
                 return std::make_unique<OneCycleLR>(o, 0.8,
                                                     OneCycleLROptions()
                                                         .epochs(4)
                                                         .steps_per_epoch(5)
                                                         .pct_start(0.25)
                                                         .anneal_strategy("linear")
                                                         .div_factor(10.0)
                                                         .final_div_factor(100.0)
                                                         .three_phase(true));
               }});
  c.push_back({"sequential", [](Optimizer& o) {
                 auto warm = std::make_shared<LinearLR>(o, 0.1, 1.0, 3);
                 auto cosine = std::make_shared<CosineAnnealingLR>(o, 6);
                 return std::make_unique<SequentialLR>(
                     o, std::vector<std::shared_ptr<LRScheduler>>{warm, cosine},
                     std::vector<int64_t>{3});
               }});
  c.push_back({"sequential3", [](Optimizer& o) {
                 auto a = std::make_shared<ExponentialLR>(o, 0.9);
                 auto b = std::make_shared<StepLR>(o, 2, 0.5);
                 auto l = std::make_shared<LinearLR>(o, 0.5, 1.0, 2);
                 return std::make_unique<SequentialLR>(
                     o, std::vector<std::shared_ptr<LRScheduler>>{a, b, l},
                     std::vector<int64_t>{2, 5});
               }});
  return c;
}

std::vector<std::pair<std::string, Make>> plateau_cases() {
  using namespace optim;
  std::vector<std::pair<std::string, Make>> c;
  c.push_back({"plateau_min", [](Optimizer& o) {
                 return std::make_unique<ReduceLROnPlateau>(o, ReduceLROnPlateauOptions()
                                                                   .mode("min")
                                                                   .factor(0.5)
                                                                   .patience(2)
                                                                   .threshold(0.01)
                                                                   .cooldown(1)
                                                                   .min_lrs({0.01, 0.001}));
               }});
  c.push_back({"plateau_max_abs", [](Optimizer& o) {
                 return std::make_unique<ReduceLROnPlateau>(o, ReduceLROnPlateauOptions()
                                                                   .mode("max")
                                                                   .factor(0.3)
                                                                   .patience(1)
                                                                   .threshold(0.1)
                                                                   .threshold_mode("abs"));
               }});
  return c;
}

// One epoch of the fixture's loop: the lrs in effect, then scheduler.step (with the
// epoch's metric for ReduceLROnPlateau).
VD lrs_of(const optim::Optimizer& o) {
  VD out;
  for (size_t g = 0; g < o.num_param_groups(); ++g) out.push_back(o.lr(g));
  return out;
}
void advance(optim::SchedulerBase& s, double metric) {
  if (auto* plateau = dynamic_cast<optim::ReduceLROnPlateau*>(&s))
    plateau->step(metric);
  else
    dynamic_cast<optim::LRScheduler&>(s).step();
}

TensorMap fixture() {
  return load_safetensors(std::string(GLASSBOX_SOURCE_DIR) + "/tests/fixtures/sched.safetensors");
}

bool close(double got, double want) {
  return std::fabs(got - want) <= 1e-12 * std::fabs(want) + 1e-15;
}

// Run the case against the fixture's [epochs, 2] lrs.
void check_case(const TensorMap& m, const std::string& name, const Make& make) {
  INFO(name);
  const Tensor& want_t = m.at(name + ".lr");
  const VD want = want_t.to_vector<double>();
  const int64_t epochs = want_t.size(0);
  VD metric(size_t(epochs), 0.0);
  if (m.count(name + ".metric")) metric = m.at(name + ".metric").to_vector<double>();
  auto opt = two_groups();
  auto sched = make(*opt);
  CHECK(sched->get_last_lr() == lrs_of(*opt));
  for (int64_t e = 0; e < epochs; ++e) {
    const VD got = lrs_of(*opt);
    for (size_t g = 0; g < 2; ++g) {
      INFO("epoch ", e, " group ", g, ": got ", got[g], ", PyTorch ", want[size_t(e) * 2 + g]);
      CHECK(close(got[g], want[size_t(e) * 2 + g]));
    }
    advance(*sched, metric[size_t(e)]);
    CHECK(sched->get_last_lr() == lrs_of(*opt));
  }
}

}  // namespace

TEST_SUITE("schedulers") {
  TEST_CASE("every scheduler follows PyTorch's lr sequences, per parameter group") {
    const TensorMap m = fixture();
    for (const auto& [name, make] : epoch_cases()) check_case(m, name, make);
    for (const auto& [name, make] : plateau_cases()) check_case(m, name, make);
  }

  TEST_CASE("base lrs: one per group, the initial lrs, kept across a chain") {
    auto opt = two_groups();
    optim::LinearLR warm(*opt, 0.5, 1.0, 2);
    CHECK(warm.base_lrs() == kBaseLrs);
    CHECK(opt->lr(0) == 0.05);  // the epoch-0 factor applies at construction, as PyTorch
    CHECK(warm.last_epoch() == 0);
    // a second scheduler starts from the initial lrs, not from the lrs LinearLR set
    optim::CosineAnnealingLR cosine(*opt, 4);
    CHECK(cosine.base_lrs() == kBaseLrs);
    CHECK(opt->lr(0) == 0.05);  // epoch 0 keeps the lr in effect
    // OneCycleLR sets its own initial lrs
    optim::OneCycleLR one(*opt, 1.0, optim::OneCycleLROptions().total_steps(4));
    CHECK(one.base_lrs() == VD{0.04, 0.04});
    CHECK(*opt->initial_lr(1) == 0.04);
    for (int i = 0; i < 4; ++i) one.step();
    CHECK_THROWS_WITH_AS(one.step(),
                         Contains("OneCycleLR: tried to step 6 times; total_steps is 4"), Error);
    // groups added after the scheduler was built are refused, not silently unscheduled
    opt->add_param_group(optim::ParamGroup({zeros({1}).requires_grad_()}));
    CHECK_THROWS_WITH_AS(cosine.step(),
                         Contains("CosineAnnealingLR: the optimizer has 3 parameter groups but "
                                  "the scheduler was built for 2"),
                         Error);
  }

  TEST_CASE("option errors name the scheduler and the value") {
    auto opt = two_groups();
    using namespace optim;
    CHECK_THROWS_WITH_AS(MultiStepLR(*opt, {3, -1}),
                         Contains("MultiStepLR: milestones must be >= 0, got -1"), Error);
    CHECK_THROWS_WITH_AS(ExponentialLR(*opt, -0.5),
                         Contains("ExponentialLR: gamma must be finite and >= 0, got -0.5"), Error);
    CHECK_THROWS_WITH_AS(LinearLR(*opt, 0.0), Contains("LinearLR: start_factor must be in (0, 1]"),
                         Error);
    CHECK_THROWS_WITH_AS(LinearLR(*opt, 0.5, 1.5),
                         Contains("LinearLR: end_factor must be in [0, 1], got 1.5"), Error);
    CHECK_THROWS_WITH_AS(LinearLR(*opt, 0.5, 1.0, 0),
                         Contains("LinearLR: total_iters must be >= 1, got 0"), Error);
    CHECK_THROWS_WITH_AS(LambdaLR(*opt, std::vector<LambdaLR::Lambda>{[](int64_t) { return 1.0; }}),
                         Contains("LambdaLR: got 1 lr_lambdas for 2 parameter groups"), Error);
    CHECK_THROWS_WITH_AS(LambdaLR(*opt, [](int64_t) { return -1.0; }),
                         Contains("LambdaLR: computed an invalid learning rate -0.1 for parameter "
                                  "group 0 at epoch 0"),
                         Error);
    CHECK_THROWS_WITH_AS(OneCycleLR(*opt, 1.0, OneCycleLROptions()),
                         Contains("OneCycleLR: give total_steps, or epochs and steps_per_epoch"),
                         Error);
    CHECK_THROWS_WITH_AS(OneCycleLR(*opt, 1.0, OneCycleLROptions().total_steps(10).pct_start(1.5)),
                         Contains("OneCycleLR: pct_start must be in [0, 1], got 1.5"), Error);
    CHECK_THROWS_WITH_AS(
        OneCycleLR(*opt, 1.0, OneCycleLROptions().total_steps(10).anneal_strategy("cosine")),
        Contains("OneCycleLR: anneal_strategy must be \"cos\" or \"linear\", got \"cosine\""),
        Error);
    CHECK_THROWS_WITH_AS(OneCycleLR(*opt, VD{1.0}, OneCycleLROptions().total_steps(10)),
                         Contains("OneCycleLR: got 1 max_lr values for 2 parameter groups"), Error);
    CHECK_THROWS_WITH_AS(OneCycleLR(*opt, 1.0, OneCycleLROptions().total_steps(10).pct_start(0.1)),
                         Contains("gives a phase of zero length"), Error);
    CHECK_THROWS_WITH_AS(ReduceLROnPlateau(*opt, ReduceLROnPlateauOptions().mode("minimum")),
                         Contains("ReduceLROnPlateau: mode must be \"min\" or \"max\""), Error);
    CHECK_THROWS_WITH_AS(ReduceLROnPlateau(*opt, ReduceLROnPlateauOptions().factor(1.0)),
                         Contains("ReduceLROnPlateau: factor must be in [0, 1), got 1"), Error);
    CHECK_THROWS_WITH_AS(ReduceLROnPlateau(*opt, ReduceLROnPlateauOptions().min_lrs({0.1})),
                         Contains("ReduceLROnPlateau: got 1 min_lrs for 2 parameter groups"),
                         Error);
    CHECK_THROWS_WITH_AS(
        ReduceLROnPlateau(*opt, ReduceLROnPlateauOptions().threshold_mode("relative")),
        Contains("threshold_mode must be \"rel\" or \"abs\""), Error);
    auto a = std::make_shared<StepLR>(*opt, 2);
    auto b = std::make_shared<StepLR>(*opt, 3);
    CHECK_THROWS_WITH_AS(SequentialLR(*opt, {a, b}, {}),
                         Contains("SequentialLR: expected 1 milestones for 2 schedulers, got 0"),
                         Error);
    CHECK_THROWS_WITH_AS(SequentialLR(*opt, {a, nullptr}, {2}),
                         Contains("SequentialLR: scheduler 1 is null"), Error);
    auto other = two_groups();
    auto c = std::make_shared<StepLR>(*other, 3);
    CHECK_THROWS_WITH_AS(SequentialLR(*opt, {a, c}, {2}),
                         Contains("SequentialLR: scheduler 1 (StepLR) drives another optimizer"),
                         Error);
  }

  TEST_CASE("state_dict: names, values, strict loading") {
    auto opt = two_groups();
    optim::StepLR s(*opt, 2, 0.5);
    s.step();
    s.step();
    const optim::SchedulerState st = s.state_dict();
    CHECK(st.at("last_epoch") == 2);
    CHECK(st.at("base_lr.1") == 0.02);
    CHECK(st.at("last_lr.0") == 0.05);
    CHECK(st.size() == 5);
    optim::SchedulerState bad = st;
    bad.erase("base_lr.1");
    bad["gamma"] = 0.5;
    CHECK_THROWS_WITH_AS(s.load_state_dict(bad),
                         Contains("StepLR: the state does not match this scheduler; missing: "
                                  "'base_lr.1'; unknown: 'gamma'"),
                         Error);
    bad = st;
    bad["last_epoch"] = 1.5;
    CHECK_THROWS_WITH_AS(s.load_state_dict(bad),
                         Contains("StepLR: state 'last_epoch' must be an integer"), Error);
    bad = st;
    bad["base_lr.0"] = -1;
    CHECK_THROWS_WITH_AS(s.load_state_dict(bad),
                         Contains("StepLR: state 'base_lr.0' must be a finite lr >= 0, got -1"),
                         Error);
    CHECK(s.last_epoch() == 2);  // nothing changed
    // ReduceLROnPlateau: counters and the best value (inf before the first metric)
    optim::ReduceLROnPlateau p(*opt);
    CHECK(std::isinf(p.state_dict().at("best")));
    p.step(3.0);
    p.step(4.0);
    optim::SchedulerState ps = p.state_dict();
    CHECK(ps.at("best") == 3.0);
    CHECK(ps.at("num_bad_epochs") == 1);
    ps["cooldown_counter"] = -1;
    CHECK_THROWS_WITH_AS(p.load_state_dict(ps),
                         Contains("state 'cooldown_counter' must be a "
                                  "non-negative integer"),
                         Error);
    // SequentialLR nests its schedulers' states and names them in its own name
    auto w = std::make_shared<optim::LinearLR>(*opt, 0.5, 1.0, 2);
    auto e = std::make_shared<optim::ExponentialLR>(*opt, 0.9);
    optim::SequentialLR seq(*opt, {w, e}, {2});
    CHECK(seq.name() == "SequentialLR(LinearLR,ExponentialLR)");
    optim::SchedulerState ss = seq.state_dict();
    CHECK(ss.count("child.1.base_lr.0") == 1);
    ss["child.1.last_epoch"] = -7;
    CHECK_THROWS_WITH_AS(seq.load_state_dict(ss),
                         Contains("SequentialLR(LinearLR,ExponentialLR): scheduler 1: "
                                  "ExponentialLR: state 'last_epoch' must be an integer"),
                         Error);
  }

  TEST_CASE("checkpoints carry the scheduler: a resumed run follows the unbroken one") {
    // run A: 2n epochs straight; run B: n epochs, checkpoint, then a fresh model, optimizer
    // and scheduler load it and run n more. Their lrs must agree exactly.
    TempDir dir;
    std::vector<std::pair<std::string, Make>> cases = epoch_cases();
    for (auto& c : plateau_cases()) cases.push_back(c);
    int id = 0;
    for (const auto& [name, make] : cases) {
      INFO(name);
      const int n = 5;
      auto metric = [](int e) { return 1.0 / double(1 + (e % 4)); };  // improves, then not
      auto run = [&](optim::Optimizer& o, optim::SchedulerBase& s, int from, int to, VD& lrs) {
        for (int e = from; e < to; ++e) {
          for (double lr : lrs_of(o)) lrs.push_back(lr);
          advance(s, metric(e));
        }
      };
      nn::Linear net_a(2, 1);
      auto opt_a = two_groups();
      auto sched_a = make(*opt_a);
      VD want;
      run(*opt_a, *sched_a, 0, 2 * n, want);

      nn::Linear net_b(2, 1);
      auto opt_b = two_groups();
      auto sched_b = make(*opt_b);
      VD got;
      run(*opt_b, *sched_b, 0, n, got);
      const std::string path = dir.file("run" + std::to_string(id++) + ".ckpt");
      save_checkpoint(path, *net_b, *opt_b, TrainingState{}, sched_b.get());

      nn::Linear net_c(2, 1);
      auto opt_c = two_groups();
      auto sched_c = make(*opt_c);
      (void)load_checkpoint(path, *net_c, *opt_c, sched_c.get());
      CHECK(sched_c->last_epoch() == sched_b->last_epoch());
      CHECK(sched_c->base_lrs() == sched_b->base_lrs());
      run(*opt_c, *sched_c, n, 2 * n, got);
      CHECK(got == want);
    }
  }

  TEST_CASE("checkpoint scheduler errors change nothing") {
    TempDir dir;
    nn::Linear net(2, 1);
    auto opt = two_groups();
    optim::CosineAnnealingLR cosine(*opt, 10);
    for (int i = 0; i < 3; ++i) cosine.step();
    const std::string with = dir.file("with.ckpt"), without = dir.file("without.ckpt");
    save_checkpoint(with, *net, *opt, TrainingState{}, &cosine);
    save_checkpoint(without, *net, *opt, TrainingState{});

    nn::Linear net2(2, 1);
    auto opt2 = two_groups();
    opt2->set_lr(0.5);
    const std::vector<float> w_before = net2->weight.to_vector<float>();
    optim::StepLR step(*opt2, 3);
    CHECK_THROWS_WITH_AS(load_checkpoint(with, *net2, *opt2, &step),
                         Contains("the checkpoint holds 'CosineAnnealingLR' scheduler state, the "
                                  "scheduler is StepLR"),
                         Error);
    optim::CosineAnnealingLR cosine2(*opt2, 10);
    CHECK_THROWS_WITH_AS(load_checkpoint(without, *net2, *opt2, &cosine2),
                         Contains("the checkpoint holds no scheduler state"), Error);
    // nothing was loaded: not the model, not the optimizer, not the scheduler
    CHECK(net2->weight.to_vector<float>() == w_before);
    CHECK(opt2->lr(0) == 0.5);
    CHECK(cosine2.last_epoch() == 0);
    // a scheduler built for one group does not take a two-group state
    nn::Linear net3(2, 1);
    optim::SGD one({zeros({2}).requires_grad_()}, optim::SGDOptions(0.1));
    optim::CosineAnnealingLR cosine3(one, 10);
    CHECK_THROWS_WITH_AS(load_checkpoint(with, *net3, one, &cosine3), Contains("load_checkpoint"),
                         Error);
    // without a scheduler argument a checkpoint with scheduler state is refused: the
    // schedule would restart from the optimizer's lr of the moment
    CHECK_THROWS_WITH_AS(load_checkpoint(with, *net2, *opt2),
                         Contains("holds the state of a CosineAnnealingLR scheduler; pass that "
                                  "scheduler"),
                         Error);
    CHECK(opt2->lr(0) == 0.5);
    (void)load_checkpoint(with, *net2, *opt2, &cosine2);
    CHECK(opt2->lr(0) == cosine.get_last_lr()[0]);
    CHECK_THROWS_WITH_AS(save_checkpoint(with, *net, *opt2, TrainingState{}, &cosine),
                         Contains("drives another optimizer"), Error);
  }
}
