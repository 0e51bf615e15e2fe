// The device-generic suite for adaptive pooling and interpolate (kernels: core/cpu/nn_resize.cpp
// and cuda/nn_resize.cu): every case runs on the device under test and on the CPU, forward and
// backward (device_harness.h). Shapes are odd on purpose: bins that do not divide the input,
// more outputs than inputs, 1-wide planes, scale factors whose 1 / scale_factor differs from
// in / out, strided inputs, and one multi-block case per op.
#include "device_harness.h"

namespace {

namespace nnf = nn::functional;

Tensor interp(const Tensor& x, const nnf::InterpolateFuncOptions& o) {
  return nnf::interpolate(x, o);
}

std::vector<Case> adaptive_cases() {
  struct A {
    std::string name;
    Shape shape;
    std::array<int64_t, 2> out;
  };
  const std::vector<A> as = {
      {"[2,3,5,7] -> (3,4)", {2, 3, 5, 7}, {3, 4}},
      {"[1,2,7,5] -> (2,3)", {1, 2, 7, 5}, {2, 3}},
      {"[3,4,5] -> (5,7) upsampling bins", {3, 4, 5}, {5, 7}},
      {"[2,3,9,6] -> (1,1) global", {2, 3, 9, 6}, {1, 1}},
      {"[1,1,1,9] -> (1,4)", {1, 1, 1, 9}, {1, 4}},
      {"multi-block [4,8,33,31] -> (7,5)", {4, 8, 33, 31}, {7, 5}},
  };
  std::vector<Case> c;
  // The backward gathers add the CPU's terms in the CPU's order: bit for bit.
  for (const A& a : as) {
    c.push_back({"adaptive_avg_pool2d " + a.name,
                 kFloats,
                 {{a.shape}},
                 [a](Inputs x) { return nnf::adaptive_avg_pool2d(x[0], a.out); },
                 Kind::Reduce,
                 Kind::Exact});
    c.push_back({"adaptive_max_pool2d " + a.name,
                 kFloats,
                 {{a.shape}},
                 [a](Inputs x) { return nnf::adaptive_max_pool2d(x[0], a.out); },
                 Kind::Exact,
                 Kind::Exact});
  }
  c.push_back({"adaptive_max_pool2d ties [2,3,6,7] -> (4,3)",
               kFloats,
               {{{2, 3, 6, 7}, Init::Ints}},
               [](Inputs x) {
                 return nnf::adaptive_max_pool2d(x[0], {4, 3});
               },
               Kind::Exact,
               Kind::Exact});
  c.push_back({"adaptive_max_pool2d NaN [2,3,6,7] -> (4,3)",
               kFloats,
               {{{2, 3, 6, 7}, Init::NaNs}},
               [](Inputs x) {
                 return nnf::adaptive_max_pool2d(x[0], {4, 3});
               },
               Kind::Exact,
               Kind::Skip});
  c.push_back({"adaptive_max_pool2d indices [2,3,6,7] -> (4,3)",
               kFloats,
               {{{2, 3, 6, 7}}},
               [](Inputs x) {
                 return nnf::adaptive_max_pool2d_with_indices(x[0], {4, 3}).second;
               },
               Kind::Exact,
               Kind::Skip});
  c.push_back({"adaptive_avg_pool2d strided input",
               kFloats,
               {{{9, 2, 3, 7}}},
               [](Inputs x) {
                 return nnf::adaptive_avg_pool2d(x[0].permute({1, 0, 2, 3}), {2, 4});
               },
               Kind::Reduce,
               Kind::Exact});
  return c;
}

std::vector<Case> interpolate_cases() {
  using O = nnf::InterpolateFuncOptions;
  struct I {
    std::string name;
    Shape shape;
    O opts;
  };
  const O bl = O().mode(nn::kBilinear);
  const std::vector<I> is = {
      {"nearest size [2,3,4,5] -> (7,9)", {2, 3, 4, 5}, O().size({7, 9})},
      {"nearest x2 [1,2,5,3]", {1, 2, 5, 3}, O().scale_factor(2.0)},
      {"nearest sf (1.7, 2.3) [1,2,5,7]", {1, 2, 5, 7}, O().scale_factor({1.7, 2.3})},
      {"nearest down sf (0.6, 0.75) [1,2,7,9]", {1, 2, 7, 9}, O().scale_factor({0.6, 0.75})},
      {"nearest recompute [1,2,5,7]",
       {1, 2, 5, 7},
       O().scale_factor({1.7, 2.3}).recompute_scale_factor(true)},
      {"bilinear size [2,3,4,5] -> (7,9)", {2, 3, 4, 5}, O(bl).size({7, 9})},
      {"bilinear align_corners [2,3,4,5] -> (7,9)",
       {2, 3, 4, 5},
       O(bl).size({7, 9}).align_corners(true)},
      {"bilinear down [1,2,9,7] -> (4,3)", {1, 2, 9, 7}, O(bl).size({4, 3})},
      {"bilinear align_corners one row [1,2,3,3] -> (1,5)",
       {1, 2, 3, 3},
       O(bl).size({1, 5}).align_corners(true)},
      {"bilinear sf (1.7, 2.3) [1,2,5,7]", {1, 2, 5, 7}, O(bl).scale_factor({1.7, 2.3})},
      {"bilinear out == in [1,2,2,3]", {1, 2, 2, 3}, O(bl).scale_factor({1.3, 1.2})},
      {"bilinear one input row [1,2,1,4] -> (3,8)", {1, 2, 1, 4}, O(bl).size({3, 8})},
      {"multi-block bilinear [2,8,31,33] -> (64,63)", {2, 8, 31, 33}, O(bl).size({64, 63})},
      {"multi-block nearest [2,8,31,33] -> (64,63)", {2, 8, 31, 33}, O().size({64, 63})},
  };
  std::vector<Case> c;
  for (const I& i : is) {
    const bool nearest = i.opts.mode() == nnf::InterpolateMode::Nearest;
    // nearest is a copy forward and an exact-order gather backward
    c.push_back({"interpolate " + i.name,
                 kFloats,
                 {{i.shape}},
                 [o = i.opts](Inputs x) { return interp(x[0], o); },
                 nearest ? Kind::Exact : Kind::Pointwise,
                 nearest ? Kind::Exact : Kind::Reduce});
  }
  c.push_back({"interpolate bilinear strided input",
               kFloats,
               {{{9, 2, 3, 7}}},
               [](Inputs x) {
                 return interp(x[0].permute({1, 0, 2, 3}),
                               nnf::InterpolateFuncOptions().size({5, 11}).mode(nn::kBilinear));
               },
               Kind::Pointwise,
               Kind::Reduce});
  return c;
}

}  // namespace

TEST_SUITE("device_resize") {
  TEST_CASE("adaptive_avg_pool2d and adaptive_max_pool2d match the CPU") {
    if (!have_cuda("adaptive pooling")) return;
    run_table("adaptive pooling", adaptive_cases());
  }

  TEST_CASE("interpolate nearest and bilinear match the CPU") {
    if (!have_cuda("interpolate")) return;
    run_table("interpolate", interpolate_cases());
  }

  TEST_CASE("Upsample and AdaptiveAvgPool2d modules run on the device") {
    if (!have_cuda("resize modules")) return;
    nn::Upsample up(nn::UpsampleOptions().scale_factor(2).mode(nn::kBilinear));
    nn::AdaptiveAvgPool2d gap(1);
    Tensor x = randn({2, 3, 5, 4});
    Tensor want = gap(up(x));
    Tensor got = gap(up(on_device(x)));
    CHECK(got.device() == kDev);
    CHECK(allclose(got.to(kCPU), want, 1e-5, 1e-5));
  }
}
