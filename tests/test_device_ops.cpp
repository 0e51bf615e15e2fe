// The device-generic suite for sort/topk, var/std/norm, masked_select/masked_fill, x.index
// and randperm (the harness: device_harness.h): the device under test against the CPU,
// forward and backward. Sort rows of 1, 31, 33, 257 and 1000 cross the warp and block edges
// of the shared-memory bitonic network; rows of 2049 and 3000 take the global multi-pass
// path (cuda/kernels/sort.cuh). Indices must match the CPU's stable sort exactly, also on
// tied (Ints) and NaN data.
#include "device_harness.h"

namespace {

std::vector<Case> sort_cases() {
  std::vector<Case> c;
  const std::vector<Shape> rows = {{3, 1},    {4, 31},   {2, 33},  {3, 257},
                                   {2, 1000}, {2, 2049}, {1, 3000}};
  for (const Shape& s : rows) {
    const std::string tag = shape_str(s);
    c.push_back({"sort values " + tag,
                 kFloatsAndInt,
                 {{s}},
                 [](Inputs in) { return sort(in[0]).first; },
                 Kind::Exact,
                 Kind::Exact});
    c.push_back({"sort indices desc " + tag,
                 kFloatsAndInt,
                 {{s}},
                 [](Inputs in) { return sort(in[0], -1, true).second; },
                 Kind::Exact,
                 Kind::Skip});
    c.push_back({"sort ties " + tag,
                 kFloats,
                 {{s, Init::Ints}},
                 [](Inputs in) { return sort(in[0]).second; },
                 Kind::Exact,
                 Kind::Skip});
    c.push_back({"sort NaN desc " + tag,
                 kFloats,
                 {{s, Init::NaNs}},
                 [](Inputs in) { return sort(in[0], 1, true).second; },
                 Kind::Exact,
                 Kind::Skip});
    c.push_back({"topk " + tag,
                 kFloats,
                 {{s}},
                 [](Inputs in) { return topk(in[0], std::min<int64_t>(5, in[0].size(1))).first; },
                 Kind::Exact,
                 Kind::Exact});
  }
  c.push_back({"sort dim 0 of a transpose [33,5]",
               kFloats,
               {{{5, 33}}},
               [](Inputs in) { return sort(in[0].t(), 0).first; },
               Kind::Exact,
               Kind::Exact});
  c.push_back({"sort dim 1 of [2,40,3]",
               kFloatsAndInt,
               {{{2, 40, 3}}},
               [](Inputs in) { return sort(in[0], 1, true).second; },
               Kind::Exact,
               Kind::Skip});
  c.push_back({"topk smallest dim 0 [31,4]",
               kFloats,
               {{{31, 4}}},
               [](Inputs in) { return topk(in[0], 3, 0, false).first; },
               Kind::Exact,
               Kind::Exact});
  c.push_back({"sort empty rows [3,0]",
               kFloats,
               {{{3, 0}}},
               [](Inputs in) { return sort(in[0]).first; },
               Kind::Exact,
               Kind::Skip});
  return c;
}

std::vector<Case> stat_cases() {
  std::vector<Case> c;
  c.push_back({"var all [31,33]",
               kFloats,
               {{{31, 33}}},
               [](Inputs in) { return var(in[0]); },
               Kind::Reduce,
               Kind::Reduce});
  c.push_back({"var dim 1 biased [4,257]",
               kFloats,
               {{{4, 257}}},
               [](Inputs in) { return var(in[0], 1, false, true); },
               Kind::Reduce,
               Kind::Reduce});
  c.push_back({"std dims 0,2 [3,5,7]",
               kFloats,
               {{{3, 5, 7}}},
               [](Inputs in) {
                 return glassbox::std(in[0], {0, 2});
               },
               Kind::Reduce,
               Kind::Reduce});
  for (double p : {2.0, 1.0, 3.0, 0.5, 0.0}) {
    c.push_back({"norm p " + std::to_string(p) + " dim 1 [5,33]",
                 kFloats,
                 {{{5, 33}}},
                 [p](Inputs in) { return norm(in[0], p, 1); },
                 Kind::Reduce,
                 Kind::Reduce});
  }
  const double inf = std::numeric_limits<double>::infinity();
  c.push_back({"norm inf dim 0 [31,4]",
               kFloats,
               {{{31, 4}}},
               [inf](Inputs in) { return norm(in[0], inf, 0); },
               Kind::Reduce,
               Kind::Reduce});
  c.push_back({"norm -inf all [7,9]",
               kFloats,
               {{{7, 9}}},
               [inf](Inputs in) { return norm(in[0], -inf); },
               Kind::Reduce,
               Kind::Reduce});
  return c;
}

std::vector<Case> index_cases() {
  std::vector<Case> c;
  c.push_back({"masked_select [33,5]",
               kFloatsAndInt,
               {{{33, 5}}},
               [](Inputs in) { return masked_select(in[0], in[0] > 0.0); },
               Kind::Exact,
               Kind::Exact});
  c.push_back({"masked_select broadcast mask [4,257]",
               kFloats,
               {{{4, 257}}, idx({257}, 2)},
               [](Inputs in) { return masked_select(in[0], in[1] > 0.0); },
               Kind::Exact,
               Kind::Reduce});
  c.push_back({"masked_fill [31,33]",
               kFloatsAndInt,
               {{{31, 33}}},
               [](Inputs in) { return masked_fill(in[0], in[0] < 0.0, 7.0); },
               Kind::Exact,
               Kind::Exact});
  c.push_back({"masked_fill NaN, broadcast input [33]",
               kFloats,
               {{{33}}, idx({5, 33}, 2)},
               [](Inputs in) {
                 return masked_fill(in[0], in[1] > 0.0, std::numeric_limits<double>::quiet_NaN());
               },
               Kind::Exact,
               Kind::Reduce});
  c.push_back({"index rows by int64 [9,4]",
               kFloats,
               {{{9, 4}}, idx({3, 5}, 9)},
               [](Inputs in) { return in[0].index(in[1]); },
               Kind::Exact,
               Kind::Reduce});
  c.push_back({"index by leading mask [9,4]",
               kFloats,
               {{{9, 4}}, idx({9}, 2)},
               [](Inputs in) { return in[0].index(in[1] > 0.0); },
               Kind::Exact,
               Kind::Exact});
  c.push_back({"x[i] [5,3]",
               kFloats,
               {{{5, 3}}},
               [](Inputs in) { return in[0][-2] * in[0][1]; },
               Kind::Pointwise,
               Kind::Pointwise});
  return c;
}

using namespace device_test;

}  // namespace

