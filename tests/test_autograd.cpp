// The tape: recording, reverse walk, accumulation, release, and every misuse error.
#include <doctest/doctest.h>

#include "glassbox.h"

using namespace glassbox;
using doctest::Contains;

TEST_SUITE("autograd") {
  TEST_CASE("gradients of a small expression match hand derivatives") {
    Tensor x = tensor({1.f, 2.f, 3.f}).requires_grad_();
    Tensor w = tensor({0.5f, -1.f, 2.f}).requires_grad_();
    Tensor loss = sum(x * w + x * x);  // dl/dx = w + 2x, dl/dw = x
    loss.backward();
    CHECK(x.grad().to_vector<float>() == std::vector<float>{2.5f, 3.f, 8.f});
    CHECK(w.grad().to_vector<float>() == std::vector<float>{1.f, 2.f, 3.f});
  }

  TEST_CASE("gradients accumulate across backward calls until zero_grad") {
    Tensor x = tensor({1.f, 2.f}).requires_grad_();
    (x * 3.0).sum().backward();
    (x * 3.0).sum().backward();
    CHECK(x.grad().to_vector<float>() == std::vector<float>{6.f, 6.f});
    x.zero_grad();
    CHECK(x.grad().to_vector<float>() == std::vector<float>{0.f, 0.f});
    (x * x).sum().backward();
    CHECK(x.grad().to_vector<float>() == std::vector<float>{2.f, 4.f});
  }

  TEST_CASE("a diamond graph sums both paths") {
    Tensor x = tensor({2.f}).requires_grad_();
    Tensor a = x * 3.0, b = x * x;
    Tensor y = (a * b).sum();  // y = 3x^3, dy/dx = 9x^2 = 36
    y.backward();
    CHECK(x.grad().item<float>() == doctest::Approx(36.f));
  }

  TEST_CASE("non-scalar backward needs an explicit gradient") {
    Tensor x = tensor({1.f, 2.f}).requires_grad_();
    Tensor y = x * 2.0;
    CHECK_THROWS_WITH_AS(y.backward(), Contains("scalar output, got shape [2]"), Error);
    y.backward(tensor({1.f, 10.f}));
    CHECK(x.grad().to_vector<float>() == std::vector<float>{2.f, 20.f});
    Tensor z = x * 2.0;
    CHECK_THROWS_WITH_AS(z.backward(ones({3})), Contains("gradient shape [3]"), Error);
  }

  TEST_CASE("a second backward over a freed tape is an error; retain_graph allows it") {
    Tensor x = tensor({1.f, 2.f}).requires_grad_();
    Tensor y = (x * x).sum();
    y.backward();
    CHECK_THROWS_WITH_AS(y.backward(), Contains("already freed"), Error);
    Tensor z = (x * x).sum();
    x.zero_grad();
    z.backward({}, /*retain_graph=*/true);
    z.backward();
    CHECK(x.grad().to_vector<float>() == std::vector<float>{4.f, 8.f});
  }

  TEST_CASE("no_grad, detach and leaves") {
    Tensor x = tensor({1.f, 2.f}).requires_grad_();
    {
      NoGradGuard guard;
      Tensor y = x * 2.0;
      CHECK_FALSE(y.requires_grad());
      CHECK(y.grad_fn_name().empty());
    }
    CHECK(grad_enabled());
    Tensor d = (x * 2.0).detach();
    CHECK_FALSE(d.requires_grad());
    CHECK(d.is_leaf());
    Tensor y = x * 2.0;
    CHECK_FALSE(y.is_leaf());
    CHECK(y.grad_fn_name() == "MulBackward");
    CHECK_THROWS_WITH_AS(y.requires_grad_(), Contains("only leaf tensors"), Error);
    CHECK_THROWS_WITH_AS(tensor({int64_t(1)}).requires_grad_(), Contains("floating-point"), Error);
    CHECK_THROWS_WITH_AS(tensor({1.f}).sum().backward(), Contains("does not require grad"), Error);
  }

  TEST_CASE("in-place changes that would corrupt gradients are refused or detected") {
    Tensor w = tensor({1.f, 2.f}).requires_grad_();
    CHECK_THROWS_WITH_AS(w.add_(ones({2})), Contains("requires grad"), Error);
    {
      NoGradGuard guard;  // how optimizers update parameters
      w.add_(ones({2}), -0.5);
    }
    CHECK(w.to_vector<float>() == std::vector<float>{0.5f, 1.5f});

    Tensor x = tensor({3.f, 4.f});
    Tensor y = (w * x).sum();  // MulBackward saved x
    x.mul_(2.0);
    CHECK_THROWS_WITH_AS(y.backward(), Contains("modified in place"), Error);
  }

  TEST_CASE("backward on a leaf seeds its own gradient") {
    Tensor x = scalar_tensor(5.0).requires_grad_();
    x.backward();
    CHECK(x.grad().item<float>() == 1.f);
  }

  TEST_CASE("only inputs that need grad receive one") {
    Tensor a = tensor({1.f, 2.f}).requires_grad_();
    Tensor b = tensor({3.f, 4.f});
    (a * b).sum().backward();
    CHECK(a.grad().defined());
    CHECK_FALSE(b.grad().defined());
  }

  TEST_CASE("the tape and everything it saved are released after backward") {
    Tensor w1 = randn({64, 128}).requires_grad_();
    Tensor w2 = randn({128, 10}).requires_grad_();
    Tensor x = randn({256, 64});
    auto step = [&] {
      Tensor h = relu(matmul(x, w1));
      Tensor loss = mean(sigmoid(matmul(h, w2)) * 2.0);
      loss.backward();
    };
    step();  // first step allocates the .grad() buffers
    const int64_t before = memory_stats().live_bytes;
    {
      Tensor h = relu(matmul(x, w1));
      Tensor loss = mean(sigmoid(matmul(h, w2)) * 2.0);
      // the forward pass holds activations: h alone is 256*128 floats
      CHECK(memory_stats().live_bytes >= before + 256 * 128 * 4);
      h = Tensor();  // drop our own handle; the tape still holds what it saved
      CHECK(memory_stats().live_bytes >= before + 256 * 128 * 4);
      loss.backward();
      // everything the tape saved is gone; only `loss` (one float) is still referenced
      CHECK(memory_stats().live_bytes <= before + 4);
    }
    CHECK(memory_stats().live_bytes == before);
  }
}
