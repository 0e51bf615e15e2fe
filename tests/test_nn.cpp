// nn::functional (everything but convolution): values against hand-computed numbers and
// naive loops, gradients by gradcheck in float64, and errors that name the op and shapes.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "glassbox.h"

using namespace glassbox;
using doctest::Approx;
using doctest::Contains;
using Inputs = const std::vector<Tensor>&;

namespace {

// float64 values in +-[0.2, 1.2], all distinct with high probability (no pooling ties, no
// relu kinks under finite differences)
Tensor rnd(const Shape& s, uint64_t seed, bool grad = true) {
  Generator g(seed);
  Tensor t = rand(s, dtype(kFloat64), &g);
  Tensor sign = (rand(s, dtype(kFloat64), &g) > 0.5).to(kFloat64) * 2.0 - 1.0;
  Tensor out = (sign * (t + 0.2)).detach();
  if (grad) out.requires_grad_();
  return out;
}

void check_grad(const GradcheckFn& fn, const std::vector<Tensor>& inputs) {
  GradcheckResult r = gradcheck(fn, inputs);
  INFO(r.message);
  CHECK(r.ok);
}

void check_close(const Tensor& a, const std::vector<double>& expected, double tol = 1e-6) {
  std::vector<double> v = a.to_vector<double>();
  REQUIRE(v.size() == expected.size());
  for (size_t i = 0; i < v.size(); ++i) {
    CAPTURE(i);
    CHECK(v[i] == Approx(expected[i]).epsilon(tol));
  }
}

// The PyTorch semantics, spelled out as plainly as possible: every output element scans
// its window; padding taps are skipped (max) or counted as zeros (avg, count_include_pad).
struct PoolCase {
  int64_t N, C, H, W;
  std::array<int64_t, 2> k, s, p, d;
  bool ceil;
  int64_t oH, oW;  // what PyTorch gives for this configuration
};

std::vector<double> naive_max_pool(const std::vector<double>& x, const PoolCase& c) {
  std::vector<double> out;
  for (int64_t n = 0; n < c.N * c.C; ++n)
    for (int64_t oh = 0; oh < c.oH; ++oh)
      for (int64_t ow = 0; ow < c.oW; ++ow) {
        double best = -std::numeric_limits<double>::infinity();
        for (int64_t i = 0; i < c.k[0]; ++i)
          for (int64_t j = 0; j < c.k[1]; ++j) {
            int64_t h = oh * c.s[0] - c.p[0] + i * c.d[0], w = ow * c.s[1] - c.p[1] + j * c.d[1];
            if (h >= 0 && h < c.H && w >= 0 && w < c.W)
              best = std::max(best, x[(n * c.H + h) * c.W + w]);
          }
        out.push_back(best);
      }
  return out;
}

std::vector<double> naive_avg_pool(const std::vector<double>& x, const PoolCase& c,
                                   bool count_include_pad) {
  std::vector<double> out;
  for (int64_t n = 0; n < c.N * c.C; ++n)
    for (int64_t oh = 0; oh < c.oH; ++oh)
      for (int64_t ow = 0; ow < c.oW; ++ow) {
        double sum = 0;
        int64_t inside = 0, padded = 0;
        for (int64_t i = 0; i < c.k[0]; ++i)
          for (int64_t j = 0; j < c.k[1]; ++j) {
            int64_t h = oh * c.s[0] - c.p[0] + i, w = ow * c.s[1] - c.p[1] + j;
            // taps in the padding count; taps beyond it (ceil mode overhang) do not
            if (h < c.H + c.p[0] && w < c.W + c.p[1]) ++padded;
            if (h >= 0 && h < c.H && w >= 0 && w < c.W) {
              sum += x[(n * c.H + h) * c.W + w];
              ++inside;
            }
          }
        out.push_back(sum / double(count_include_pad ? padded : inside));
      }
  return out;
}

}  // namespace

