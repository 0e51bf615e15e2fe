// Adaptive pooling and interpolate: hand-worked values (uneven bins, the nearest and bilinear
// index rules, PyTorch's scale_factor subtlety), float64 gradchecks, errors that name the op,
// the modules' printing, and parity with PyTorch 1.13 (tests/fixtures/resize.safetensors, made
// by tests/fixtures/make_resize_fixtures.py).
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "glassbox.h"

using namespace glassbox;
using doctest::Contains;

namespace {

Tensor row(std::vector<double> v, DType dt = kFloat64) {
  const int64_t n = static_cast<int64_t>(v.size());
  return from_vector(v, {1, 1, 1, n}).to(dt);
}

std::vector<double> values(const Tensor& t) { return t.to(kFloat64).to_vector<double>(); }

void check_values(const Tensor& got, const std::vector<double>& want) {
  const std::vector<double> g = values(got);
  REQUIRE(g.size() == want.size());
  for (size_t i = 0; i < g.size(); ++i) {
    if (std::isinf(want[i]))
      CHECK_MESSAGE(g[i] == want[i], "at " << i);  // Approx(inf) never matches
    else
      CHECK_MESSAGE(g[i] == doctest::Approx(want[i]), "at " << i);
  }
}

// distinct values, at least 0.05 apart, so no max ties and no kink within gradcheck's step
Tensor distinct(const Shape& s, uint64_t seed) {
  Generator g(seed);
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return (randperm(n, dtype(kInt64), &g).to(kFloat64) * 0.05 - 1.0).reshape(s).detach();
}

Tensor interp(const Tensor& x, const F::InterpolateFuncOptions& o) { return F::interpolate(x, o); }

}  // namespace

