// Anomaly mode (autograd/anomaly.h): the first op that makes a NaN/Inf out of finite values
// throws, in forward or in backward, naming the op, its tape entry and the module path; an op
// fed a NaN is not blamed; off by default; the guard restores the mode. Each case also runs on
// a CUDA device when one is present (the count goes through kernels::).
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "autograd/node.h"
#include "glassbox.h"

using namespace glassbox;

// Checks that `text` contains `part`, printing the whole text when it does not.
#define CHECK_HAS(text, part) \
  CHECK_MESSAGE((text).find(part) != std::string::npos, "no '" << (part) << "' in: " << (text))

namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

std::vector<Device> devices() {
  std::vector<Device> d{kCPU};
  if (cuda::is_available()) d.push_back(kCUDA);
  return d;
}

// A leaf on `dev` that requires grad.
Tensor leaf(std::initializer_list<float> values, Device dev) {
  return tensor(values).to(dev).requires_grad_();
}

// Runs fn and returns the message of the glassbox::Error it throws ("" when it does not).
template <class F>
std::string error_of(F&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// log of its input: the layer that makes -Inf from a 0.
struct LogLayerImpl : nn::Module {
  Tensor forward(const Tensor& x) { return log(x); }
};
GB_MODULE(LogLayer);

struct LogNetImpl : nn::Module {
  nn::Linear fc{nullptr};
  LogLayer logs{nullptr};
  LogNetImpl() {
    fc = register_module("fc", nn::Linear(2, 2));
    logs = register_module("logs", LogLayer());
  }
  Tensor forward(const Tensor& x) { return logs(fc(x)); }
};
GB_MODULE(LogNet);

// Records the call path it sees while its forward runs.
struct ProbeImpl : nn::Module {
  std::string seen;
  Tensor forward(const Tensor& x) {
    seen = autograd::scope_path();
    return x;
  }
};
GB_MODULE(Probe);

struct OuterImpl : nn::Module {
  Probe inner{nullptr};
  explicit OuterImpl(Probe p) { inner = register_module("inner", p); }
  Tensor forward(const Tensor& x) { return inner(x); }
};
GB_MODULE(Outer);

// fc1 -> relu -> fc2 -> relu -> head -> log_softmax, with body.{fc1,fc2} one level down.
struct BodyImpl : nn::Module {
  nn::Linear fc1{nullptr}, fc2{nullptr};
  BodyImpl() {
    fc1 = register_module("fc1", nn::Linear(4, 3));
    fc2 = register_module("fc2", nn::Linear(3, 3));
  }
  Tensor forward(const Tensor& x) { return relu(fc2(relu(fc1(x)))); }
};
GB_MODULE(Body);

struct DeepNetImpl : nn::Module {
  Body body{nullptr};
  nn::Linear head{nullptr};
  DeepNetImpl() {
    body = register_module("body", Body());
    head = register_module("head", nn::Linear(3, 2));
  }
  Tensor forward(const Tensor& x) { return nn::functional::log_softmax(head(body(x)), 1); }
};
GB_MODULE(DeepNet);

}  // namespace