TEST_SUITE("device_ops") {
  TEST_CASE("sort and topk match the CPU's stable sort, values and indices") {
    if (!have_cuda("sort")) return;
    run_table("sort", sort_cases());
  }

  TEST_CASE("var, std and norm match the CPU") {
    if (!have_cuda("stats")) return;
    run_table("stats", stat_cases());
  }

  TEST_CASE("masked_select, masked_fill and index match the CPU") {
    if (!have_cuda("index")) return;
    run_table("index", index_cases());
  }

  TEST_CASE("randperm gives the CPU's permutation on the device") {
    if (!have_cuda("randperm")) return;
    Generator a(11), b(11);
    Tensor host = randperm(1000, dtype(kInt64), &a);
    Tensor dev = randperm(1000, dtype(kInt64).set_device(kDev), &b);
    CHECK(dev.device() == kDev);
    CHECK(equal(dev.cpu(), host));
  }

  TEST_CASE("masked ops with the mask on another device are an error naming both") {
    if (!have_cuda("masked devices")) return;
    if (GB_TEST_DEVICE_IS_CPU) return;
    Tensor x = on_device(zeros({2, 3}));
    Tensor m = zeros({2, 3}) > 0.0;
    CHECK(error_of([&] { masked_fill(x, m, 1.0); }).find("masked_fill: the input is on") !=
          std::string::npos);
    CHECK(error_of([&] { masked_select(x, m); }).find("masked_select: the input is on") !=
          std::string::npos);
  }
}