TEST_SUITE("resize") {
  TEST_CASE("adaptive pools use PyTorch's uneven bins") {
    // W = 5 into 3 bins: [0, 2), [1, 4), [3, 5)
    check_values(F::adaptive_avg_pool2d(row({0, 1, 2, 3, 4}), {1, 3}), {0.5, 2.0, 3.5});
    auto [v, idx] = F::adaptive_max_pool2d_with_indices(row({3, 1, 4, 1, 5}), {1, 3});
    check_values(v, {3, 4, 5});
    CHECK(idx.dtype() == kInt64);
    CHECK(idx.to_vector<int64_t>() == std::vector<int64_t>{0, 2, 4});
    // more outputs than inputs: bins of one element, repeated
    check_values(F::adaptive_avg_pool2d(row({1, 2}), {1, 3}), {1, 1.5, 2});
    // global pooling of [C, H, W]
    Tensor x = arange(24.0, dtype(kFloat32)).reshape({2, 3, 4});
    Tensor g = F::adaptive_avg_pool2d(x, 1);
    CHECK(g.shape() == Shape{2, 1, 1});
    check_values(g, {5.5, 17.5});
    check_values(F::adaptive_max_pool2d(x, 1), {11, 23});
  }

  TEST_CASE("nearest picks floor(dst * scale), scale from scale_factor unless recomputed") {
    check_values(interp(row({10, 20, 30}), F::InterpolateFuncOptions().size({1, 5})),
                 {10, 10, 20, 20, 30});
    // W = 5, scale_factor 1.7: 8 outputs; 1 / 1.7 and 5 / 8 pick different sources at dst 5
    Tensor x = row({0, 1, 2, 3, 4});
    Tensor a = interp(x, F::InterpolateFuncOptions().scale_factor({1.0, 1.7}));
    check_values(a, {0, 0, 1, 1, 2, 2, 3, 4});
    Tensor b = interp(
        x, F::InterpolateFuncOptions().scale_factor({1.0, 1.7}).recompute_scale_factor(true));
    check_values(b, {0, 0, 1, 1, 2, 3, 3, 4});
    // out == in still applies the formula (PyTorch's NCHW kernel): 1 / 1.3 maps 1 to 0 ...
    check_values(interp(row({5, 6}), F::InterpolateFuncOptions().scale_factor({1.0, 1.3})), {5, 5});
    // ... where bilinear copies
    check_values(interp(row({5, 6}),
                        F::InterpolateFuncOptions().scale_factor({1.0, 1.3}).mode(nn::kBilinear)),
                 {5, 6});
    // a copy is exact: inf stays inf (no 0 * inf from an unused weight)
    const double inf = std::numeric_limits<double>::infinity();
    check_values(interp(row({inf, 1}), F::InterpolateFuncOptions().size({1, 4})), {inf, inf, 1, 1});
  }

  TEST_CASE("bilinear with and without align_corners") {
    auto o = F::InterpolateFuncOptions().size({1, 4}).mode(nn::kBilinear);
    // align_corners false: src = (dst + 0.5) * 2 / 4 - 0.5, clamped at 0
    check_values(interp(row({0, 3}), o), {0, 0.75, 2.25, 3});
    check_values(interp(row({0, 3}), F::InterpolateFuncOptions(o).align_corners(true)),
                 {0, 1, 2, 3});
    // 2x2 -> 3x3 with aligned corners: the centre is the mean of all four
    Tensor sq = from_vector(std::vector<double>{0, 2, 4, 6}, {1, 1, 2, 2});
    Tensor y =
        interp(sq, F::InterpolateFuncOptions().size(3).mode(nn::kBilinear).align_corners(true));
    check_values(y, {0, 1, 2, 2, 3, 4, 4, 5, 6});
    // float32 in float32
    CHECK(interp(sq.to(kFloat32), F::InterpolateFuncOptions().scale_factor(2.0).mode(nn::kBilinear))
              .dtype() == kFloat32);
  }

  TEST_CASE("gradcheck float64") {
    struct G {
      const char* name;
      Shape shape;
      std::function<Tensor(const Tensor&)> fn;
    };
    const std::vector<G> cases = {
        {"adaptive_avg [2,3,5,7] -> (3,4)",
         {2, 3, 5, 7},
         [](const Tensor& x) {
           return F::adaptive_avg_pool2d(x, {3, 4});
         }},
        {"adaptive_avg [2,3,4] -> (5,6)",
         {2, 3, 4},
         [](const Tensor& x) {
           return F::adaptive_avg_pool2d(x, {5, 6});
         }},
        {"adaptive_max [2,2,7,5] -> (3,2)",
         {2, 2, 7, 5},
         [](const Tensor& x) {
           return F::adaptive_max_pool2d(x, {3, 2});
         }},
        {"adaptive_max [3,4,5] -> (4,7)",
         {3, 4, 5},
         [](const Tensor& x) {
           return F::adaptive_max_pool2d(x, {4, 7});
         }},
        {"nearest size",
         {1, 2, 3, 4},
         [](const Tensor& x) {
           return interp(x, F::InterpolateFuncOptions().size({5, 7}));
         }},
        {"nearest down scale_factor",
         {1, 2, 7, 6},
         [](const Tensor& x) {
           return interp(x, F::InterpolateFuncOptions().scale_factor({0.6, 0.5}));
         }},
        {"bilinear",
         {2, 1, 4, 5},
         [](const Tensor& x) {
           return interp(x, F::InterpolateFuncOptions().size({7, 3}).mode(nn::kBilinear));
         }},
        {"bilinear align_corners",
         {1, 2, 4, 5},
         [](const Tensor& x) {
           return interp(
               x, F::InterpolateFuncOptions().size({7, 9}).mode(nn::kBilinear).align_corners(true));
         }},
        {"bilinear scale_factor",
         {1, 2, 5, 3},
         [](const Tensor& x) {
           return interp(x,
                         F::InterpolateFuncOptions().scale_factor({1.7, 2.5}).mode(nn::kBilinear));
         }},
    };
    uint64_t seed = 1;
    for (const G& c : cases) {
      CAPTURE(c.name);
      Tensor x = distinct(c.shape, seed++).requires_grad_(true);
      GradcheckResult r =
          gradcheck([&](const std::vector<Tensor>& in) { return c.fn(in[0]); }, {x});
      CHECK_MESSAGE(r.ok, r.message);
    }
  }

  TEST_CASE("errors name the op, the value and the shapes") {
    CHECK_THROWS_WITH_AS(F::adaptive_avg_pool2d(zeros({2, 3}), 2),
                         Contains("adaptive_avg_pool2d: expected a 3-D [C, H, W] or 4-D [N, C, H, "
                                  "W] input, got [2,3]"),
                         Error);
    CHECK_THROWS_WITH_AS(F::adaptive_max_pool2d(zeros({1, 2, 3, 4}), {0, 2}),
                         Contains("adaptive_max_pool2d: output_size must be positive, got (0, 2) "
                                  "(input [1,2,3,4])"),
                         Error);
    CHECK_THROWS_WITH_AS(F::adaptive_avg_pool2d(zeros({1, 2, 0, 4}), 2),
                         Contains("has an empty spatial dim"), Error);
    CHECK_THROWS_WITH_AS(F::adaptive_avg_pool2d(zeros({1, 2, 3, 4}, dtype(kInt64)), 2),
                         Contains("expected a floating-point input, got int64"), Error);
    Tensor x = zeros({1, 2, 5, 5});
    CHECK_THROWS_WITH_AS(interp(x, {}), Contains("interpolate: either size or scale_factor"),
                         Error);
    CHECK_THROWS_WITH_AS(interp(x, F::InterpolateFuncOptions().size(3).scale_factor(2.0)),
                         Contains("interpolate: only one of size or scale_factor"), Error);
    CHECK_THROWS_WITH_AS(interp(x, F::InterpolateFuncOptions().size(3).align_corners(true)),
                         Contains("align_corners can only be set with the interpolating modes"),
                         Error);
    CHECK_THROWS_WITH_AS(interp(zeros({2, 5, 5}), F::InterpolateFuncOptions().size(3)),
                         Contains("interpolate: expected a 4-D [N, C, H, W] input"), Error);
    CHECK_THROWS_WITH_AS(interp(x, F::InterpolateFuncOptions().scale_factor(0.1)),
                         Contains("interpolate: scale_factor (0.1, 0.1) gives an output of 0"),
                         Error);
    CHECK_THROWS_WITH_AS(interp(x, F::InterpolateFuncOptions().size({3, 4, 5})),
                         Contains("size must have 2 values"), Error);
    CHECK_THROWS_WITH_AS(
        interp(x, F::InterpolateFuncOptions().size(3).recompute_scale_factor(true)),
        Contains("recompute_scale_factor is not meaningful"), Error);
    nn::Upsample up(nn::UpsampleOptions().scale_factor(2));
    CHECK_THROWS_WITH_AS(up(zeros({5, 5})),
                         Contains("Upsample(scale_factor=2.0, mode=nearest): interpolate: "
                                  "expected a 4-D"),
                         Error);
  }

  TEST_CASE("modules forward and print like PyTorch") {
    nn::AdaptiveAvgPool2d avg(nn::AdaptiveAvgPool2dOptions({2, 3}));
    CHECK(avg->to_string() == "AdaptiveAvgPool2d(output_size=(2, 3))");
    nn::AdaptiveMaxPool2d mx(1);
    CHECK(mx->to_string() == "AdaptiveMaxPool2d(output_size=1)");
    nn::Upsample up(nn::UpsampleOptions().scale_factor(2));
    CHECK(up->to_string() == "Upsample(scale_factor=2.0, mode=nearest)");
    nn::Upsample bl(nn::UpsampleOptions().size({4, 5}).mode(nn::kBilinear).align_corners(true));
    CHECK(bl->to_string() == "Upsample(size=(4, 5), mode=bilinear)");
    Tensor x = distinct({2, 3, 6, 7}, 9);
    CHECK(avg(x).shape() == Shape{2, 3, 2, 3});
    CHECK(allclose(avg(x), F::adaptive_avg_pool2d(x, {2, 3})));
    auto [v, i] = mx->forward_with_indices(x);
    CHECK(v.shape() == Shape{2, 3, 1, 1});
    CHECK(i.shape() == Shape{2, 3, 1, 1});
    CHECK(up(x).shape() == Shape{2, 3, 12, 14});
    CHECK(bl(x).shape() == Shape{2, 3, 4, 5});
    CHECK(allclose(
        bl(x),
        interp(x,
               F::InterpolateFuncOptions().size({4, 5}).mode(nn::kBilinear).align_corners(true))));
  }

  TEST_CASE("parity with PyTorch 1.13") {
    const TensorMap m =
        load_safetensors(std::string(GLASSBOX_SOURCE_DIR) + "/tests/fixtures/resize.safetensors");
    auto at = [&](const std::string& k) -> const Tensor& {
      auto it = m.find(k);
      REQUIRE_MESSAGE(it != m.end(), "fixture key " << k);
      return it->second;
    };
    int cases = 0;
    for (DType dt : {kFloat64, kFloat32}) {
      const double tol = dt == kFloat64 ? 1e-12 : 2e-5;
      for (const char* kind : {"aavg", "amax", "interp"}) {
        for (int n = 0;; ++n) {
          char name[32];
          std::snprintf(name, sizeof name, "%s%02d", kind, n);
          const std::string c = name;
          if (!m.count(c + ".params")) break;
          CAPTURE(c);
          CAPTURE(dtype_name(dt));
          const std::vector<int64_t> p = at(c + ".params").to_vector<int64_t>();
          Tensor x = at(c + ".input").to(dt).detach().requires_grad_(true);
          Tensor y;
          if (c[1] == 'a') {
            y = F::adaptive_avg_pool2d(x, {p[0], p[1]});
          } else if (c[1] == 'm') {
            auto [v, idx] = F::adaptive_max_pool2d_with_indices(x, {p[0], p[1]});
            CHECK(idx.to_vector<int64_t>() == at(c + ".indices").to_vector<int64_t>());
            y = v;
          } else {
            auto o = F::InterpolateFuncOptions().mode(p[0] ? nn::kBilinear : nn::kNearest);
            if (p[1] >= 0) o.align_corners(p[1] == 1);
            if (p[2] > 0) {
              o.size({p[2], p[3]});
            } else {
              o.scale_factor(at(c + ".scale").to_vector<double>());
            }
            if (p[4]) o.recompute_scale_factor(true);
            y = interp(x, o);
          }
          y.backward(at(c + ".grad_out").to(dt));
          const Tensor& want = at(c + ".output");
          REQUIRE(y.shape() == want.shape());
          CHECK(allclose(y.to(kFloat64), want, tol, tol));
          // PyTorch 1.13's nearest backward copies where out == in, while its NCHW forward
          // applies 1 / scale_factor there (interp07): its gradient is not its forward's.
          // Ours is (gradcheck above), so the grad is compared only where PyTorch agrees.
          const bool torch_inconsistent = c[0] == 'i' && p[0] == 0 && p[2] == 0 &&
                                          (y.size(2) == x.size(2) || y.size(3) == x.size(3));
          if (!torch_inconsistent)
            CHECK(allclose(x.grad().to(kFloat64), at(c + ".grad_input"), tol, tol));
          ++cases;
        }
      }
    }
    CHECK(cases == 2 * (8 + 8 + 19));
  }
}