TEST_SUITE("anomaly") {
  TEST_CASE("off by default: the same code runs without throwing") {
    REQUIRE_FALSE(autograd::is_anomaly_enabled());
    for (Device dev : devices()) {
      CAPTURE(dev.str());
      Tensor x = leaf({0.f, 4.f}, dev);
      Tensor y = log(x);  // -inf at 0, not an error without anomaly mode
      CHECK(std::isinf(y.cpu().to_vector<float>()[0]));
      Tensor s = sqrt(x).sum();
      CHECK_NOTHROW(s.backward());
      CHECK(std::isinf(x.grad().cpu().to_vector<float>()[0]));
      REQUIRE(y.impl()->grad_fn != nullptr);
      CHECK(y.impl()->grad_fn->recorded_at.empty());  // nothing is described when off
    }
  }

  TEST_CASE("count_non_finite counts NaN and Inf exactly, on every device") {
    for (Device dev : devices()) {
      CAPTURE(dev.str());
      Tensor t = tensor({kNaN, 1.f, -kInf, kNaN, 0.f, kInf, kNaN}).to(dev);
      autograd::NonFinite n = autograd::count_non_finite(t);
      CHECK(n.nan == 3);
      CHECK(n.inf == 2);
      CHECK_FALSE(autograd::count_non_finite(tensor({1.f, -2.f, 3e38f}).to(dev)).any());
      CHECK(autograd::count_non_finite(full({}, kInf).to(dev)).inf == 1);  // a 0-d tensor
      CHECK(autograd::count_non_finite(t.to(kFloat64)).nan == 3);
      CHECK_FALSE(autograd::count_non_finite(tensor({1, 2})).any());  // integers: never
    }
  }

  TEST_CASE("forward: log(0) names log, its tape entry and the module path") {
    for (Device dev : devices()) {
      CAPTURE(dev.str());
      LogNet net;
      net->to(dev);
      {
        NoGradGuard no_record;
        net->fc->weight.zero_();  // fc's output is 0, so log gives -Inf
        net->fc->bias.zero_();
      }
      Tensor x = tensor({{1.f, 2.f}}).to(dev);
      autograd::DetectAnomalyGuard anomaly;
      const std::string msg = error_of([&] { net(x); });
      CHECK_HAS(msg, "anomaly in forward: 'log' produced 0 NaN / 2 Inf");
      CHECK_HAS(msg, "from finite inputs");
      CHECK_HAS(msg, "(LogBackward), input [1,2] -> output [1,2]");
      CHECK_HAS(msg, "in LogNet.logs (LogLayer)");
      CHECK(autograd::scope_path().empty());  // the frames were popped by the exception
    }
  }

  TEST_CASE("forward: a layer inside a Sequential is named by its index") {
    nn::Sequential seq(nn::Linear(2, 2), LogLayer());
    {
      NoGradGuard no_record;
      seq->ptr<nn::LinearImpl>(0)->weight.zero_();
      seq->ptr<nn::LinearImpl>(0)->bias.zero_();
    }
    autograd::DetectAnomalyGuard anomaly;
    const std::string msg = error_of([&] { seq(tensor({{1.f, 2.f}})); });
    CHECK_HAS(msg, "anomaly in forward: 'log'");
    CHECK_HAS(msg, "in Sequential.1 (LogLayer)");
  }

  TEST_CASE("backward: sqrt(0) has a finite forward and an Inf gradient, blamed on sqrt") {
    for (Device dev : devices()) {
      CAPTURE(dev.str());
      autograd::DetectAnomalyGuard anomaly;
      Tensor x = leaf({0.f, 4.f, 9.f}, dev);
      Tensor loss = (sqrt(x) * 2.0).sum();  // every forward value is finite
      const std::string msg = error_of([&] { loss.backward(); });
      CHECK_HAS(msg, "anomaly in backward of 'sqrt' (recorded at tape entry #");
      CHECK_HAS(msg, "(SqrtBackward), input [3] -> output [3], outside any module");
      CHECK_HAS(msg, "the gradient for input 0 [3] holds 0 NaN / 1 Inf");
      CHECK_HAS(msg, "flowing into it [3] was finite");
      CHECK_FALSE(x.grad().defined());  // it threw before reaching the leaf
    }
  }

  TEST_CASE("backward of an op recorded while the mode was off says how to learn more") {
    Tensor x = leaf({0.f}, kCPU);
    Tensor loss = sqrt(x).sum();
    autograd::DetectAnomalyGuard anomaly;
    const std::string msg = error_of([&] { loss.backward(); });
    CHECK_HAS(msg, "anomaly in backward of 'sqrt'");
    CHECK_HAS(msg, "recorded while anomaly mode was off");
  }

  TEST_CASE("a NaN already in an input does not blame the ops after it") {
    for (Device dev : devices()) {
      CAPTURE(dev.str());
      autograd::DetectAnomalyGuard anomaly;
      Tensor x = leaf({kNaN, 1.f}, dev);  // the NaN comes with the data
      Tensor loss;
      CHECK_NOTHROW(loss = exp(x * x).sum());
      REQUIRE(loss.defined());
      CHECK(std::isnan(loss.item()));
      CHECK_NOTHROW(loss.backward());  // mul's and exp's backward pass the NaN on: not theirs
      CHECK(std::isnan(x.grad().cpu().to_vector<float>()[0]));
      // the entry still says where it was recorded
      CHECK_HAS(loss.impl()->grad_fn->recorded_at, "(SumBackward), input [2]");
    }
  }

  TEST_CASE("a NaN made downstream of an Inf input is not blamed either") {
    autograd::DetectAnomalyGuard anomaly;
    Tensor x = leaf({kInf, 1.f}, kCPU);
    CHECK_NOTHROW(x * 0.0);  // inf * 0 = NaN, but the Inf came in
  }

  TEST_CASE("the guard restores the previous mode, also on an exception") {
    REQUIRE_FALSE(autograd::is_anomaly_enabled());
    {
      autograd::DetectAnomalyGuard on;
      CHECK(autograd::is_anomaly_enabled());
      {
        autograd::DetectAnomalyGuard off(false);
        CHECK_FALSE(autograd::is_anomaly_enabled());
      }
      CHECK(autograd::is_anomaly_enabled());
    }
    CHECK_FALSE(autograd::is_anomaly_enabled());

    Tensor x = leaf({0.f}, kCPU);
    CHECK_THROWS_AS(
        [&] {
          autograd::DetectAnomalyGuard on;
          log(x);  // throws from inside the guard's scope
        }(),
        Error);
    CHECK_FALSE(autograd::is_anomaly_enabled());
    CHECK_NOTHROW(log(x));

    autograd::set_detect_anomaly(true);
    { autograd::DetectAnomalyGuard off(false); }
    CHECK(autograd::is_anomaly_enabled());
    autograd::set_detect_anomaly(false);
  }

  TEST_CASE("the call path names modules as registered, only while the mode is on") {
    Probe probe;
    Outer outer(probe);
    Tensor x = zeros({1});
    outer(x);
    CHECK(probe->seen.empty());  // off: no frames
    autograd::DetectAnomalyGuard anomaly;
    outer(x);
    CHECK(probe->seen == "Outer.inner (Probe)");
    outer->forward(x);  // no frame for Outer: the probe is named as it was registered
    CHECK(probe->seen == "inner (Probe)");
    probe(x);  // called on its own through its handle
    CHECK(probe->seen == "inner (Probe)");
    Probe lone;
    lone(x);  // never registered: its type
    CHECK(lone->seen == "Probe");
    CHECK(autograd::scope_path().empty());
  }

  TEST_CASE("a model whose loss turns NaN mid-network names the layer that did it") {
    for (Device dev : devices()) {
      CAPTURE(dev.str());
      DeepNet net;
      net->to(dev);
      {
        NoGradGuard no_record;
        net->body->fc1->weight.fill_(0.1);  // positive, so relu passes fc1's output on
        net->body->fc1->bias.zero_();
        net->body->fc2->weight.fill_(3e38);  // finite, but its products overflow to Inf
      }
      Tensor x = tensor({{1.f, 2.f, 3.f, 4.f}, {0.5f, 0.5f, 0.5f, 0.5f}}).to(dev);
      Tensor target = tensor({0, 1}).to(dev);
      auto step = [&] {
        Tensor loss = nn::functional::nll_loss(net(x), target);
        loss.backward();
        return loss;
      };
      {
        autograd::DetectAnomalyGuard off(false);
        CHECK(std::isnan(step().item()));  // without the mode: only a NaN loss
      }
      autograd::DetectAnomalyGuard anomaly;
      const std::string msg = error_of(step);
      CHECK_HAS(msg, "anomaly in forward");
      CHECK_HAS(msg, "in DeepNet.body.fc2 (Linear)");
      CHECK_HAS(msg, "from finite inputs");
      CHECK(msg.find("head") == std::string::npos);
      CHECK(msg.find("fc1") == std::string::npos);
    }
  }
}
