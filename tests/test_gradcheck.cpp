// One harness, every differentiable op: each case builds float64 inputs, runs gradcheck
// (autograd's Jacobian vs central differences) and must pass. Broadcasting and view ops
// are cases like any other. A new op adds a line here.
#include <doctest/doctest.h>

#include <functional>
#include <string>
#include <vector>

#include "glassbox.h"

using namespace glassbox;

namespace {

using Inputs = const std::vector<Tensor>&;

struct Case {
  std::string name;
  std::vector<Shape> shapes;
  std::function<Tensor(Inputs)> fn;
  bool positive = false;  // inputs in [0.5, 1.5] (log, sqrt, pow, div)
};

// Values bounded away from 0 and from each other, so kinks (relu, abs, max) are not hit.
Tensor input(const Shape& s, bool positive, uint64_t seed) {
  Generator g(seed);
  Tensor t = rand(s, dtype(kFloat64), &g);
  if (positive) return (t + 0.5).detach();
  Tensor sign = (rand(s, dtype(kFloat64), &g) > 0.5).to(kFloat64) * 2.0 - 1.0;
  return (sign * (t + 0.2)).detach();
}

std::vector<Case> all_cases() {
  std::vector<Case> c;
  auto add = [&](std::string n, std::vector<Shape> s, std::function<Tensor(Inputs)> f,
                 bool pos = false) {
    c.push_back({std::move(n), std::move(s), std::move(f), pos});
  };
  // element-wise, same shape and broadcast
  add("add", {{2, 3}, {2, 3}}, [](Inputs x) { return x[0] + x[1]; });
  add("add broadcast", {{2, 1, 3}, {4, 1}}, [](Inputs x) { return x[0] + x[1]; });
  add("sub broadcast", {{3}, {2, 3}}, [](Inputs x) { return x[0] - x[1]; });
  add("mul broadcast", {{2, 3}, {3}}, [](Inputs x) { return x[0] * x[1]; });
  add(
      "div broadcast", {{2, 3}, {2, 1}}, [](Inputs x) { return x[0] / x[1]; }, true);
  add(
      "pow tensor", {{2, 3}, {2, 3}}, [](Inputs x) { return pow(x[0], x[1]); }, true);
  add(
      "pow scalar", {{5}}, [](Inputs x) { return pow(x[0], 2.5); }, true);
  add("pow square", {{5}}, [](Inputs x) { return x[0].pow(2.0); });
  add("maximum", {{2, 3}, {3}}, [](Inputs x) { return maximum(x[0], x[1]); });
  add("minimum", {{2, 3}, {2, 3}}, [](Inputs x) { return minimum(x[0], x[1]); });
  add("scalar ops", {{4}}, [](Inputs x) { return (2.0 - x[0] * 3.0) / 4.0 + 1.0; });
  add(
      "scalar over tensor", {{4}}, [](Inputs x) { return 2.0 / x[0]; }, true);
  add("neg", {{4}}, [](Inputs x) { return -x[0]; });
  add("exp", {{2, 2}}, [](Inputs x) { return exp(x[0]); });
  add(
      "log", {{2, 2}}, [](Inputs x) { return log(x[0]); }, true);
  add(
      "sqrt", {{2, 2}}, [](Inputs x) { return sqrt(x[0]); }, true);
  add("relu", {{3, 3}}, [](Inputs x) { return relu(x[0]); });
  add("sigmoid", {{3, 3}}, [](Inputs x) { return sigmoid(x[0]); });
  add("tanh", {{3, 3}}, [](Inputs x) { return tanh(x[0]); });
  add("abs", {{3, 3}}, [](Inputs x) { return abs(x[0]); });
  add("same input twice", {{3}}, [](Inputs x) { return x[0] * x[0] + x[0]; });
  // reductions
  add("sum all", {{2, 3}}, [](Inputs x) { return sum(x[0]); });
  add("sum dims keepdim", {{2, 3, 4}}, [](Inputs x) { return sum(x[0], {0, 2}, true); });
  add("sum neg dim", {{2, 3}}, [](Inputs x) { return sum(x[0], {-1}); });
  add("mean all", {{2, 3}}, [](Inputs x) { return mean(x[0]); });
  add("mean dim", {{2, 3, 2}}, [](Inputs x) { return mean(x[0], {1}); });
  add("max all", {{2, 3}}, [](Inputs x) { return max(x[0]); });
  add("min all", {{2, 3}}, [](Inputs x) { return min(x[0]); });
  add("max dim", {{3, 4}}, [](Inputs x) { return max(x[0], 1).first; });
  add("max dim keepdim", {{3, 4}}, [](Inputs x) { return max(x[0], 0, true).first; });
  add("min dim", {{3, 4, 2}}, [](Inputs x) { return min(x[0], 1).first; });
  // linear algebra
  add("matmul 2d", {{3, 4}, {4, 2}}, [](Inputs x) { return matmul(x[0], x[1]); });
  add("matmul vec-vec", {{4}, {4}}, [](Inputs x) { return matmul(x[0], x[1]); });
  add("matmul mat-vec", {{3, 4}, {4}}, [](Inputs x) { return matmul(x[0], x[1]); });
  add("matmul vec-mat", {{4}, {4, 2}}, [](Inputs x) { return matmul(x[0], x[1]); });
  add("matmul batched", {{2, 3, 4}, {2, 4, 2}}, [](Inputs x) { return matmul(x[0], x[1]); });
  add("matmul broadcast batch", {{2, 1, 3, 4}, {3, 4, 2}},
      [](Inputs x) { return matmul(x[0], x[1]); });
  add("matmul 3d @ 2d", {{2, 3, 4}, {4, 2}}, [](Inputs x) { return matmul(x[0], x[1]); });
  add("matmul transposed operands", {{4, 3}, {2, 4}},
      [](Inputs x) { return matmul(x[0].t(), x[1].t()); });
  // views
  add("view", {{2, 6}}, [](Inputs x) { return x[0].view({3, 4}) * 2.0; });
  add("reshape non-contiguous", {{3, 4}}, [](Inputs x) { return x[0].t().reshape({-1}); });
  add("permute", {{2, 3, 4}}, [](Inputs x) { return x[0].permute({2, 0, 1}) * 1.5; });
  add("transpose", {{2, 3}}, [](Inputs x) { return x[0].transpose(0, 1).contiguous(); });
  add("narrow", {{5, 3}}, [](Inputs x) { return x[0].narrow(0, 1, 3); });
  add("slice step", {{7, 2}}, [](Inputs x) { return x[0].slice(0, 1, 6, 2); });
  add("select", {{3, 4}}, [](Inputs x) { return x[0].select(1, -1); });
  add("unsqueeze squeeze", {{3, 1, 2}},
      [](Inputs x) { return x[0].squeeze(1).unsqueeze(0).squeeze() * 3.0; });
  add("expand", {{3, 1}}, [](Inputs x) { return x[0].expand({2, 3, 4}) * 1.0; });
  add("flatten", {{2, 3, 2}}, [](Inputs x) { return x[0].flatten(1); });
  add("clone", {{3}}, [](Inputs x) { return x[0].clone(); });
  add("view chain into op", {{2, 3}},
      [](Inputs x) { return (x[0].t().unsqueeze(0) * x[0].t().unsqueeze(0)).sum({0}); });
  // joining and indexing
  add("cat", {{2, 3}, {1, 3}}, [](Inputs x) { return cat({x[0], x[1]}, 0); });
  add("cat dim 1", {{2, 1}, {2, 3}}, [](Inputs x) { return cat({x[0], x[1] * 2.0}, -1); });
  add("stack", {{2, 3}, {2, 3}}, [](Inputs x) { return stack({x[0], x[1]}, 1); });
  add("index_select repeated", {{4, 3}}, [](Inputs x) {
    return index_select(x[0], 0, tensor({int64_t(3), int64_t(0), int64_t(3)}));
  });
  add("index_select dim 1", {{2, 4}}, [](Inputs x) {
    return index_select(x[0], 1, tensor({int64_t(1), int64_t(2)}));
  });
  add("gather", {{3, 4}}, [](Inputs x) {
    return gather(x[0], 1, from_vector<int64_t>({0, 3, 2, 2, 1, 0}, {3, 2}));
  });
  // a small network: linear, tanh, log-softmax, NLL picked by gather
  add("mlp cross-entropy", {{4, 3}, {3, 5}, {5}}, [](Inputs x) {
    Tensor logits = tanh(matmul(x[0], x[1]) + x[2]);
    Tensor shifted = logits - max(logits, 1, true).first;
    Tensor logp = shifted - log(sum(exp(shifted), {1}, true));
    Tensor target = from_vector<int64_t>({0, 4, 2, 1}, {4, 1});
    return -mean(gather(logp, 1, target));
  });
  return c;
}

}  // namespace

