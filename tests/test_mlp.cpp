// End to end through the public API only: a 2-layer MLP learns two interleaved spirals with
// plain full-batch gradient steps, from a seeded start.
#include <doctest/doctest.h>

#include <cmath>

#include "glassbox.h"

using namespace glassbox;

namespace {

// n points per class; class k's spiral is class 0's rotated by pi.
void two_spirals(int64_t n, Tensor& x, Tensor& y, uint64_t seed) {
  Generator g(seed);
  std::vector<float> pts;
  std::vector<int64_t> labels;
  for (int64_t k = 0; k < 2; ++k)
    for (int64_t i = 0; i < n; ++i) {
      double t = 0.25 + 3.0 * M_PI * double(i) / double(n);  // 1.5 turns
      double r = t / (3.0 * M_PI);
      double a = t + M_PI * double(k);
      pts.push_back(float(r * std::cos(a) + 0.02 * g.normal()));
      pts.push_back(float(r * std::sin(a) + 0.02 * g.normal()));
      labels.push_back(k);
    }
  x = from_vector(pts, {2 * n, 2});
  y = from_vector(labels, {2 * n});
}

Tensor cross_entropy(const Tensor& logits, const Tensor& target) {
  Tensor shifted = logits - max(logits, 1, true).first.detach();
  Tensor logp = shifted - log(sum(exp(shifted), {1}, true));
  return -mean(gather(logp, 1, target.unsqueeze(1)));
}

}  // namespace

TEST_SUITE("mlp") {
  TEST_CASE("a 2-layer MLP separates two spirals") {
    manual_seed(0);
    Tensor x, y;
    two_spirals(200, x, y, 1);
    const int64_t hidden = 128;
    Tensor w1 = uniform({2, hidden}, -1.0, 1.0).requires_grad_();
    Tensor b1 = uniform({hidden}, -1.0, 1.0).requires_grad_();
    Tensor w2 = uniform({hidden, 2}, -0.1, 0.1).requires_grad_();
    Tensor b2 = zeros({2}).requires_grad_();
    std::vector<Tensor> params{w1, b1, w2, b2};

    auto forward = [&](const Tensor& in) {
      return matmul(tanh(matmul(in, w1) * 4.0 + b1), w2) + b2;
    };
    float first_loss = 0, last_loss = 0;
    for (int step = 0; step < 1500; ++step) {
      Tensor loss = cross_entropy(forward(x), y);
      for (Tensor& p : params) p.zero_grad();
      loss.backward();
      NoGradGuard no_record;
      for (Tensor& p : params) p.sub_(p.grad(), 0.5);
      if (step == 0) first_loss = loss.item<float>();
      last_loss = loss.item<float>();
    }
    NoGradGuard no_record;
    Tensor pred = argmax(forward(x), 1);
    double accuracy = sum(pred == y).item<double>() / double(y.numel());
    MESSAGE("two spirals: loss ", first_loss, " -> ", last_loss, ", accuracy ", accuracy);
    CHECK(last_loss < first_loss);
    CHECK(accuracy > 0.95);
  }
}
