// In-place writes and the tape: an input a backward still reads (a mask, indices, targets) that
// is changed after the forward makes backward refuse rather than give a wrong gradient; a
// compound assignment keeps its tensor writable; a refused write changes nothing.
#include <doctest/doctest.h>

#include <vector>

#include "glassbox.h"

using namespace glassbox;
using doctest::Contains;

TEST_SUITE("inplace_safety") {
  TEST_CASE("masked_fill, embedding and nll_loss refuse a backward after their input changed") {
    Tensor x = from_vector<double>({1, 2, 3}).requires_grad_();
    Tensor m = from_vector<double>({1, 0, 0}) > 0.5;
    Tensor y = masked_fill(x, m, 0.0);
    m.fill_(0.0);
    CHECK_THROWS_WITH_AS(y.sum().backward(), Contains("modified in place"), Error);

    Tensor w = randn({3, 2}, dtype(kFloat64)).requires_grad_();
    Tensor idx = from_vector<int64_t>({0, 0});
    Tensor e = F::embedding(idx, w);
    idx.fill_(2.0);
    CHECK_THROWS_WITH_AS(e.sum().backward(), Contains("modified in place"), Error);

    Tensor logits = randn({2, 3}, dtype(kFloat64)).requires_grad_();
    Tensor target = from_vector<int64_t>({0, 1});
    Tensor loss = F::cross_entropy(logits, target);
    target.fill_(2.0);
    CHECK_THROWS_WITH_AS(loss.backward(), Contains("modified in place"), Error);
  }

  TEST_CASE("compound assignment chains: /= by a number, twice, then +=") {
    Tensor x = from_vector<double>({1, 2}).requires_grad_();
    Tensor w = from_vector<double>({2, 4}).requires_grad_();
    Tensor y = x * 3.0;
    y /= 2.0;
    y /= w;  // the divisor needs a gradient: the old y is kept as a private copy
    y += 1.0;
    y *= w;
    CHECK(y.to_vector<double>() == std::vector<double>{3.5, 7});  // (3x/2/w + 1) w = 1.5x + w
    y.sum().backward();
    // y = 1.5 x + w: dy/dx = 1.5, dy/dw = 1
    CHECK(x.grad().to_vector<double>() == std::vector<double>{1.5, 1.5});
    for (double g : w.grad().to_vector<double>()) CHECK(g == doctest::Approx(1.0));
  }

  TEST_CASE("a refused compound assignment leaves the tensor's version alone") {
    Tensor a = randn({2, 3}).requires_grad_();
    Tensor w = randn({3, 3});
    Tensor loss = matmul(a, w).sum();
    {
      NoGradGuard no_grad;
      CHECK_THROWS_AS(w += ones({2, 2}), Error);  // shapes do not broadcast: nothing written
    }
    CHECK_NOTHROW(loss.backward());
  }
}
