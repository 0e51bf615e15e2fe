// The device-generic suite for convolution: conv2d and conv_transpose2d on the device under
// test against the CPU, forward and the gradients of input, weight and bias, for every
// algorithm that has a CUDA version (direct, flat = the tiled few-channel kernels, im2col +
// cuBLAS, and Auto's pick) over geometries chosen to hit the kernels' edges: strides,
// asymmetric and 'same' padding, dilation, groups (depthwise too), 1x1 and kernels larger
// than the image, no bias, planes wider and taller than one 16x16 tile, more channels per
// group than the tiles hold in registers (those run Direct's kernels), output_padding.
#include "device_harness.h"
#include "filters.h"

namespace {
namespace nf = nn::functional;
using nf::ConvAlgo;
using nf::ConvParams;

struct Geometry {
  std::string name;
  Shape x, w;
  ConvParams params;
  bool bias = true;
  bool transposed = false;
};

ConvParams padded(int64_t top, int64_t bottom, int64_t left, int64_t right) {
  ConvParams p;
  p.padding = {top, bottom, left, right};
  return p;
}

std::vector<Geometry> geometries() {
  return {
      {"3->4 3x3 pad 1", {2, 3, 7, 9}, {4, 3, 3, 3}, ConvParams().set_padding(1)},
      {"stride 2, asymmetric padding",
       {2, 3, 9, 8},
       {5, 3, 3, 2},
       padded(1, 0, 2, 1).set_stride(2)},
      {"stride (1,2)", {1, 2, 8, 11}, {3, 2, 3, 3}, ConvParams().set_stride(1, 2).set_padding(1)},
      {"dilation 2", {1, 2, 11, 10}, {3, 2, 3, 3}, ConvParams().set_dilation(2).set_padding(2)},
      {"groups 2", {2, 4, 6, 7}, {6, 2, 3, 3}, ConvParams().set_groups(2).set_padding(1)},
      {"depthwise 5x5", {1, 3, 9, 8}, {3, 1, 5, 5}, ConvParams().set_groups(3).set_padding(2)},
      {"1x1", {3, 5, 4, 4}, {7, 5, 1, 1}, ConvParams()},
      {"no bias", {2, 2, 6, 6}, {3, 2, 3, 3}, ConvParams().set_padding(1), false},
      {"'same' with an even kernel", {1, 3, 7, 6}, {2, 3, 4, 4}, padded(1, 2, 1, 2)},
      {"kernel larger than the image", {1, 2, 3, 4}, {2, 2, 5, 5}, ConvParams().set_padding(2)},
      {"planes over several tiles", {1, 2, 35, 20}, {3, 2, 3, 3}, ConvParams().set_padding(1)},
      {"notebook-like 1->3 on 28x28", {3, 1, 28, 28}, {3, 1, 3, 3}, ConvParams()},
      {"20->24 channels (the tiles' widest registers)",
       {1, 20, 5, 6},
       {24, 20, 3, 3},
       ConvParams().set_padding(1)},
      {"34->33 channels (past the tiles' registers)", {1, 34, 3, 3}, {33, 34, 1, 1}, ConvParams()},
      {"transposed, stride 2, output_padding 1",
       {2, 3, 5, 4},
       {3, 2, 3, 3},
       ConvParams().set_stride(2).set_padding(1).set_output_padding(1),
       true,
       true},
      {"transposed, groups 2, dilation 2",
       {1, 4, 5, 6},
       {4, 3, 3, 3},
       ConvParams().set_groups(2).set_dilation(2).set_padding(1),
       true,
       true},
      {"transposed, no bias, stride (2,3)",
       {1, 2, 4, 3},
       {2, 3, 2, 3},
       ConvParams().set_stride(2, 3),
       false,
       true},
  };
}

int64_t bias_size(const Geometry& g) {
  // conv2d: C_out = w[0]; conv_transpose2d: C_out = w[1] * groups
  return g.transposed ? g.w[1] * g.params.groups : g.w[0];
}

std::vector<Case> conv_cases(ConvAlgo algo) {
  std::vector<Case> c;
  for (const Geometry& g : geometries()) {
    ConvParams p = g.params;
    p.set_algo(algo);
    std::vector<In> inputs = {{g.x}, {g.w}};
    if (g.bias) inputs.push_back({{bias_size(g)}});
    const bool transposed = g.transposed;
    c.push_back({str(nf::conv_algo_name(algo), ": ", g.name), kFloats, inputs,
                 [p, transposed](Inputs in) {
                   const Tensor b = in.size() > 2 ? in[2] : Tensor();
                   return transposed ? nf::conv_transpose2d(in[0], in[1], b, p)
                                     : nf::conv2d(in[0], in[1], b, p);
                 },
                 Kind::Reduce, Kind::Reduce});
  }
  return c;
}

}  // namespace

