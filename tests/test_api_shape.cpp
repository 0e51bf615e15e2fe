// The functional API's argument shapes: F:: pooling takes the modules' int-or-pair arguments,
// and ConvParams::padding reads like PyTorch's (one value, (height, width), or
// (top, bottom, left, right)); PyTorch fixtures from tests/fixtures/make_api_shape_fixtures.py.
#include <doctest/doctest.h>

#include <array>
#include <string>
#include <type_traits>
#include <vector>

#include "glassbox.h"

using namespace glassbox;
using doctest::Contains;
using F::ConvParams;
using nn::Padding2d;

namespace {

TensorMap fixture() {
  return load_safetensors(std::string(GLASSBOX_SOURCE_DIR) +
                          "/tests/fixtures/api_shape.safetensors");
}

double max_diff(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  return abs(a - b).max().item();
}

// Three values are neither a padding nor anything that converts to one.
static_assert(!std::is_constructible_v<Padding2d, int, int, int>);
static_assert(std::is_constructible_v<Padding2d, int, int>);
static_assert(std::is_constructible_v<Padding2d, int, int, int, int>);
static_assert(!std::is_convertible_v<std::vector<int64_t>, Padding2d>);  // explicit: it may throw

}  // namespace

TEST_SUITE("api_shape") {
  TEST_CASE("F:: pooling takes one number or one per dim, as PyTorch and the modules do") {
    const TensorMap m = fixture();
    const Tensor x = m.at("pool.input");
    const Tensor max_int = F::max_pool2d(x, 3, 2, 1);
    CHECK(max_diff(max_int, m.at("pool.max_3_2_1")) < 1e-12);
    CHECK(equal(max_int, F::max_pool2d(x, {3, 3}, {2, 2}, {1, 1})));
    CHECK(equal(max_int, F::max_pool2d(x, {3}, {2}, {1})));  // one-element lists repeat
    const Tensor avg = F::avg_pool2d(x, {3, 3}, 2);
    CHECK(max_diff(avg, m.at("pool.avg_33_2")) < 1e-12);
    CHECK(equal(avg, F::avg_pool2d(x, 3, {2, 2}, 0)));
    // the std::array callers of before still compile and mean the same
    const std::array<int64_t, 2> k{3, 3}, s{2, 2}, p{1, 1};
    CHECK(equal(max_int, F::max_pool2d(x, k, s, p)));
    // stride defaults to the kernel
    CHECK(equal(F::max_pool2d(x, 2), F::max_pool2d(x, 2, 2)));
    CHECK(F::avg_pool2d(x, {2, 4}).shape() == Shape{2, 3, 3, 2});
    // the module and the functional form agree
    CHECK(equal(nn::MaxPool2d(nn::MaxPool2dOptions(3).stride(2).padding(1))(x), max_int));
    CHECK_THROWS_WITH_AS(F::max_pool2d(x, {3, 3, 3}), Contains("expected 2 values"), Error);
    CHECK_THROWS_WITH_AS(F::max_pool2d(x, 3, 2, 2),
                         Contains("max_pool2d: padding should be at most"), Error);
  }

  TEST_CASE("Padding2d: one value, (height, width), or (top, bottom, left, right)") {
    ConvParams p;
    CHECK(p.padding.array() == std::array<int64_t, 4>{0, 0, 0, 0});
    p.padding = 2;
    CHECK(p.padding.array() == std::array<int64_t, 4>{2, 2, 2, 2});
    p.padding = {1, 2};  // (h, w), as PyTorch's padding=(1, 2): not (top 1, bottom 2)
    CHECK(p.padding.array() == std::array<int64_t, 4>{1, 1, 2, 2});
    CHECK(p.padding.top() == 1);
    CHECK(p.padding.left() == 2);
    p.padding = {3};
    CHECK(p.padding.array() == std::array<int64_t, 4>{3, 3, 3, 3});
    p.padding = {1, 0, 2, 3};
    CHECK(p.padding[0] == 1);
    CHECK(p.padding[1] == 0);
    CHECK(p.padding[2] == 2);
    CHECK(p.padding[3] == 3);
    p.padding[1] = 5;  // the conv code's indexing still writes
    CHECK(p.padding.bottom() == 5);
    CHECK(ConvParams().set_padding(1, 2).padding == Padding2d(1, 1, 2, 2));
    CHECK(ConvParams().set_padding(1, 2, 3, 4).padding == Padding2d(1, 2, 3, 4));
    CHECK(Padding2d(std::vector<int64_t>{4, 5}) == Padding2d(4, 4, 5, 5));
    CHECK(Padding2d(std::vector<int64_t>{4}) == Padding2d(4));
    CHECK(Padding2d(std::vector<int64_t>{1, 2, 3, 4}) == Padding2d(1, 2, 3, 4));
    // the module's (h, w) padding becomes the same four
    nn::Conv2d conv(nn::Conv2dOptions(2, 3, 3).padding({1, 2}));
    CHECK(conv->params().padding == Padding2d(1, 2));
  }

  TEST_CASE("bad padding sizes throw, naming the op and the count") {
    for (const std::vector<int64_t>& bad : {std::vector<int64_t>{}, {1, 2, 3}, {1, 2, 3, 4, 5}}) {
      INFO(bad.size(), " values");
      const std::string want =
          "conv2d/conv_transpose2d: padding takes 1 value (all sides), 2 (height, width) or 4 "
          "(top, bottom, left, right), got " +
          std::to_string(bad.size()) + " values";
      CHECK_THROWS_WITH_AS(Padding2d{bad}, Contains(want.c_str()), Error);
    }
    const Tensor x = zeros({1, 1, 4, 4}), w = zeros({1, 1, 3, 3});
    ConvParams neg;
    neg.padding = {0, -1};
    CHECK_THROWS_WITH_AS(F::conv2d(x, w, Tensor(), neg),
                         Contains("conv2d: padding must be non-negative, got (top 0, bottom 0, "
                                  "left -1, right -1)"),
                         Error);
  }

  TEST_CASE("two-element padding = (h, w): matches explicit four and PyTorch's padding=(1, 2)") {
    const TensorMap m = fixture();
    const Tensor b = m.at("conv.bias");
    ConvParams hw, four;
    hw.padding = {1, 2};
    four.padding = {1, 1, 2, 2};
    for (F::ConvAlgo algo :
         {F::ConvAlgo::Direct, F::ConvAlgo::Im2col, F::ConvAlgo::ShiftGemm, F::ConvAlgo::Flat}) {
      INFO(F::conv_algo_name(algo));
      hw.algo = four.algo = algo;
      Tensor x = m.at("conv.input").detach().requires_grad_();
      Tensor w = m.at("conv.weight").detach().requires_grad_();
      Tensor y = F::conv2d(x, w, b, hw);
      CHECK(y.shape() == Shape{2, 3, 5, 8});
      CHECK(equal(y, F::conv2d(x, w, b, four)));
      CHECK(max_diff(y, m.at("conv.output")) < 1e-10);
      y.backward(m.at("conv.grad_out"));
      CHECK(max_diff(x.grad(), m.at("conv.grad_input")) < 1e-10);
      CHECK(max_diff(w.grad(), m.at("conv.grad_weight")) < 1e-10);
    }
    ConvParams t;
    t.set_stride(2).padding = {1, 2};
    const Tensor yt = F::conv_transpose2d(m.at("convt.input"), m.at("convt.weight"), Tensor(), t);
    CHECK(max_diff(yt, m.at("convt.output")) < 1e-10);
  }
}