TEST_SUITE("nn") {
  // ------------------------------------------------------------------ linear
  TEST_CASE("linear: values match x W^T + b") {
    Tensor x = tensor({{1.f, 2.f, 3.f}, {-1.f, 0.5f, 2.f}});
    Tensor w = tensor({{1.f, 0.f, -1.f}, {0.5f, 0.5f, 0.5f}});
    Tensor b = tensor({0.25f, -1.f});
    Tensor y = F::linear(x, w, b);
    CHECK(y.shape() == Shape{2, 2});
    check_close(y, {1 - 3 + 0.25, 3 - 1, -1 - 2 + 0.25, 0.75 - 1});
    check_close(F::linear(x, w), {-2, 3, -3, 0.75});
    // any leading dims, and a 1-D input
    CHECK(F::linear(zeros({4, 5, 3}), w, b).shape() == Shape{4, 5, 2});
    CHECK(F::linear(tensor({1.f, 2.f, 3.f}), w).shape() == Shape{2});
  }

  TEST_CASE("linear: gradcheck") {
    check_grad([](Inputs v) { return F::linear(v[0], v[1], v[2]); },
               {rnd({3, 4}, 1), rnd({2, 4}, 2), rnd({2}, 3)});
    check_grad([](Inputs v) { return F::linear(v[0], v[1]); }, {rnd({2, 2, 3}, 4), rnd({4, 3}, 5)});
    check_grad([](Inputs v) { return F::linear(v[0].t(), v[1], v[2]); },
               {rnd({4, 3}, 6), rnd({2, 4}, 7), rnd({2}, 8)});
  }

  TEST_CASE("linear: errors name the op and the shapes") {
    CHECK_THROWS_WITH_AS(F::linear(zeros({8, 95}), zeros({30, 96})),
                         Contains("linear: input [8,95] does not match weight [30,96]"), Error);
    CHECK_THROWS_WITH_AS(F::linear(zeros({8, 96}), zeros({96})), Contains("weight must be 2-D"),
                         Error);
    CHECK_THROWS_WITH_AS(F::linear(zeros({8, 96}), zeros({30, 96}), zeros({29})),
                         Contains("linear: bias [29] does not match weight [30,96]"), Error);
    CHECK_THROWS_WITH_AS(F::linear(zeros({2, 3}, dtype(kInt64)), zeros({2, 3})),
                         Contains("linear: expected a floating-point input, got int64 [2,3]"),
                         Error);
  }

  // ------------------------------------------------------------------ max_pool2d
  TEST_CASE("max_pool2d: hand-computed values, dilation and padding") {
    Tensor x = arange(0.0, 16.0).view({1, 1, 4, 4});
    check_close(F::max_pool2d(x, {2, 2}), {5, 7, 13, 15});
    check_close(F::max_pool2d(x, {3, 3}, {2, 2}, {1, 1}), {5, 7, 13, 15});
    // stride 1: every 2x2 window's bottom-right element
    check_close(F::max_pool2d(x, {2, 2}, {1, 1}), {5, 6, 7, 9, 10, 11, 13, 14, 15});
    // dilation 2 on a 5x5 ramp: max(x[i][j], x[i][j+2], x[i+2][j], x[i+2][j+2]) = x[i+2][j+2]
    Tensor y = F::max_pool2d(arange(0.0, 25.0).view({1, 1, 5, 5}), {2, 2}, {1, 1}, {0, 0}, {2, 2});
    CHECK(y.shape() == Shape{1, 1, 3, 3});
    check_close(y, {12, 13, 14, 17, 18, 19, 22, 23, 24});
    // 3-D input, padding is -inf (a negative input never sees a padded 0)
    Tensor neg = full({1, 2, 2}, -3.0);
    check_close(F::max_pool2d(neg, {2, 2}, {1, 1}, {1, 1}), std::vector<double>(9, -3.0));
  }

  TEST_CASE("max_pool2d: output sizes follow PyTorch, including the ceil_mode rule") {
    auto out_hw = [](int64_t H, int64_t k, int64_t s, int64_t p, int64_t d, bool ceil) {
      Tensor y = F::max_pool2d(zeros({1, 1, H, H}), {k, k}, {s, s}, {p, p}, {d, d}, ceil);
      return y.size(2);
    };
    CHECK(out_hw(28, 2, 2, 0, 1, false) == 14);
    CHECK(out_hw(5, 2, 2, 0, 1, false) == 2);
    CHECK(out_hw(5, 2, 2, 0, 1, true) == 3);
    // ceil would give 4, but that last window would start in the right padding: dropped
    CHECK(out_hw(5, 2, 2, 1, 1, true) == 3);
    CHECK(out_hw(6, 3, 2, 1, 1, true) == 4);
    CHECK(out_hw(6, 3, 2, 1, 1, false) == 3);
    CHECK(out_hw(4, 3, 2, 0, 1, true) == 2);
    CHECK(out_hw(4, 3, 2, 0, 1, false) == 1);
    CHECK(out_hw(10, 3, 3, 1, 2, true) == 4);
    CHECK(out_hw(10, 3, 3, 1, 2, false) == 3);
    // stride 0 (the default) means stride = kernel
    CHECK(F::max_pool2d(zeros({2, 3, 8, 6}), {2, 3}).shape() == Shape{2, 3, 4, 2});
  }

  TEST_CASE("max_pool2d: matches a naive loop over many configurations") {
    const std::vector<PoolCase> cases = {
        {2, 3, 7, 6, {2, 2}, {2, 2}, {0, 0}, {1, 1}, false, 3, 3},
        {1, 2, 7, 6, {2, 2}, {2, 2}, {0, 0}, {1, 1}, true, 4, 3},
        {1, 2, 7, 7, {3, 3}, {2, 2}, {1, 1}, {1, 1}, true, 4, 4},
        {1, 1, 9, 8, {3, 2}, {2, 3}, {1, 1}, {2, 1}, false, 4, 3},
        {1, 1, 9, 8, {3, 2}, {2, 3}, {1, 1}, {2, 1}, true, 4, 3},
        {2, 1, 5, 5, {2, 2}, {2, 2}, {1, 1}, {1, 1}, true, 3, 3},
        {1, 1, 6, 9, {3, 3}, {1, 2}, {0, 1}, {1, 2}, false, 4, 4},
    };
    uint64_t seed = 100;
    for (const PoolCase& c : cases) {
      CAPTURE(seed);
      Tensor x = rnd({c.N, c.C, c.H, c.W}, seed++, false);
      Tensor y = F::max_pool2d(x, c.k, c.s, c.p, c.d, c.ceil);
      REQUIRE(y.shape() == Shape{c.N, c.C, c.oH, c.oW});
      CHECK(y.to_vector<double>() == naive_max_pool(x.to_vector<double>(), c));
      // float32 takes the same path
      Tensor y32 = F::max_pool2d(x.to(kFloat32), c.k, c.s, c.p, c.d, c.ceil);
      CHECK(allclose(y32, y.to(kFloat32)));
    }
  }

  TEST_CASE("max_pool2d: backward goes to the first maximum and accumulates overlaps") {
    Tensor x = ones({1, 1, 2, 4}).requires_grad_();
    F::max_pool2d(x, {2, 2}).sum().backward();
    check_close(x.grad(), {1, 0, 1, 0, 0, 0, 0, 0});
    // overlapping windows (stride 1) that share one maximum send it all their gradients
    Tensor z = tensor({{0.f, 1.f, 0.f}, {0.f, 9.f, 0.f}, {0.f, 0.f, 0.f}}).view({1, 1, 3, 3});
    z.requires_grad_();
    F::max_pool2d(z, {2, 2}, {1, 1}).sum().backward();
    check_close(z.grad(), {0, 0, 0, 0, 4, 0, 0, 0, 0});
    CHECK(F::max_pool2d(z, {2, 2}).grad_fn_name() == "MaxPool2DBackward");
  }

  TEST_CASE("max_pool2d: the unrolled 2x2 and in-bounds paths keep the first maximum and NaNs") {
    // values from a small set, so windows hold ties, plus NaNs; shapes whose output counts
    // are not multiples of a vector (up to 16 floats, 8 doubles) and windows that run across rows
    // and planes. The winner is checked through the gradient: it goes to the first maximum
    // (or the first NaN) of each window, scanned row by row.
    const double nan = std::numeric_limits<double>::quiet_NaN();
    struct Shape4 {
      int64_t N, C, H, W;
      std::array<int64_t, 2> k, s, d;
    };
    for (DType dt : {kFloat32, kFloat64})
      for (const Shape4& c : {Shape4{2, 3, 24, 24, {2, 2}, {2, 2}, {1, 1}},
                              Shape4{1, 5, 8, 9, {2, 2}, {2, 2}, {1, 1}},
                              Shape4{3, 1, 7, 6, {3, 2}, {2, 1}, {1, 2}}}) {
        CAPTURE(dtype_name(dt));
        CAPTURE(c.H);
        Generator gen(7);
        std::vector<double> x;
        for (int64_t i = 0; i < c.N * c.C * c.H * c.W; ++i) {
          const uint64_t r = gen.next_u64() % 23;
          x.push_back(r == 0 ? nan : double(r % 4));
        }
        Tensor t = from_vector(x, {c.N, c.C, c.H, c.W}).to(dt).requires_grad_();
        Tensor y = F::max_pool2d(t, c.k, c.s, {0, 0}, c.d);
        const int64_t oH = y.size(2), oW = y.size(3);
        y.sum().backward();
        std::vector<double> want_y, want_g(x.size(), 0.0);
        for (int64_t n = 0; n < c.N * c.C; ++n)
          for (int64_t oh = 0; oh < oH; ++oh)
            for (int64_t ow = 0; ow < oW; ++ow) {
              int64_t arg = -1;
              for (int64_t i = 0; i < c.k[0]; ++i)
                for (int64_t j = 0; j < c.k[1]; ++j) {
                  const int64_t at =
                      (n * c.H + oh * c.s[0] + i * c.d[0]) * c.W + ow * c.s[1] + j * c.d[1];
                  const bool first_nan = std::isnan(x[at]) && (arg < 0 || !std::isnan(x[arg]));
                  if (arg < 0 || x[at] > x[arg] || first_nan) arg = at;
                }
              want_y.push_back(x[arg]);
              want_g[arg] += 1;
            }
        const std::vector<double> got_y = y.to_vector<double>(),
                                  got_g = t.grad().to_vector<double>();
        REQUIRE(got_y.size() == want_y.size());
        for (size_t i = 0; i < want_y.size(); ++i)
          CHECK((got_y[i] == want_y[i] || (std::isnan(got_y[i]) && std::isnan(want_y[i]))));
        CHECK(got_g == want_g);
      }
  }

  TEST_CASE("max_pool2d: gradcheck") {
    check_grad([](Inputs v) { return F::max_pool2d(v[0], {2, 2}); }, {rnd({2, 2, 4, 4}, 11)});
    check_grad(
        [](Inputs v) {
          return F::max_pool2d(v[0], {3, 3}, {2, 2}, {1, 1}, {1, 1}, true);
        },
        {rnd({1, 2, 5, 5}, 12)});
    check_grad(
        [](Inputs v) {
          return F::max_pool2d(v[0], {2, 3}, {1, 2}, {1, 1}, {2, 1});
        },
        {rnd({1, 1, 5, 6}, 13)});
    check_grad(
        [](Inputs v) {
          return F::max_pool2d(v[0].transpose(2, 3), {2, 2});
        },
        {rnd({1, 2, 4, 4}, 14)});
  }

  TEST_CASE("max_pool2d: errors") {
    CHECK_THROWS_WITH_AS(F::max_pool2d(zeros({4, 4}), {2, 2}),
                         Contains("max_pool2d: expected a 3-D [C, H, W] or 4-D [N, C, H, W] "
                                  "input, got [4,4]"),
                         Error);
    CHECK_THROWS_WITH_AS(
        F::max_pool2d(zeros({1, 1, 2, 2}), {3, 3}),
        Contains("max_pool2d: input [1,1,2,2] is too small for kernel_size (3, 3)"), Error);
    CHECK_THROWS_WITH_AS(F::max_pool2d(zeros({1, 1, 8, 8}), {2, 2}, {2, 2}, {2, 2}),
                         Contains("padding should be at most half of the kernel size"), Error);
    CHECK_THROWS_WITH_AS(F::max_pool2d(zeros({1, 1, 8, 8}), {2, 2}, {-1, 1}),
                         Contains("stride must be positive"), Error);
    CHECK_THROWS_WITH_AS(F::max_pool2d(zeros({1, 1, 8, 8}), {0, 2}),
                         Contains("kernel_size must be positive"), Error);
    CHECK_THROWS_WITH_AS(F::max_pool2d(zeros({1, 1, 8, 8}, dtype(kInt64)), {2, 2}),
                         Contains("max_pool2d: expected a floating-point input, got int64"), Error);
  }

  // ------------------------------------------------------------------ avg_pool2d
  TEST_CASE("avg_pool2d: count_include_pad and ceil_mode divisors, by hand") {
    Tensor x = arange(0.0, 16.0).view({1, 1, 4, 4});
    check_close(F::avg_pool2d(x, {2, 2}), {2.5, 4.5, 10.5, 12.5});
    // ones 4x4, k 3, s 2, p 1, ceil: 3x3 windows; the last row/column overhangs the padding
    Tensor o = ones({1, 1, 4, 4});
    Tensor inc = F::avg_pool2d(o, {3, 3}, {2, 2}, {1, 1}, true, true);
    REQUIRE(inc.shape() == Shape{1, 1, 3, 3});
    // corner: 4 inputs of 9 padded taps; edge: 6/9; last column: 2 inputs of 6 taps
    // (padding counts, the overhang past it does not); far corner: 1 of 4
    check_close(inc, {4. / 9, 6. / 9, 2. / 6, 6. / 9, 1, 3. / 6, 2. / 6, 3. / 6, 1. / 4});
    Tensor exc = F::avg_pool2d(o, {3, 3}, {2, 2}, {1, 1}, true, false);
    check_close(exc, std::vector<double>(9, 1.0));
    // ceil mode without padding: the partial window divides by what it covers
    check_close(F::avg_pool2d(ones({1, 1, 3, 3}), {2, 2}, {2, 2}, {0, 0}, true), {1, 1, 1, 1});
  }

  TEST_CASE("avg_pool2d: matches a naive loop") {
    const std::vector<PoolCase> cases = {
        {2, 3, 7, 6, {2, 2}, {2, 2}, {0, 0}, {1, 1}, false, 3, 3},
        {1, 2, 7, 6, {3, 3}, {2, 2}, {1, 1}, {1, 1}, true, 4, 4},
        {1, 1, 9, 8, {3, 2}, {2, 3}, {1, 1}, {1, 1}, true, 5, 3},
        {1, 1, 5, 5, {2, 2}, {2, 2}, {1, 1}, {1, 1}, true, 3, 3},
    };
    uint64_t seed = 200;
    for (const PoolCase& c : cases)
      for (bool include : {true, false}) {
        CAPTURE(seed);
        Tensor x = rnd({c.N, c.C, c.H, c.W}, seed++, false);
        Tensor y = F::avg_pool2d(x, c.k, c.s, c.p, c.ceil, include);
        REQUIRE(y.shape() == Shape{c.N, c.C, c.oH, c.oW});
        check_close(y, naive_avg_pool(x.to_vector<double>(), c, include), 1e-12);
      }
  }

  TEST_CASE("avg_pool2d: gradcheck") {
    check_grad([](Inputs v) { return F::avg_pool2d(v[0], {2, 2}); }, {rnd({2, 2, 4, 4}, 21)});
    check_grad(
        [](Inputs v) {
          return F::avg_pool2d(v[0], {3, 3}, {2, 2}, {1, 1}, true, true);
        },
        {rnd({1, 1, 4, 5}, 22)});
    check_grad(
        [](Inputs v) {
          return F::avg_pool2d(v[0], {3, 2}, {2, 1}, {1, 1}, true, false);
        },
        {rnd({1, 2, 4, 4}, 23)});
    check_grad([](Inputs v) { return F::avg_pool2d(v[0], {2, 2}, {1, 1}); }, {rnd({2, 3, 3}, 24)});
  }

  TEST_CASE("avg_pool2d: errors") {
    CHECK_THROWS_WITH_AS(F::avg_pool2d(zeros({2, 1, 3, 3}), {4, 4}),
                         Contains("avg_pool2d: input [2,1,3,3] is too small"), Error);
    CHECK_THROWS_WITH_AS(F::avg_pool2d(zeros({3}), {1, 1}),
                         Contains("avg_pool2d: expected a 3-D [C, H, W] or 4-D"), Error);
  }

  // ------------------------------------------------------------------ dropout
  TEST_CASE("dropout: keeps with probability 1-p and scales by 1/(1-p)") {
    Generator g(42);
    Tensor x = ones({100, 100});
    Tensor y = F::dropout(x, 0.3, true, &g);
    std::vector<float> v = y.to_vector<float>();
    int64_t kept = 0;
    for (float e : v) {
      CHECK((e == 0.f || e == Approx(1.0 / 0.7)));
      kept += e != 0.f;
    }
    CHECK(double(kept) / 10000.0 == Approx(0.7).epsilon(0.03));
    // the same seed gives the same mask
    Generator g2(42);
    CHECK(equal(F::dropout(x, 0.3, true, &g2), y));
    // the default generator follows manual_seed
    manual_seed(7);
    Tensor a = F::dropout(x, 0.5, true);
    manual_seed(7);
    CHECK(equal(F::dropout(x, 0.5, true), a));
  }

  TEST_CASE("dropout: identity in eval or with p = 0, zeros with p = 1") {
    Tensor x = rnd({3, 4}, 31, false);
    CHECK(F::dropout(x, 0.5, false).is_same(x));
    CHECK(F::dropout(x, 0.0, true).is_same(x));
    Tensor xg = rnd({3, 4}, 32);
    Tensor z = F::dropout(xg, 1.0, true);
    CHECK(equal(z, zeros({3, 4}, dtype(kFloat64))));
    z.sum().backward();
    CHECK(equal(xg.grad(), zeros({3, 4}, dtype(kFloat64))));
  }

  TEST_CASE("dropout: backward uses the same mask") {
    Generator g(3);
    Tensor x = ones({50}).requires_grad_();
    Tensor y = F::dropout(x, 0.4, true, &g);
    CHECK(y.grad_fn_name() == "DropoutBackward");
    y.sum().backward();
    CHECK(equal(x.grad(), y.detach()));  // d y_i / d x_i is the mask itself (x = 1)
    check_grad(
        [](Inputs v) {
          Generator gen(9);  // fresh each call: the same mask every evaluation
          return F::dropout(v[0], 0.5, true, &gen);
        },
        {rnd({4, 5}, 33)});
  }

  TEST_CASE("dropout: p outside [0, 1] is an error") {
    CHECK_THROWS_WITH_AS(F::dropout(zeros({2, 3}), 1.5, true),
                         Contains("dropout: probability has to be between 0 and 1, but got 1.5 "
                                  "(input [2,3])"),
                         Error);
    CHECK_THROWS_AS(F::dropout(zeros({2, 3}), -0.1, false), Error);
  }

  // ------------------------------------------------------------------ softmax
  TEST_CASE("softmax / log_softmax: values against a naive loop, every dim") {
    Tensor x = rnd({2, 3, 4}, 41, false) * 3.0;
    std::vector<double> xv = x.to_vector<double>();
    const Shape s = x.shape();
    for (int64_t dim : {0, 1, 2}) {
      CAPTURE(dim);
      std::vector<double> sm(xv.size()), lsm(xv.size());
      int64_t inner = 1;
      for (int64_t d = dim + 1; d < 3; ++d) inner *= s[d];
      for (size_t i = 0; i < xv.size(); ++i) {
        // the row through element i: same index except along dim
        const int64_t pos = (int64_t(i) / inner) % s[dim];
        const int64_t base = int64_t(i) - pos * inner;
        double z = 0;
        for (int64_t j = 0; j < s[dim]; ++j) z += std::exp(xv[base + j * inner]);
        sm[i] = std::exp(xv[i]) / z;
        lsm[i] = xv[i] - std::log(z);
      }
      check_close(F::softmax(x, dim), sm, 1e-12);
      check_close(F::log_softmax(x, dim), lsm, 1e-12);
      check_close(F::log_softmax(x, dim - 3), lsm, 1e-12);
      check_close(F::softmax(x.to(kFloat32), dim), sm, 1e-5);
    }
  }

  TEST_CASE("softmax / log_softmax: numerically stable on large inputs") {
    Tensor x = tensor({1000.f, 1001.f, 1002.f, -1000.f});
    Tensor ls = F::log_softmax(x, 0);
    const double z = std::log(std::exp(-2.0) + std::exp(-1.0) + 1.0);
    check_close(ls.narrow(0, 0, 3), {-2 - z, -1 - z, -z}, 1e-5);
    CHECK(std::isfinite(ls.to_vector<float>()[3]));
    CHECK(sum(F::softmax(x, 0)).item() == Approx(1.0));
    // 0-d input: a single class
    CHECK(F::softmax(scalar_tensor(3.0), 0).item() == 1.0);
    CHECK(F::log_softmax(scalar_tensor(3.0), -1).item() == 0.0);
  }

  TEST_CASE("softmax / log_softmax: gradcheck") {
    for (int64_t dim : {0, 1, 2}) {
      CAPTURE(dim);
      check_grad([dim](Inputs v) { return F::softmax(v[0], dim); }, {rnd({2, 3, 2}, 50 + dim)});
      check_grad([dim](Inputs v) { return F::log_softmax(v[0], dim); }, {rnd({2, 3, 2}, 60 + dim)});
    }
    check_grad([](Inputs v) { return F::log_softmax(v[0].t(), 1); }, {rnd({4, 3}, 70)});
    check_grad([](Inputs v) { return F::softmax(v[0], -1) * v[1]; },
               {rnd({3, 4}, 71), rnd({3, 4}, 72)});
  }

  TEST_CASE("softmax: errors") {
    CHECK_THROWS_WITH_AS(F::softmax(zeros({2, 3}), 2),
                         Contains("softmax: dim 2 out of range for a tensor of shape [2,3]"),
                         Error);
    CHECK_THROWS_WITH_AS(F::log_softmax(zeros({2, 3}, dtype(kInt64)), 1),
                         Contains("log_softmax: expected a floating-point input, got int64 [2,3]"),
                         Error);
  }

  // ------------------------------------------------------------------ nll_loss
  TEST_CASE("nll_loss: reductions and ignore_index, by hand") {
    Tensor lp = tensor({{-0.5f, -1.f, -2.f}, {-3.f, -0.25f, -1.5f}, {-1.f, -1.f, -4.f}});
    Tensor t = tensor({0, 2, 1});
    check_close(F::nll_loss(lp, t, F::Reduction::None), {0.5, 1.5, 1.0});
    CHECK(F::nll_loss(lp, t, F::Reduction::Sum).item() == Approx(3.0));
    CHECK(F::nll_loss(lp, t).item() == Approx(1.0));
    // ignored targets contribute 0 and do not count towards the mean
    Tensor ti = tensor({0, -100, 1});
    check_close(F::nll_loss(lp, ti, F::Reduction::None), {0.5, 0.0, 1.0});
    CHECK(F::nll_loss(lp, ti).item() == Approx(0.75));
    CHECK(F::nll_loss(lp, tensor({0, 2, 2}), F::Reduction::Mean, 2).item() == Approx(0.5));
    // every target ignored: the mean is 0/0, as in PyTorch
    CHECK(std::isnan(F::nll_loss(lp, tensor({-100, -100, -100})).item()));
    // [C] input with a 0-d target
    CHECK(F::nll_loss(tensor({-0.1f, -2.f}), tensor({1}).view({})).item() == Approx(2.0));
  }

  TEST_CASE("nll_loss: [N, C, d1, d2] matches a naive loop") {
    Tensor lp = rnd({2, 3, 2, 2}, 80, false);
    Tensor t = from_vector<int64_t>({0, 2, 1, 1, 2, -100, 0, 1}, {2, 2, 2});
    Tensor none = F::nll_loss(lp, t, F::Reduction::None);
    REQUIRE(none.shape() == Shape{2, 2, 2});
    std::vector<double> x = lp.to_vector<double>(), expect;
    std::vector<int64_t> tv = t.to_vector<int64_t>();
    double total = 0;
    for (int64_t n = 0; n < 2; ++n)
      for (int64_t s = 0; s < 4; ++s) {
        int64_t c = tv[n * 4 + s];
        expect.push_back(c == -100 ? 0.0 : -x[(n * 3 + c) * 4 + s]);
        total += expect.back();
      }
    check_close(none, expect, 1e-12);
    CHECK(F::nll_loss(lp, t).item() == Approx(total / 7.0));
  }

  TEST_CASE("nll_loss: gradcheck") {
    Tensor t = tensor({2, 0, 1, 2});
    for (auto red : {F::Reduction::None, F::Reduction::Sum, F::Reduction::Mean})
      check_grad([t, red](Inputs v) { return F::nll_loss(v[0], t, red); }, {rnd({4, 3}, 90)});
    Tensor ts = from_vector<int64_t>({0, 2, 1, -100}, {2, 2});
    check_grad([ts](Inputs v) { return F::nll_loss(v[0], ts); }, {rnd({2, 3, 2}, 91)});
    check_grad([ts](Inputs v) { return F::nll_loss(v[0], ts, F::Reduction::None); },
               {rnd({2, 3, 2}, 92)});
  }

  TEST_CASE("nll_loss: errors name the value and the shapes") {
    CHECK_THROWS_WITH_AS(F::nll_loss(zeros({4, 5}), tensor({0, 7, 1, 2})),
                         Contains("nll_loss: target value 7 is out of range for 5 classes"), Error);
    CHECK_THROWS_WITH_AS(F::nll_loss(zeros({4, 5}), tensor({0, -1, 1, 2})),
                         Contains("input [4,5], target [4])"), Error);
    CHECK_THROWS_WITH_AS(F::nll_loss(zeros({4, 5}), tensor({0, 1, 2})),
                         Contains("nll_loss: target [3] does not match input [4,5]"), Error);
    CHECK_THROWS_WITH_AS(F::nll_loss(zeros({4, 5}), zeros({4})),
                         Contains("nll_loss: target must hold int64 class indices, got float32"),
                         Error);
    CHECK_THROWS_WITH_AS(F::nll_loss(zeros({2, 3, 4}), tensor({0, 1})),
                         Contains("expected a target of shape [2,4]"), Error);
  }

  // ------------------------------------------------------------------ cross_entropy
  TEST_CASE("cross_entropy: equals nll_loss(log_softmax) and the hand value") {
    Tensor logits = tensor({{1.f, 2.f, 3.f}, {0.f, 0.f, 0.f}});
    Tensor t = tensor({2, 1});
    const double l0 = std::log(std::exp(-2.0) + std::exp(-1.0) + 1.0), l1 = std::log(3.0);
    check_close(F::cross_entropy(logits, t, F::Reduction::None), {l0, l1});
    CHECK(F::cross_entropy(logits, t).item() == Approx((l0 + l1) / 2));
    Tensor x = rnd({3, 4, 2}, 95, false);
    Tensor ts = from_vector<int64_t>({0, 3, 1, 1, 2, 0}, {3, 2});
    CHECK(allclose(F::cross_entropy(x, ts), F::nll_loss(F::log_softmax(x, 1), ts)));
    CHECK_THROWS_WITH_AS(F::cross_entropy(logits, tensor({3, 0})),
                         Contains("cross_entropy: target value 3 is out of range for 3 classes"),
                         Error);
  }

  TEST_CASE("cross_entropy: gradcheck") {
    Tensor t = tensor({1, 0, 3});
    check_grad([t](Inputs v) { return F::cross_entropy(v[0], t); }, {rnd({3, 4}, 96)});
    Tensor ts = from_vector<int64_t>({0, 2, 1, -100}, {2, 2});
    check_grad([ts](Inputs v) { return F::cross_entropy(v[0], ts, F::Reduction::Sum); },
               {rnd({2, 3, 2}, 97)});
  }

  // ------------------------------------------------------------------ mse_loss
  TEST_CASE("mse_loss: values, reductions, gradcheck, errors") {
    Tensor a = tensor({1.f, 2.f, 3.f}), b = tensor({1.5f, 0.f, 3.f});
    check_close(F::mse_loss(a, b, F::Reduction::None), {0.25, 4.0, 0.0});
    CHECK(F::mse_loss(a, b, F::Reduction::Sum).item() == Approx(4.25));
    CHECK(F::mse_loss(a, b).item() == Approx(4.25 / 3));
    check_grad([](Inputs v) { return F::mse_loss(v[0], v[1]); },
               {rnd({2, 3}, 98), rnd({2, 3}, 99)});
    check_grad([](Inputs v) { return F::mse_loss(v[0], v[1], F::Reduction::None); },
               {rnd({4}, 100), rnd({4}, 101)});
    CHECK_THROWS_WITH_AS(F::mse_loss(zeros({2, 3}), zeros({3})),
                         Contains("mse_loss: input [2,3] and target [3] must have the same shape"),
                         Error);
  }

  // ------------------------------------------------------------------ batch_norm
  TEST_CASE("batch_norm: training normalises with batch stats and updates running stats") {
    Tensor x = rnd({3, 2, 2, 2}, 110, false);
    Tensor w = tensor({2.0, 0.5}), b = tensor({0.1, -0.2});
    Tensor rm = zeros({2}, dtype(kFloat64)), rv = ones({2}, dtype(kFloat64));
    Tensor y = F::batch_norm(x, rm, rv, w, b, true, 0.1, 1e-5);
    std::vector<double> xv = x.to_vector<double>(), expect(xv.size());
    for (int64_t c = 0; c < 2; ++c) {
      double m = 0, v = 0;
      std::vector<int64_t> at;
      for (int64_t n = 0; n < 3; ++n)
        for (int64_t i = 0; i < 4; ++i) at.push_back((n * 2 + c) * 4 + i);
      for (int64_t k : at) m += xv[k] / 12;
      for (int64_t k : at) v += (xv[k] - m) * (xv[k] - m) / 12;  // biased
      for (int64_t k : at)
        expect[k] =
            (xv[k] - m) / std::sqrt(v + 1e-5) * w.to_vector<double>()[c] + b.to_vector<double>()[c];
      CHECK(rm.to_vector<double>()[c] == Approx(0.1 * m));
      CHECK(rv.to_vector<double>()[c] == Approx(0.9 + 0.1 * v * 12 / 11));  // unbiased
    }
    check_close(y, expect, 1e-10);
    // eval uses the running statistics
    Tensor ye = F::batch_norm(x, rm, rv, Tensor(), Tensor(), false);
    std::vector<double> rmv = rm.to_vector<double>(), rvv = rv.to_vector<double>();
    std::vector<double> yev = ye.to_vector<double>();
    for (size_t k = 0; k < xv.size(); ++k) {
      int64_t c = (int64_t(k) / 4) % 2;
      CHECK(yev[k] == Approx((xv[k] - rmv[c]) / std::sqrt(rvv[c] + 1e-5)));
    }
    // [N, C] input
    Tensor y2 = F::batch_norm(tensor({{1.f, 2.f}, {3.f, 6.f}}), Tensor(), Tensor(), Tensor(),
                              Tensor(), true, 0.1, 0.0);
    check_close(y2, {-1, -1, 1, 1}, 1e-6);
  }

  TEST_CASE("batch_norm: gradcheck through the batch statistics and in eval mode") {
    check_grad(
        [](Inputs v) {
          return F::batch_norm(v[0], Tensor(), Tensor(), v[1], v[2], true, 0.1, 1e-5);
        },
        {rnd({3, 2, 2, 1}, 120), rnd({2}, 121), rnd({2}, 122)});
    check_grad(  // running stats given (they are updated in place on every call)
        [](Inputs v) {
          Tensor rm = zeros({3}, dtype(kFloat64)), rv = ones({3}, dtype(kFloat64));
          return F::batch_norm(v[0], rm, rv, Tensor(), Tensor(), true, 0.1, 1e-5) * v[1];
        },
        {rnd({4, 3}, 123), rnd({4, 3}, 124, false)});
    Tensor rm = rnd({2}, 125, false), rv = rnd({2}, 126, false).abs() + 0.5;
    check_grad(
        [rm, rv](Inputs v) { return F::batch_norm(v[0], rm, rv, v[1], v[2], false, 0.1, 1e-5); },
        {rnd({2, 2, 3}, 127), rnd({2}, 128), rnd({2}, 129)});
  }

  TEST_CASE("batch_norm: errors") {
    CHECK_THROWS_WITH_AS(
        F::batch_norm(zeros({2, 3, 4}), zeros({4}), ones({4}), Tensor(), Tensor(), true),
        Contains("batch_norm: running_mean [4] does not match the 3 channels of "
                 "input [2,3,4]"),
        Error);
    CHECK_THROWS_WITH_AS(
        F::batch_norm(zeros({1, 3, 1, 1}), Tensor(), Tensor(), Tensor(), Tensor(), true),
        Contains("expected more than 1 value per channel when training, got "
                 "input [1,3,1,1]"),
        Error);
    CHECK_THROWS_WITH_AS(
        F::batch_norm(zeros({2, 3}), Tensor(), Tensor(), Tensor(), Tensor(), false),
        Contains("evaluation mode needs running_mean and running_var (input [2,3])"), Error);
    CHECK_THROWS_WITH_AS(F::batch_norm(zeros({2, 3}), Tensor(), Tensor(),
                                       zeros({3}, dtype(kFloat64)), Tensor(), true),
                         Contains("batch_norm: weight is float64 but input is float32"), Error);
  }
}