TEST_SUITE("device_conv") {
  TEST_CASE("conv2d and conv_transpose2d on the device match the CPU, every algorithm") {
    if (!have_cuda("convolution")) return;
    for (ConvAlgo a : {ConvAlgo::Direct, ConvAlgo::Flat, ConvAlgo::Im2col, ConvAlgo::Auto}) {
      INFO("algorithm ", nf::conv_algo_name(a));
      run_table(str("conv ", nf::conv_algo_name(a)).c_str(), conv_cases(a));
    }
  }

  TEST_CASE("a strided, non-contiguous input convolves like its contiguous copy") {
    if (!have_cuda("strided conv input")) return;
    manual_seed(3);
    Tensor x = randn({2, 9, 3, 8}).permute({0, 2, 1, 3});  // [2, 3, 9, 8], not contiguous
    Tensor w = randn({4, 3, 3, 3}), b = randn({4});
    for (ConvAlgo a : {ConvAlgo::Flat, ConvAlgo::Im2col}) {
      const ConvParams p = ConvParams().set_padding(1).set_algo(a);
      Tensor want = nf::conv2d(x, w, b, p);
      Tensor got = nf::conv2d(on_device(x), on_device(w), on_device(b), p);
      Diff d = compare(got, want, tol_for(Kind::Reduce, kFloat32));
      CHECK_MESSAGE(d.ok, nf::conv_algo_name(a), ": ", d.msg);
    }
  }

  TEST_CASE("the notebook's image filters on the device match the CPU, every algorithm") {
    if (!have_cuda("filters")) return;
    manual_seed(5);
    const Tensor image = rand({1, 3, 37, 50}) * 255.0;  // an RGB image, odd sizes
    for (const char* kernel : {"emboss", "sharpen", "edge"})
      for (bool same : {false, true})
        for (ConvAlgo a : {ConvAlgo::Direct, ConvAlgo::Flat, ConvAlgo::Im2col, ConvAlgo::Auto}) {
          INFO(kernel, same ? " same " : " valid ", nf::conv_algo_name(a));
          const filters::Kernel3 k = filters::parse_kernel(kernel);
          const Tensor got = filters::apply(on_device(image), k, same, a);
          CHECK(got.device() == kDev);
          const Diff d =
              compare(got, filters::apply(image, k, same, a), tol_for(Kind::Reduce, kFloat32));
          CHECK_MESSAGE(d.ok, d.msg);
        }
  }

  TEST_CASE("Auto on CUDA picks the tiles for few channels and im2col for wide layers") {
    const ConvParams p;
    CHECK(nf::conv_algo_for({1000, 1, 28, 28}, {3, 1, 3, 3}, p, false, kCUDA) == ConvAlgo::Flat);
    CHECK(nf::conv_algo_for({1000, 6, 10, 10}, {6, 6, 3, 3}, ConvParams().set_stride(2), false,
                            kCUDA) == ConvAlgo::Flat);
    CHECK(nf::conv_algo_for({8, 64, 14, 14}, {64, 64, 3, 3}, ConvParams(), false, kCUDA) ==
          ConvAlgo::Im2col);
    // the CPU's rule is unchanged by the device argument's default
    CHECK(nf::conv_algo_for({8, 64, 14, 14}, {64, 64, 3, 3}, ConvParams()) == ConvAlgo::ShiftGemm);
  }

  TEST_CASE("shiftgemm on a CUDA tensor is an error naming the algorithms that exist there") {
    if (!have_cuda("shiftgemm refusal") || GB_TEST_DEVICE_IS_CPU) return;
    Tensor x = zeros({1, 2, 5, 5}).to(kDev), w = zeros({2, 2, 3, 3}).to(kDev);
    CHECK_THROWS_WITH_AS(nf::conv2d(x, w, Tensor(), ConvParams().set_algo(ConvAlgo::ShiftGemm)),
                         Contains("conv2d: the shiftgemm algorithm has no CUDA version; on cuda:0 "
                                  "use auto, flat, im2col or direct"),
                         Error);
  }

  TEST_CASE("a conv weight on another device than its input is an error naming both") {
    if (!have_cuda("conv device mismatch") || GB_TEST_DEVICE_IS_CPU) return;
    Tensor x = zeros({1, 2, 5, 5}).to(kDev), w = zeros({2, 2, 3, 3});
    CHECK_THROWS_WITH_AS(nf::conv2d(x, w), Contains("cuda:0 and cpu"), Error);
  }
}