TEST_SUITE("gradcheck") {
  TEST_CASE("every differentiable op passes gradcheck") {
    uint64_t seed = 1;
    for (const Case& c : all_cases()) {
      CAPTURE(c.name);
      std::vector<Tensor> in;
      for (const Shape& s : c.shapes) in.push_back(input(s, c.positive, seed++).requires_grad_());
      GradcheckResult r = gradcheck(c.fn, in);
      INFO(r.message);
      CHECK(r.ok);
    }
  }

  TEST_CASE("gradcheck catches a wrong backward") {
    // d/dx of this op is deliberately reported as 2x instead of 3x^2
    auto wrong_cube = [](Inputs x) {
      Tensor y = x[0] * x[0];  // analytic grad 2x * (x detached) below misses a factor
      return y * x[0].detach();
    };
    Tensor x = input({3}, true, 99).requires_grad_();
    GradcheckResult r = gradcheck(wrong_cube, {x});
    CHECK_FALSE(r.ok);
    CHECK(r.message.find("analytic") != std::string::npos);
  }

  TEST_CASE("gradcheck leaves the caller's tensors alone and insists on float64") {
    Tensor x = input({3}, true, 7).requires_grad_();
    std::vector<double> before = x.to_vector<double>();
    CHECK(gradcheck([](Inputs v) { return exp(v[0]); }, {x}).ok);
    CHECK(x.to_vector<double>() == before);
    CHECK_FALSE(x.grad().defined());
    Tensor f = ones({2}).requires_grad_();
    CHECK_THROWS_AS(gradcheck([](Inputs v) { return v[0] * 2.0; }, {f}), Error);
  }

  TEST_CASE("inputs that do not require grad are passed through") {
    Tensor w = input({3}, false, 11).requires_grad_();
    Tensor c = input({3}, false, 12);
    CHECK(gradcheck([](Inputs v) { return v[0] * v[1]; }, {w, c}).ok);
  }
}
