// The device-generic suite for the tensor ops (the harness: device_harness.h; the layers,
// convolutions and optimizers have suites of their own in test_device_*.cpp).
#include "device_harness.h"

namespace {

// A view applied to a contiguous leaf inside the case, so the op reads a strided operand and
// the backward goes through the view.
struct Layout {
  std::string name;
  Shape leaf;
  std::function<Tensor(const Tensor&)> view;
};
Tensor same(const Tensor& x) { return x; }

// Single-operand layouts: odd sizes, scalars, empty, and every kind of non-contiguous view.
std::vector<Layout> unary_layouts() {
  return {
      {"[257]", {257}, same},
      {"[1]", {1}, same},
      {"0-d", {}, same},
      {"empty [0,5]", {0, 5}, same},
      {"[33,31].t()", {33, 31}, [](const Tensor& x) { return x.t(); }},
      {"[3,5,7].permute(2,0,1)",
       {3, 5, 7},
       [](const Tensor& x) {
         return x.permute({2, 0, 1});
       }},
      {"[9,65].slice(1,1,64,2)", {9, 65}, [](const Tensor& x) { return x.slice(1, 1, 64, 2); }},
      {"[1,31].expand(4,31)",
       {1, 31},
       [](const Tensor& x) {
         return x.expand({4, 31});
       }},
      {"[4,255].select(0,2)", {4, 255}, [](const Tensor& x) { return x.select(0, 2); }},
  };
}

struct PairLayout {
  std::string name;
  Shape a, b;
  std::function<Tensor(const Tensor&)> va = same, vb = same;
};

// Two-operand layouts: broadcasting on every dim, scalars on either side, empty, strided.
std::vector<PairLayout> binary_layouts() {
  return {
      {"[31,33] . [31,33]", {31, 33}, {31, 33}},
      {"[4,1,5] . [1,3,1]", {4, 1, 5}, {1, 3, 1}},
      {"[7,1] . [7]", {7, 1}, {7}},
      {"0-d . [3,4]", {}, {3, 4}},
      {"[3,4] . 0-d", {3, 4}, {}},
      {"[257] . [1]", {257}, {1}},
      {"[2,3,1,5] . [3,4,1]", {2, 3, 1, 5}, {3, 4, 1}},
      {"empty [0,3] . [3]", {0, 3}, {3}},
      {"[33,31].t() . [31,33]", {33, 31}, {31, 33}, [](const Tensor& x) { return x.t(); }},
      {"[31,33] . [31,66].slice(1,0,66,2)",
       {31, 33},
       {31, 66},
       same,
       [](const Tensor& x) { return x.slice(1, 0, 66, 2); }},
      {"[3,1].expand(3,5) . [3,5]",
       {3, 1},
       {3, 5},
       [](const Tensor& x) {
         return x.expand({3, 5});
       }},
      {"[2,4,255].select(1,1) . [255]",
       {2, 4, 255},
       {255},
       [](const Tensor& x) { return x.select(1, 1); }},
  };
}

// --------------------------------------------------------------------------- case tables
std::vector<Case> elementwise_cases() {
  std::vector<Case> c;
  struct Unary {
    std::string name;
    std::function<Tensor(const Tensor&)> f;
    Init init;
    std::vector<DType> dts;
  };
  const std::vector<Unary> unary = {
      {"neg", [](const Tensor& x) { return neg(x); }, Init::Normal, kFloatsAndInt},
      {"-x", [](const Tensor& x) { return -x; }, Init::Normal, kFloatsAndInt},
      {"exp", [](const Tensor& x) { return exp(x); }, Init::Normal, kFloats},
      {"log", [](const Tensor& x) { return log(x); }, Init::Positive, kFloats},
      {"sqrt", [](const Tensor& x) { return sqrt(x); }, Init::Positive, kFloats},
      {"relu", [](const Tensor& x) { return relu(x); }, Init::Normal, kFloats},
      {"sigmoid", [](const Tensor& x) { return sigmoid(x); }, Init::Normal, kFloats},
      {"tanh", [](const Tensor& x) { return tanh(x); }, Init::Normal, kFloats},
      {"abs", [](const Tensor& x) { return abs(x); }, Init::Normal, kFloatsAndInt},
      {"pow 2", [](const Tensor& x) { return pow(x, 2.0); }, Init::Normal, kFloats},
      {"pow 0.5", [](const Tensor& x) { return pow(x, 0.5); }, Init::Positive, kFloats},
      {"pow -1.5", [](const Tensor& x) { return x.pow(-1.5); }, Init::Positive, kFloats},
      {"pow 3", [](const Tensor& x) { return x.pow(3.0); }, Init::Normal, kFloats},
      {"methods", [](const Tensor& x) { return x.abs().sqrt().exp().tanh().sigmoid().relu(); },
       Init::Normal, kFloats},
      {"x + 2", [](const Tensor& x) { return x + 2.0; }, Init::Normal, kFloatsAndInt},
      {"2 + x", [](const Tensor& x) { return 2.0 + x; }, Init::Normal, kFloatsAndInt},
      {"x - 1.5", [](const Tensor& x) { return x - 1.5; }, Init::Normal, kFloats},
      {"2 - x", [](const Tensor& x) { return 2.0 - x; }, Init::Normal, kFloatsAndInt},
      {"x * 3", [](const Tensor& x) { return x * 3.0; }, Init::Normal, kFloatsAndInt},
      {"3 * x", [](const Tensor& x) { return 3.0 * x; }, Init::Normal, kFloatsAndInt},
      {"x / 4", [](const Tensor& x) { return x / 4.0; }, Init::Normal, kFloats},
      {"3 / x", [](const Tensor& x) { return 3.0 / x; }, Init::AwayFromZero, kFloats},
      {"scalar_like", [](const Tensor& x) { return x * scalar_like(x, -2.0); }, Init::Normal,
       kFloatsAndInt},
  };
  for (const Unary& u : unary)
    for (const Layout& l : unary_layouts())
      c.push_back(
          {u.name + " " + l.name, u.dts, {{l.leaf, u.init}}, [f = u.f, v = l.view](Inputs x) {
             return f(v(x[0]));
           }});

  struct Binary {
    std::string name;
    std::function<Tensor(const Tensor&, const Tensor&)> f;
    Init ia, ib;
    std::vector<DType> dts;
  };
  const std::vector<Binary> binary = {
      {"add", [](const Tensor& a, const Tensor& b) { return add(a, b); }, Init::Normal,
       Init::Normal, kFloatsAndInt},
      {"a + b", [](const Tensor& a, const Tensor& b) { return a + b; }, Init::Normal, Init::Normal,
       kFloatsAndInt},
      {"sub", [](const Tensor& a, const Tensor& b) { return a - b; }, Init::Normal, Init::Normal,
       kFloatsAndInt},
      {"mul", [](const Tensor& a, const Tensor& b) { return mul(a, b); }, Init::Normal,
       Init::Normal, kFloatsAndInt},
      {"div", [](const Tensor& a, const Tensor& b) { return a / b; }, Init::Normal,
       Init::AwayFromZero, kFloats},
      {"pow", [](const Tensor& a, const Tensor& b) { return pow(a, b); }, Init::Positive,
       Init::Normal, kFloats},
      {"maximum", [](const Tensor& a, const Tensor& b) { return maximum(a, b); }, Init::Normal,
       Init::Normal, kFloatsAndInt},
      {"minimum", [](const Tensor& a, const Tensor& b) { return minimum(a, b); }, Init::Normal,
       Init::Normal, kFloatsAndInt},
  };
  for (const Binary& b : binary)
    for (const PairLayout& l : binary_layouts())
      c.push_back({b.name + " " + l.name,
                   b.dts,
                   {{l.a, b.ia}, {l.b, b.ib}},
                   [f = b.f, va = l.va, vb = l.vb](Inputs x) { return f(va(x[0]), vb(x[1])); }});
  // multi-block: ~100k outputs, the smaller operand broadcast along rows
  c.push_back({"add [300,333] + [333]", kFloats, {{{300, 333}}, {{333}}}, [](Inputs x) {
                 return x[0] + x[1];
               }});
  c.push_back({"mul [300,333] * [300,1]", kFloats, {{{300, 333}}, {{300, 1}}}, [](Inputs x) {
                 return x[0] * x[1];
               }});
  // NaN propagates through maximum/minimum whichever side it is on (forward only)
  c.push_back({"maximum NaN",
               kFloats,
               {{{5, 9}, Init::NaNs}, {{5, 9}}},
               [](Inputs x) { return maximum(x[0], x[1]); },
               Kind::Pointwise,
               Kind::Skip});
  c.push_back({"minimum NaN on the right",
               kFloats,
               {{{5, 9}}, {{5, 9}, Init::NaNs}},
               [](Inputs x) { return minimum(x[0], x[1]); },
               Kind::Pointwise,
               Kind::Skip});
  // one input used twice: both gradient paths accumulate into one leaf
  c.push_back({"x * x + x", kFloats, {{{33}}}, [](Inputs x) { return x[0] * x[0] + x[0]; }});
  // dtype conversion inside the graph (ToDtypeBackward converts the gradient back)
  c.push_back({"to other float dtype", kFloats, {{{31, 3}}}, [](Inputs x) {
                 const DType other = x[0].dtype() == kFloat32 ? kFloat64 : kFloat32;
                 // exact arithmetic after the conversion: a float32 exp would be held to the
                 // float64 tolerance (vectorised expf and the device's differ by an ulp)
                 return x[0].t().to(other) * 2.0 + 1.0;
               }});

  // comparisons: bool results; integer-valued inputs so that == and != see equal pairs
  struct Cmp {
    std::string name;
    std::function<Tensor(const Tensor&, const Tensor&)> f;
  };
  const std::vector<Cmp> cmps = {
      {"eq", [](const Tensor& a, const Tensor& b) { return eq(a, b); }},
      {"ne", [](const Tensor& a, const Tensor& b) { return a != b; }},
      {"lt", [](const Tensor& a, const Tensor& b) { return lt(a, b); }},
      {"le", [](const Tensor& a, const Tensor& b) { return a <= b; }},
      {"gt", [](const Tensor& a, const Tensor& b) { return a > b; }},
      {"ge", [](const Tensor& a, const Tensor& b) { return ge(a, b); }},
  };
  const std::vector<PairLayout> cmp_layouts = {
      {"[31,33] . [31,33]", {31, 33}, {31, 33}},
      {"[4,1,5] . [1,3,1]", {4, 1, 5}, {1, 3, 1}},
      {"0-d . [3,4]", {}, {3, 4}},
      {"empty [0,3] . [3]", {0, 3}, {3}},
      {"[33,31].t() . [31,33]", {33, 31}, {31, 33}, [](const Tensor& x) { return x.t(); }},
  };
  for (const Cmp& k : cmps)
    for (const PairLayout& l : cmp_layouts)
      c.push_back({k.name + " " + l.name,
                   kFloatsAndInt,
                   {{l.a, Init::Ints}, {l.b, Init::Ints}},
                   [f = k.f, va = l.va, vb = l.vb](Inputs x) { return f(va(x[0]), vb(x[1])); },
                   Kind::Exact,
                   Kind::Skip});
  const std::vector<Unary> scalar_cmps = {
      {"x == 1", [](const Tensor& x) { return x == 1.0; }, Init::Ints, kFloatsAndInt},
      {"x != 0", [](const Tensor& x) { return x != 0.0; }, Init::Ints, kFloatsAndInt},
      {"x < 1", [](const Tensor& x) { return x < 1.0; }, Init::Ints, kFloatsAndInt},
      {"x <= -1", [](const Tensor& x) { return x <= -1.0; }, Init::Ints, kFloatsAndInt},
      {"x > 2", [](const Tensor& x) { return x > 2.0; }, Init::Ints, kFloatsAndInt},
      {"x >= 0", [](const Tensor& x) { return x >= 0.0; }, Init::Ints, kFloatsAndInt},
  };
  for (const Unary& u : scalar_cmps)
    c.push_back({u.name + " [33,31].t()",
                 kFloatsAndInt,
                 {{{33, 31}, Init::Ints}},
                 [f = u.f](Inputs x) { return f(x[0].t()); },
                 Kind::Exact,
                 Kind::Skip});
  return c;
}

std::vector<Case> reduction_cases() {
  std::vector<Case> c;
  struct Spec {
    Layout l;
    std::vector<int64_t> dims;
    bool keepdim;
  };
  const Layout l345{"[3,4,5]", {3, 4, 5}, same};
  const Layout lt{"[33,31].t()", {33, 31}, [](const Tensor& x) { return x.t(); }};
  const Layout lempty{"empty [0,4]", {0, 4}, same};
  const std::vector<Spec> specs = {
      {l345, {}, false},
      {l345, {1}, false},
      {l345, {1}, true},
      {l345, {0, 2}, false},
      {l345, {0, 2}, true},
      {l345, {-1}, false},
      {l345, {-3, -1}, true},
      {{"[257]", {257}, same}, {}, false},
      {{"[257]", {257}, same}, {0}, true},
      {{"[1]", {1}, same}, {}, false},
      {{"0-d", {}, same}, {}, false},
      {lt, {0}, false},
      {lt, {1}, true},
      {lt, {}, false},
      {{"[9,65].slice(1,1,64,2)", {9, 65}, [](const Tensor& x) { return x.slice(1, 1, 64, 2); }},
       {},
       false},
      {{"[1,31].expand(4,31)",
        {1, 31},
        [](const Tensor& x) {
          return x.expand({4, 31});
        }},
       {0},
       false},
      {{"[2,3,4,5].permute(3,1,0,2)",
        {2, 3, 4, 5},
        [](const Tensor& x) {
          return x.permute({3, 1, 0, 2});
        }},
       {1, 3},
       false},
      {lempty, {0}, false},
      {lempty, {1}, true},
      {lempty, {}, false},
      // multi-block and multi-pass: one output from 100k inputs, and a column and a row sum
      {{"[100003]", {100003}, same}, {}, false},
      {{"[255,393]", {255, 393}, same}, {0}, false},
      {{"[255,393]", {255, 393}, same}, {1}, true},
  };
  auto dims_str = [](const Spec& s) {
    std::string d = "{";
    for (size_t i = 0; i < s.dims.size(); ++i) d += (i ? "," : "") + std::to_string(s.dims[i]);
    return d + "}" + (s.keepdim ? " keepdim" : "");
  };
  for (const Spec& s : specs) {
    c.push_back({"sum " + s.l.name + " " + dims_str(s),
                 kFloatsAndInt,
                 {{s.l.leaf}},
                 [s](Inputs x) { return sum(s.l.view(x[0]), s.dims, s.keepdim); },
                 Kind::Reduce});
    c.push_back({"mean " + s.l.name + " " + dims_str(s),
                 kFloats,
                 {{s.l.leaf}},
                 [s](Inputs x) { return mean(s.l.view(x[0]), s.dims, s.keepdim); },
                 Kind::Reduce});
  }
  c.push_back({"Tensor::sum/mean methods",
               kFloats,
               {{{3, 4, 5}}},
               [](Inputs x) { return x[0].sum({1}) + x[0].mean({1}) + x[0].sum() + x[0].mean(); },
               Kind::Reduce});

  // max/min over everything: the gradient goes to the winner (shared evenly among ties)
  const std::vector<Layout> all_layouts = {
      {"[257]", {257}, same},
      {"[1]", {1}, same},
      {"0-d", {}, same},
      lt,
      {"[9,65].slice(1,1,64,2)", {9, 65}, [](const Tensor& x) { return x.slice(1, 1, 64, 2); }},
      {"[100003]", {100003}, same},
  };
  for (const Layout& l : all_layouts) {
    c.push_back({"max all " + l.name,
                 kFloatsAndInt,
                 {{l.leaf}},
                 [v = l.view](Inputs x) { return max(v(x[0])); },
                 Kind::Exact});
    c.push_back({"min all " + l.name,
                 kFloatsAndInt,
                 {{l.leaf}},
                 [v = l.view](Inputs x) { return v(x[0]).min(); },
                 Kind::Exact});
  }
  c.push_back({"max all ties [31,33]",
               kFloatsAndInt,
               {{{31, 33}, Init::Ints}},
               [](Inputs x) { return x[0].max(); },
               Kind::Exact});
  c.push_back({"min all ties [31,33]",
               kFloatsAndInt,
               {{{31, 33}, Init::Ints}},
               [](Inputs x) { return min(x[0]); },
               Kind::Exact});
  c.push_back({"max all NaN [5,9]",
               kFloats,
               {{{5, 9}, Init::NaNs}},
               [](Inputs x) { return max(x[0]); },
               Kind::Exact,
               Kind::Skip});
  c.push_back({"min all NaN [5,9]",
               kFloats,
               {{{5, 9}, Init::NaNs}},
               [](Inputs x) { return min(x[0]); },
               Kind::Exact,
               Kind::Skip});

  // max/min over a dim: values (differentiable) and indices (ties take the first)
  struct DimSpec {
    Layout l;
    int64_t dim;
    bool keepdim;
    Init init;
  };
  const std::vector<DimSpec> dim_specs = {
      {{"[31,33]", {31, 33}, same}, 0, false, Init::Normal},
      {{"[31,33]", {31, 33}, same}, 1, true, Init::Normal},
      {{"[31,33]", {31, 33}, same}, -1, false, Init::Normal},
      {l345, 1, true, Init::Normal},
      {lt, 0, false, Init::Normal},
      {{"[257]", {257}, same}, 0, false, Init::Normal},
      {{"0-d", {}, same}, 0, false, Init::Normal},
      {{"[4,0]", {4, 0}, same}, 0, false, Init::Normal},
      {{"ties [9,31]", {9, 31}, same}, 0, false, Init::Ints},
      {{"ties [9,31]", {9, 31}, same}, 1, true, Init::Ints},
      {{"ties [33,9].t()", {33, 9}, [](const Tensor& x) { return x.t(); }}, 1, false, Init::Ints},
      {{"[255,393]", {255, 393}, same}, 1, false, Init::Normal},
  };
  for (const DimSpec& s : dim_specs) {
    const std::string what = s.l.name + " dim " + std::to_string(s.dim) +
                             (s.keepdim ? " keepdim" : "") +
                             (s.init == Init::Ints ? " (ties)" : "");
    const In in{s.l.leaf, s.init};
    c.push_back({"max values " + what,
                 kFloatsAndInt,
                 {in},
                 [s](Inputs x) { return max(s.l.view(x[0]), s.dim, s.keepdim).first; },
                 Kind::Exact});
    c.push_back({"max indices " + what,
                 kFloatsAndInt,
                 {in},
                 [s](Inputs x) { return s.l.view(x[0]).max(s.dim, s.keepdim).second; },
                 Kind::Exact,
                 Kind::Skip});
    c.push_back({"min values " + what,
                 kFloatsAndInt,
                 {in},
                 [s](Inputs x) { return s.l.view(x[0]).min(s.dim, s.keepdim).first; },
                 Kind::Exact});
    c.push_back({"min indices " + what,
                 kFloatsAndInt,
                 {in},
                 [s](Inputs x) { return min(s.l.view(x[0]), s.dim, s.keepdim).second; },
                 Kind::Exact,
                 Kind::Skip});
    c.push_back({"argmax " + what,
                 kFloatsAndInt,
                 {in},
                 [s](Inputs x) { return argmax(s.l.view(x[0]), s.dim, s.keepdim); },
                 Kind::Exact,
                 Kind::Skip});
    c.push_back({"argmin " + what,
                 kFloatsAndInt,
                 {in},
                 [s](Inputs x) { return argmin(s.l.view(x[0]), s.dim, s.keepdim); },
                 Kind::Exact,
                 Kind::Skip});
  }
  c.push_back({"Tensor::argmax",
               kFloatsAndInt,
               {{{7, 5}, Init::Ints}},
               [](Inputs x) { return x[0].argmax(0, true); },
               Kind::Exact,
               Kind::Skip});
  // NaN wins, and its index is reported
  for (int64_t dim : {0, 1}) {
    const std::string d = " NaN [5,9] dim " + std::to_string(dim);
    c.push_back({"max values" + d,
                 kFloats,
                 {{{5, 9}, Init::NaNs}},
                 [dim](Inputs x) { return max(x[0], dim).first; },
                 Kind::Exact,
                 Kind::Skip});
    c.push_back({"max indices" + d,
                 kFloats,
                 {{{5, 9}, Init::NaNs}},
                 [dim](Inputs x) { return max(x[0], dim).second; },
                 Kind::Exact,
                 Kind::Skip});
    c.push_back({"min indices" + d,
                 kFloats,
                 {{{5, 9}, Init::NaNs}},
                 [dim](Inputs x) { return min(x[0], dim).second; },
                 Kind::Exact,
                 Kind::Skip});
    c.push_back({"argmax" + d,
                 kFloats,
                 {{{5, 9}, Init::NaNs}},
                 [dim](Inputs x) { return argmax(x[0], dim); },
                 Kind::Exact,
                 Kind::Skip});
  }
  return c;
}

std::vector<Case> matmul_cases() {
  std::vector<Case> c;
  auto t = [](const Tensor& x) { return x.t(); };
  auto tl = [](const Tensor& x) { return x.transpose(-1, -2); };
  const std::vector<PairLayout> layouts = {
      {"[33] . [33]", {33}, {33}},
      {"[1] . [1]", {1}, {1}},
      {"[31,33] . [33]", {31, 33}, {33}},
      {"[33] . [33,31]", {33}, {33, 31}},
      {"[31,33] . [33,65]", {31, 33}, {33, 65}},
      {"[1,1] . [1,1]", {1, 1}, {1, 1}},
      {"[1,33] . [33,1]", {1, 33}, {33, 1}},
      {"[33,1] . [1,31]", {33, 1}, {1, 31}},
      {"[65,65] . [65,65]", {65, 65}, {65, 65}},
      {"[3,4,5] . [5]", {3, 4, 5}, {5}},
      {"[5] . [2,5,3]", {5}, {2, 5, 3}},
      {"[3,4,5] . [3,5,2]", {3, 4, 5}, {3, 5, 2}},
      {"batch broadcast [2,1,4,5] . [3,5,6]", {2, 1, 4, 5}, {3, 5, 6}},
      {"batch broadcast [4,5] . [3,5,6]", {4, 5}, {3, 5, 6}},
      {"[33,31].t() . [33,65]", {33, 31}, {33, 65}, t},
      {"[31,33] . [65,33].t()", {31, 33}, {65, 33}, same, t},
      {"[33,31].t() . [65,33].t()", {33, 31}, {65, 33}, t, t},
      {"[2,5,4].transpose . [2,5,3]", {2, 5, 4}, {2, 5, 3}, tl},
      {"[1,4,5].expand(3,4,5) . [3,5,2]",
       {1, 4, 5},
       {3, 5, 2},
       [](const Tensor& x) {
         return x.expand({3, 4, 5});
       }},
      {"[31,66].slice(1,0,66,2) . [33,5]",
       {31, 66},
       {33, 5},
       [](const Tensor& x) { return x.slice(1, 0, 66, 2); }},
      {"k=0 [3,0] . [0,4]", {3, 0}, {0, 4}},
      {"k=0 [0] . [0]", {0}, {0}},
      {"m=0 [0,5] . [5,4]", {0, 5}, {5, 4}},
      {"[2,0,5] . [2,5,3]", {2, 0, 5}, {2, 5, 3}},
      // ~100k multiply-adds per output block: several tiles of a tiled GEMM in each dim
      {"[129,257] . [257,67]", {129, 257}, {257, 67}},
  };
  for (const PairLayout& l : layouts) {
    c.push_back({"matmul " + l.name,
                 kFloats,
                 {{l.a}, {l.b}},
                 [va = l.va, vb = l.vb](Inputs x) { return matmul(va(x[0]), vb(x[1])); },
                 Kind::Reduce});
  }
  c.push_back({"Tensor::matmul",
               kFloats,
               {{{4, 3}}, {{3, 2}}},
               [](Inputs x) { return x[0].matmul(x[1]); },
               Kind::Reduce});
  return c;
}

std::vector<Case> joining_cases() {
  std::vector<Case> c;
  auto t = [](const Tensor& x) { return x.t(); };
  c.push_back({"cat dim 0 [2,5] [3,5] [1,5]",
               kFloatsAndInt,
               {{{2, 5}}, {{3, 5}}, {{1, 5}}},
               [](Inputs x) {
                 return cat({x[0], x[1], x[2]}, 0);
               },
               Kind::Exact,
               Kind::Exact});
  c.push_back({"cat dim 1 [4,1] [4,31] [4,2]",
               kFloatsAndInt,
               {{{4, 1}}, {{4, 31}}, {{4, 2}}},
               [](Inputs x) {
                 return cat({x[0], x[1], x[2]}, 1);
               },
               Kind::Exact,
               Kind::Exact});
  c.push_back({"cat dim -1 [2,3,4] [2,3,1]",
               kFloatsAndInt,
               {{{2, 3, 4}}, {{2, 3, 1}}},
               [](Inputs x) {
                 return cat({x[0], x[1]}, -1);
               },
               Kind::Exact,
               Kind::Exact});
  c.push_back({"cat dim 1 [5,3].t() [3,2]",
               kFloatsAndInt,
               {{{5, 3}}, {{3, 2}}},
               [t](Inputs x) {
                 return cat({t(x[0]), x[1]}, 1);
               },
               Kind::Exact,
               Kind::Exact});
  c.push_back({"cat dim 0 with empty [0,5] [2,5]",
               kFloatsAndInt,
               {{{0, 5}}, {{2, 5}}},
               [](Inputs x) {
                 return cat({x[0], x[1]}, 0);
               },
               Kind::Exact,
               Kind::Exact});
  c.push_back({"cat dim 0 [257] [255]",
               kFloatsAndInt,
               {{{257}}, {{255}}},
               [](Inputs x) {
                 return cat({x[0], x[1]});
               },
               Kind::Exact,
               Kind::Exact});
  c.push_back({"stack dim 0 [3,4] x2",
               kFloatsAndInt,
               {{{3, 4}}, {{3, 4}}},
               [](Inputs x) {
                 return stack({x[0], x[1]}, 0);
               },
               Kind::Exact,
               Kind::Exact});
  c.push_back({"stack dim 1 [3,4] x3",
               kFloatsAndInt,
               {{{3, 4}}, {{3, 4}}, {{3, 4}}},
               [](Inputs x) {
                 return stack({x[0], x[1], x[2]}, 1);
               },
               Kind::Exact,
               Kind::Exact});
  c.push_back({"stack dim -1 [4,3].t() [3,4]",
               kFloatsAndInt,
               {{{4, 3}}, {{3, 4}}},
               [t](Inputs x) {
                 return stack({t(x[0]), x[1]}, -1);
               },
               Kind::Exact,
               Kind::Exact});
  c.push_back({"stack 0-d x3",
               kFloatsAndInt,
               {{{}}, {{}}, {{}}},
               [](Inputs x) {
                 return stack({x[0], x[1], x[2]});
               },
               Kind::Exact,
               Kind::Exact});

  // index_select / gather: indices repeat, so their gradients accumulate (in another order
  // on the GPU: Reduce tolerance)
  c.push_back({"index_select dim 0 [7,5] idx[9]",
               kFloatsAndInt,
               {{{7, 5}}, idx({9}, 7)},
               [](Inputs x) { return index_select(x[0], 0, x[1]); },
               Kind::Exact});
  c.push_back({"index_select dim 1 [4,33] idx[40]",
               kFloatsAndInt,
               {{{4, 33}}, idx({40}, 33)},
               [](Inputs x) { return index_select(x[0], 1, x[1]); },
               Kind::Exact});
  c.push_back({"index_select dim -1 [3,4,5] idx[3]",
               kFloatsAndInt,
               {{{3, 4, 5}}, idx({3}, 5)},
               [](Inputs x) { return index_select(x[0], -1, x[1]); },
               Kind::Exact});
  c.push_back({"index_select dim 0 [33,31].t() idx[5]",
               kFloatsAndInt,
               {{{33, 31}}, idx({5}, 31)},
               [t](Inputs x) { return index_select(t(x[0]), 0, x[1]); },
               Kind::Exact});
  c.push_back({"index_select empty idx[0]",
               kFloatsAndInt,
               {{{4, 3}}, idx({0}, 4)},
               [](Inputs x) { return index_select(x[0], 0, x[1]); },
               Kind::Exact});
  c.push_back({"index_select [257,3] idx[300]",
               kFloatsAndInt,
               {{{257, 3}}, idx({300}, 257)},
               [](Inputs x) { return index_select(x[0], 0, x[1]); },
               Kind::Exact});
  c.push_back({"gather dim 1 [5,7] idx[5,4]",
               kFloatsAndInt,
               {{{5, 7}}, idx({5, 4}, 7)},
               [](Inputs x) { return gather(x[0], 1, x[1]); },
               Kind::Exact});
  c.push_back({"gather dim 0 [5,7] idx[9,7]",
               kFloatsAndInt,
               {{{5, 7}}, idx({9, 7}, 5)},
               [](Inputs x) { return gather(x[0], 0, x[1]); },
               Kind::Exact});
  c.push_back({"gather dim 1 [5,7] smaller idx[2,3]",
               kFloatsAndInt,
               {{{5, 7}}, idx({2, 3}, 7)},
               [](Inputs x) { return gather(x[0], 1, x[1]); },
               Kind::Exact});
  c.push_back({"gather dim -2 [3,4,5] idx[3,6,5]",
               kFloatsAndInt,
               {{{3, 4, 5}}, idx({3, 6, 5}, 4)},
               [](Inputs x) { return gather(x[0], -2, x[1]); },
               Kind::Exact});
  c.push_back({"gather dim 1 [33,31].t() idx[31,2]",
               kFloatsAndInt,
               {{{33, 31}}, idx({31, 2}, 33)},
               [t](Inputs x) { return gather(t(x[0]), 1, x[1]); },
               Kind::Exact});
  c.push_back({"gather [257,10] idx[257,1] (nll pick)",
               kFloatsAndInt,
               {{{257, 10}}, idx({257, 1}, 10)},
               [](Inputs x) { return gather(x[0], 1, x[1]); },
               Kind::Exact});
  return c;
}

std::vector<Case> view_cases() {
  std::vector<Case> c;
  // views whose backward only moves elements: exact gradients; expand sums (Reduce)
  const std::vector<std::pair<Layout, Kind>> views = {
      {{"view(4,15)",
        {6, 10},
        [](const Tensor& x) {
          return x.view({4, 15});
        }},
       Kind::Exact},
      {{"view(-1)", {3, 5}, [](const Tensor& x) { return x.view({-1}); }}, Kind::Exact},
      {{"reshape of t()", {33, 31}, [](const Tensor& x) { return x.t().reshape({-1}); }},
       Kind::Exact},
      {{"reshape(5,3,2)",
        {6, 5},
        [](const Tensor& x) {
          return x.reshape({5, 3, 2});
        }},
       Kind::Exact},
      {{"permute(2,0,1)",
        {3, 5, 7},
        [](const Tensor& x) {
          return x.permute({2, 0, 1});
        }},
       Kind::Exact},
      {{"transpose(0,2)", {2, 3, 4}, [](const Tensor& x) { return x.transpose(0, 2); }},
       Kind::Exact},
      {{"t()", {33, 31}, [](const Tensor& x) { return x.t(); }}, Kind::Exact},
      {{"narrow(1,2,5)", {4, 9}, [](const Tensor& x) { return x.narrow(1, 2, 5); }}, Kind::Exact},
      {{"slice(0,1,6,2)", {7, 3}, [](const Tensor& x) { return x.slice(0, 1, 6, 2); }},
       Kind::Exact},
      {{"slice(1,-5,-1)", {3, 9}, [](const Tensor& x) { return x.slice(1, -5, -1); }}, Kind::Exact},
      {{"slice step 3 of t()", {33, 31}, [](const Tensor& x) { return x.t().slice(0, 1, 31, 3); }},
       Kind::Exact},
      {{"select(1,-1)", {4, 5, 3}, [](const Tensor& x) { return x.select(1, -1); }}, Kind::Exact},
      {{"select to 0-d", {5}, [](const Tensor& x) { return x.select(0, 3); }}, Kind::Exact},
      {{"unsqueeze(1)", {4, 3}, [](const Tensor& x) { return x.unsqueeze(1); }}, Kind::Exact},
      {{"unsqueeze(-1) of 0-d", {}, [](const Tensor& x) { return x.unsqueeze(-1); }}, Kind::Exact},
      {{"squeeze()", {1, 5, 1, 3}, [](const Tensor& x) { return x.squeeze(); }}, Kind::Exact},
      {{"squeeze(2)", {2, 3, 1}, [](const Tensor& x) { return x.squeeze(2); }}, Kind::Exact},
      {{"expand(4,3,5)",
        {3, 1},
        [](const Tensor& x) {
          return x.expand({4, 3, 5});
        }},
       Kind::Reduce},
      {{"expand(-1,31) of [257,1]",
        {257, 1},
        [](const Tensor& x) {
          return x.expand({-1, 31});
        }},
       Kind::Reduce},
      {{"flatten(1) of permute",
        {2, 3, 4},
        [](const Tensor& x) {
          return x.permute({0, 2, 1}).flatten(1);
        }},
       Kind::Exact},
      {{"flatten() of empty", {0, 3}, [](const Tensor& x) { return x.flatten(); }}, Kind::Exact},
      {{"chain t().slice().select().unsqueeze()",
        {9, 12},
        [](const Tensor& x) { return x.t().slice(0, 0, 12, 2).select(1, 4).unsqueeze(0); }},
       Kind::Exact},
  };
  for (const auto& [l, bwd] : views) {
    c.push_back({l.name + " contiguous()",
                 kFloatsAndInt,
                 {{l.leaf}},
                 [v = l.view](Inputs x) {
                   Tensor r = v(x[0]).contiguous();
                   CHECK(r.is_contiguous());
                   return r;
                 },
                 Kind::Exact,
                 bwd});
    c.push_back({l.name + " then op",
                 kFloatsAndInt,
                 {{l.leaf}},
                 [v = l.view](Inputs x) { return v(x[0]) * 3.0 - 1.0; },
                 Kind::Pointwise,
                 bwd == Kind::Exact ? Kind::Pointwise : bwd});
  }
  c.push_back({"clone of slice",
               kFloatsAndInt,
               {{{5, 8}}},
               [](Inputs x) { return x[0].slice(1, 1, 8, 2).clone(); },
               Kind::Exact,
               Kind::Exact});
  c.push_back({"clone of expand",
               kFloatsAndInt,
               {{{1, 33}}},
               [](Inputs x) {
                 return x[0].expand({3, 33}).clone();
               },
               Kind::Exact,
               Kind::Reduce});
  return c;
}

// Every parameter and gradient of two modules, on their devices, compared.
void check_same_parameters(nn::Module& dev, nn::Module& host, bool grads) {
  const auto pd = dev.named_parameters(), ph = host.named_parameters();
  REQUIRE(pd.size() == ph.size());
  for (size_t i = 0; i < pd.size(); ++i) {
    INFO("parameter ", pd[i].first);
    CHECK(pd[i].second.device() == kDev);
    Diff d = compare(pd[i].second, ph[i].second, tol_for(Kind::Reduce, kFloat32));
    CHECK_MESSAGE(d.ok, d.msg);
    if (!grads) continue;
    REQUIRE(pd[i].second.grad().defined());
    CHECK(pd[i].second.grad().device() == kDev);
    d = compare(pd[i].second.grad(), ph[i].second.grad(), tol_for(Kind::Reduce, kFloat32));
    CHECK_MESSAGE(d.ok, "grad: ", d.msg);
  }
}

nn::Sequential small_mlp(uint64_t seed) {
  manual_seed(seed);
  return nn::Sequential(nn::Linear(5, 7), nn::Tanh(), nn::Linear(7, 3));
}

}  // namespace

TEST_SUITE("device") {
  TEST_CASE("element-wise ops and comparisons match the CPU") {
    if (!have_cuda("element-wise ops")) return;
    run_table("element-wise", elementwise_cases());
  }

  TEST_CASE("reductions match the CPU") {
    if (!have_cuda("reductions")) return;
    run_table("reductions", reduction_cases());
  }

  TEST_CASE("matmul matches the CPU") {
    if (!have_cuda("matmul")) return;
    run_table("matmul", matmul_cases());
  }

  TEST_CASE("cat, stack, index_select and gather match the CPU") {
    if (!have_cuda("joining and indexing")) return;
    run_table("joining and indexing", joining_cases());
  }

  TEST_CASE("views, contiguous and clone match the CPU") {
    if (!have_cuda("views")) return;
    run_table("views", view_cases());
  }

  TEST_CASE("dtype conversions on the device match the CPU's") {
    if (!have_cuda("dtype conversions")) return;
    // values that exercise every conversion rule: fractions, negatives, values beyond uint8,
    // zero (false), and the float specials that integer conversion saturates or zeroes
    const std::vector<double> values = {0.0,   1.0,  -1.0, 2.75,  -2.75, 255.0,    256.0,    300.5,
                                        -0.25, 1e10, 1e20, -1e20, NAN,   INFINITY, -INFINITY};
    const Tensor base = from_vector(values);
    for (DType src : {kFloat32, kFloat64, kInt64, kUInt8, kBool}) {
      // integer sources get their own values (float specials would already be converted)
      Tensor h = is_floating(src)
                     ? base.to(src)
                     : from_vector<int64_t>({0, 1, -1, 2, 255, 256, -300, 7, 1000}).to(src);
      h = h.expand({3, h.numel()});  // a broadcast source: strides 0 on the way to the device
      for (DType dst : {kFloat32, kFloat64, kInt64, kUInt8, kBool}) {
        const std::string what = str(dtype_name(src), " -> ", dtype_name(dst));
        INFO(what);
        const Tensor want = h.contiguous().to(dst);
        try {
          const Tensor d = h.to(kDev);
          const Tensor on_dev = d.to(dst);  // converted on the device
          CHECK(on_dev.device() == kDev);
          Diff r = compare(on_dev.cpu(), want, {0, 0});
          CHECK_MESSAGE(r.ok, "to(dtype) on the device: ", r.msg);
          // copy_ across devices and dtypes at once, both ways
          Tensor into_dev = zeros(h.shape(), TensorOptions().set_dtype(dst).set_device(kDev));
          into_dev.copy_(h);
          r = compare(into_dev.cpu(), want, {0, 0});
          CHECK_MESSAGE(r.ok, "copy_ host -> device: ", r.msg);
          Tensor into_host = zeros(h.shape(), dtype(dst));
          into_host.copy_(d);
          r = compare(into_host, want, {0, 0});
          CHECK_MESSAGE(r.ok, "copy_ device -> host: ", r.msg);
        } catch (const std::exception& e) {
          FAIL_CHECK("threw: ", std::string(e.what()));
        }
      }
    }
  }

  TEST_CASE("copy_ broadcasts and writes through strided device views") {
    if (!have_cuda("copy_")) return;
    manual_seed(21);
    const Tensor src = randn({5});
    Tensor want = zeros({4, 5});
    want.copy_(src);
    Tensor got = zeros({4, 5}, TensorOptions().set_device(kDev));
    got.copy_(src.to(kDev));
    CHECK(equal(got.cpu(), want));

    // into a transposed and a step-2 view of a device tensor, from the host and the device
    const Tensor block = randn({3, 4});
    Tensor hw = zeros({4, 6}), dw = zeros({4, 6}, TensorOptions().set_device(kDev));
    hw.t().slice(0, 0, 6, 2).copy_(block);
    dw.t().slice(0, 0, 6, 2).copy_(block);
    CHECK(equal(dw.cpu(), hw));
    dw.zero_();
    dw.t().slice(0, 0, 6, 2).copy_(block.to(kDev));
    CHECK(equal(dw.cpu(), hw));
  }

  TEST_CASE("in-place ops on device tensors match the CPU") {
    if (!have_cuda("in-place ops")) return;
    NoGradGuard no_grad;
    // the same sequence on both devices, on whole tensors and on strided views
    auto steps = [](Tensor t, const Tensor& row, const Tensor& other) {
      t.add_(row, 0.5);                         // broadcast [5] into [4,5]
      t.mul_(other);                            // same shape
      t.sub_(other.t().contiguous().t(), 2.0);  // a strided source; sub_ is add_ with -alpha
      t.mul_(-1.5);
      t.add_(0.25);
      t.slice(1, 0, 5, 2).fill_(7.0);
      t.t().select(0, 1).mul_(row.select(0, 1));  // a strided column times a 0-d
    };
    for (DType dt : {kFloat32, kFloat64}) {
      const std::string label = dtype_name(dt);
      INFO(label);
      manual_seed(5);
      Tensor h = randn({4, 5}, dtype(dt)), row = randn({5}, dtype(dt)),
             other = randn({4, 5}, dtype(dt));
      Tensor d = on_device(h);
      steps(h, row, other);
      steps(d, on_device(row), on_device(other));
      CHECK(d.device() == kDev);
      Diff r = compare(d.cpu(), h, tol_for(Kind::Pointwise, dt));
      CHECK_MESSAGE(r.ok, r.msg);
      d.zero_();
      CHECK(d.cpu().abs().sum().item() == 0.0);
      d.fill_(-3.5);
      CHECK(equal(d.cpu(), full({4, 5}, -3.5, dtype(dt))));
    }
    // integer tensors: fill_, zero_ and the multiplying in-place ops
    Tensor hi = arange(0.0, 12.0, 1.0, dtype(kInt64)).view({3, 4}), di = on_device(hi);
    const Tensor m = from_vector<int64_t>({2, -1, 3, 1});
    hi.mul_(m).mul_(3.0).slice(0, 0, 3, 2).fill_(-9.0);
    di.mul_(on_device(m)).mul_(3.0).slice(0, 0, 3, 2).fill_(-9.0);
    CHECK(equal(di.cpu(), hi));
    di.zero_();
    CHECK(equal(di.cpu(), zeros({3, 4}, dtype(kInt64))));

    // an optimizer-like update of a leaf that requires grad
    manual_seed(6);
    Tensor wh = randn({3, 3}).requires_grad_(), wd = on_device(wh).requires_grad_();
    Tensor gh = randn({3, 3});
    wh.sub_(gh, 0.1);
    wd.sub_(on_device(gh), 0.1);
    Diff r = compare(wd.cpu(), wh.detach(), tol_for(Kind::Pointwise, kFloat32));
    CHECK_MESSAGE(r.ok, r.msg);
  }

  TEST_CASE("item() and to_vector() read device tensors") {
    if (!have_cuda("item and to_vector")) return;
    manual_seed(9);
    const Tensor h = randn({33, 31});
    const Tensor d = on_device(h);
    CHECK(d.t().to_vector<float>() == h.t().to_vector<float>());  // strided read-back
    CHECK(d.to_vector<double>() == h.to_vector<double>());
    CHECK(d.select(0, 4).select(0, 7).item<float>() == h.select(0, 4).select(0, 7).item<float>());
    CHECK(d.sum().item() == doctest::Approx(h.sum().item()).epsilon(1e-4));
    CHECK(argmax(d, 1).to_vector<int64_t>() == argmax(h, 1).to_vector<int64_t>());
    CHECK((d > 0.0).to_vector<bool>() == (h > 0.0).to_vector<bool>());
    CHECK(max(d).item<float>() == max(h).item<float>());
    CHECK_THROWS_AS(d.item(), Error);  // 1023 elements
  }

  TEST_CASE("factories with a device option make the CPU's values there") {
    if (!have_cuda("factories")) return;
    const TensorOptions on = TensorOptions().set_device(kDev);
    auto same_on_both = [&](const char* what, const std::function<Tensor(TensorOptions)>& make,
                            TensorOptions base) {
      const std::string label = str(what, " ", dtype_name(base.dtype));
      INFO(label);
      manual_seed(77);
      Tensor h = make(base);
      manual_seed(77);
      Tensor d = make(TensorOptions(base).set_device(kDev));
      CHECK(d.device() == kDev);
      CHECK(d.dtype() == h.dtype());
      Diff r = compare(d.cpu(), h, {0, 0});
      CHECK_MESSAGE(r.ok, r.msg);
    };
    for (DType dt : {kFloat32, kFloat64, kInt64}) {
      const TensorOptions o = dtype(dt);
      same_on_both(
          "zeros",
          [](TensorOptions t) {
            return zeros({31, 33}, t);
          },
          o);
      same_on_both(
          "ones", [](TensorOptions t) { return ones({257}, t); }, o);
      same_on_both(
          "full",
          [](TensorOptions t) {
            return full({3, 4}, -2.0, t);
          },
          o);
      same_on_both(
          "full empty",
          [](TensorOptions t) {
            return full({0, 4}, 1.0, t);
          },
          o);
      same_on_both(
          "scalar_tensor", [](TensorOptions t) { return scalar_tensor(4.0, t); }, o);
      same_on_both(
          "arange", [](TensorOptions t) { return arange(-3.0, 5.0, 0.5, t); }, o);
    }
    same_on_both(
        "arange(n)", [](TensorOptions t) { return arange(257, t); }, dtype(kInt64));
    for (DType dt : {kFloat32, kFloat64}) {
      const TensorOptions o = dtype(dt);
      same_on_both(
          "randn",
          [](TensorOptions t) {
            return randn({33, 31}, t);
          },
          o);
      same_on_both(
          "rand", [](TensorOptions t) { return rand({257}, t); }, o);
      same_on_both(
          "uniform",
          [](TensorOptions t) {
            return uniform({5, 5}, -2.0, 3.0, t);
          },
          o);
    }
    Tensor leaf = randn({3}, TensorOptions(on).set_requires_grad(true));
    CHECK(leaf.device() == kDev);
    CHECK(leaf.requires_grad());
    CHECK(leaf.is_leaf());
    const Tensor d = randn({2, 3}, on);
    CHECK(zeros_like(d).device() == kDev);
    CHECK(ones_like(d).device() == kDev);
    CHECK(empty_like(d).device() == kDev);
    CHECK(equal(ones_like(d).cpu(), ones({2, 3})));
  }

  TEST_CASE("Module::to moves an MLP; its forward and backward match the CPU") {
    if (!have_cuda("Module::to")) return;
    nn::Sequential host = small_mlp(31), dev = small_mlp(31);
    dev->to(kDev);
    check_same_parameters(*dev, *host, false);
    manual_seed(32);
    const Tensor x = randn({9, 5}), target = randn({9, 3});
    Tensor yh = host(x), yd = dev(on_device(x));
    CHECK(yd.device() == kDev);
    Diff r = compare(yd, yh, tol_for(Kind::Reduce, kFloat32));
    CHECK_MESSAGE(r.ok, "forward: ", r.msg);
    Tensor lh = ((yh - target) * (yh - target)).mean();
    Tensor td = on_device(target);
    Tensor ld = ((yd - td) * (yd - td)).mean();
    lh.backward();
    ld.backward();
    check_same_parameters(*dev, *host, true);
  }

  TEST_CASE("gradcheck passes in float64 on the device for a composite function") {
    if (!have_cuda("gradcheck")) return;
    manual_seed(41);
    const TensorOptions f64 = dtype(kFloat64);
    std::vector<Tensor> in = {
        randn({3, 4}, f64).to(kDev).requires_grad_(),
        randn({4, 5}, f64).to(kDev).requires_grad_(),
        randn({5}, f64).to(kDev).requires_grad_(),
        from_vector<int64_t>({4, 0, 2, 2, 1, 3}, {3, 2}).to(kDev),  // gather: [3,2] of [3,5]
        from_vector<int64_t>({2, 0, 2, 1}).to(kDev),                // index_select rows
    };
    auto fn = [](Inputs v) {
      Tensor h = tanh(matmul(v[0], v[1]) + v[2]);                         // [3,5], broadcast bias
      Tensor picked = sum(gather(h, 1, v[3]), {1});                       // [3]
      Tensor rows = max(index_select(h, 0, v[4]), 1).first;               // [4]
      return picked.unsqueeze(1) * rows.unsqueeze(0) + h.sum({1}, true);  // [3,4]
    };
    CHECK(fn(in).device() == kDev);
    GradcheckResult r = gradcheck(fn, in);
    CHECK_MESSAGE(r.ok, r.message);
  }

  TEST_CASE("the user story: a gradient computed on the device equals the CPU's") {
    if (!have_cuda("user story")) return;
    manual_seed(1);
    auto x = randn({64, 784}).to(kDev);
    auto w = randn({784, 10}).to(kDev).requires_grad_();
    auto y = matmul(x, w);
    y.sum().backward();
    REQUIRE(w.grad().defined());
    CHECK(w.grad().device() == kDev);

    manual_seed(1);
    auto xc = randn({64, 784});
    auto wc = randn({784, 10}).requires_grad_();
    matmul(xc, wc).sum().backward();
    Diff r = compare(w.grad(), wc.grad(), tol_for(Kind::Reduce, kFloat32));
    CHECK_MESSAGE(r.ok, r.msg);
    r = compare(y, matmul(xc, wc), tol_for(Kind::Reduce, kFloat32));
    CHECK_MESSAGE(r.ok, r.msg);
  }

  TEST_CASE("mixing devices in one op is an error naming both") {
    if (!have_cuda("mixed devices")) return;
    if (kDev.is_cpu()) {
      std::cout << "[device] mixed devices: not exercised in CPU-vs-CPU mode\n";
      return;
    }
    const Tensor h = ones({3, 3}), d = ones({3, 3}).to(kDev);
    const Tensor hi = from_vector<int64_t>({0, 1}), di = hi.to(kDev);
    const std::vector<std::pair<const char*, std::function<void()>>> mixes = {
        {"add", [&] { (void)(h + d); }},
        {"mul (device first)", [&] { (void)(d * h); }},
        {"matmul", [&] { (void)matmul(d, h); }},
        {"maximum", [&] { (void)maximum(h, d); }},
        {"eq", [&] { (void)eq(d, h); }},
        {"cat",
         [&] {
           (void)cat({h, d});
         }},
        {"index_select, index on the cpu", [&] { (void)index_select(d, 0, hi); }},
        {"gather, data on the cpu",
         [&] {
           (void)gather(h, 1, di.view({1, 2}).expand({3, 2}));
         }},
        {"add_",
         [&] {
           NoGradGuard ng;
           Tensor t = d.clone();
           t.add_(h);
         }},
    };
    for (const auto& [name, f] : mixes) {
      const std::string label = name;
      INFO(label);
      CHECK_THROWS_WITH_AS(f(), Contains("cpu"), Error);
      CHECK_THROWS_WITH_AS(f(), Contains("cuda:0"), Error);
    }
  }

  TEST_CASE("an index out of range on the device is an error, and the device stays usable") {
    if (!have_cuda("index errors")) return;
    manual_seed(3);
    const Tensor h = randn({5, 4});
    const Tensor d = on_device(h);
    // The device checks indices without making the host wait (cuda/checks.h): the error is
    // the CPU's, raised by the op on the CPU and by the next read from the device on CUDA.
    auto message = [](const std::function<Tensor()>& op) { return error_of([&] { op().cpu(); }); };
    const std::vector<std::pair<std::string, std::function<Tensor(const Tensor&)>>> bad = {
        {"index_select 7",
         [](const Tensor& x) {
           return index_select(x, 0, from_vector<int64_t>({0, 7}).to(x.device()));
         }},
        {"index_select -1",
         [](const Tensor& x) {
           return index_select(x, 1, from_vector<int64_t>({-1}).to(x.device()));
         }},
        {"gather 4",
         [](const Tensor& x) {
           return gather(x, 1, from_vector<int64_t>({0, 4}, {1, 2}).to(x.device()));
         }},
        {"gather 5",
         [](const Tensor& x) {
           return gather(x, 0, from_vector<int64_t>({5}, {1, 1}).to(x.device()));
         }},
    };
    for (const auto& [name, op] : bad) {
      INFO(name);
      const std::string want = message([&, op = op] { return op(h); });
      CHECK(want.find("is out of range for dim") != std::string::npos);
      CHECK(message([&, op = op] { return op(d); }) == want);
    }
    // a failed check is reported once, by whichever wait comes first, then forgotten
    if (!GB_TEST_DEVICE_IS_CPU) {
      Tensor quiet = index_select(d, 0, on_device(from_vector<int64_t>({9})));  // no throw yet
      CHECK_THROWS_WITH_AS(cuda::synchronize(0), Contains("index 9 is out of range"), Error);
      CHECK_NOTHROW(quiet.cpu());
      CHECK(quiet.cpu().abs().sum().item() == 0.0);  // the bad row was never read
    }
    CHECK_THROWS_AS(max(d.slice(0, 0, 0)), Error);  // max of an empty tensor
    // the failed launches left nothing behind: the next op runs and is right
    Diff r = compare(exp(d) * 2.0, exp(h) * 2.0, tol_for(Kind::Pointwise, kFloat32));
    CHECK_MESSAGE(r.ok, r.msg);
  }

  TEST_CASE("device memory: freed tensors give their bytes back; a warm step allocates nothing") {
    if (!have_cuda("device memory")) return;
    const int64_t live0 = memory_stats(kDev).live_bytes;
    {
      Tensor a = randn({33, 31}).to(kDev).requires_grad_();
      Tensor b = (exp(a) * a).sum();
      b.backward();
      CHECK(memory_stats(kDev).live_bytes > live0);
    }
    CHECK(memory_stats(kDev).live_bytes == live0);

    nn::Sequential net = small_mlp(51);
    net->to(kDev);
    manual_seed(52);
    const Tensor x = randn({32, 5}).to(kDev), y = randn({32, 3}).to(kDev);
    auto step = [&] {
      Tensor out = net(x);
      Tensor loss = ((out - y) * (out - y)).mean();
      net->zero_grad();
      loss.backward();
      NoGradGuard ng;
      for (Tensor& p : net->parameters()) p.sub_(p.grad(), 0.1);
      return loss.item();
    };
    const double first = step();  // allocates the gradients, fills the cache
    const MemoryStats warm = memory_stats(kDev);
    const double second = step();
    CHECK(memory_stats(kDev).system_allocations == warm.system_allocations);
    CHECK(memory_stats(kDev).live_bytes == warm.live_bytes);
    CHECK(second < first);  // the update went somewhere sensible
  }

  TEST_CASE("cuda::synchronize waits for queued work") {
    if (!have_cuda("synchronize")) return;
    if (kDev.is_cpu()) {
      std::cout << "[device] synchronize: not exercised in CPU-vs-CPU mode\n";
      return;
    }
    CHECK(cuda::device_count() >= 1);
    if (cuda::is_emulated()) CHECK(cuda::device_name(0) == "glassbox-emu");
    manual_seed(4);
    const Tensor h = randn({257, 31});
    Tensor d = tanh(h.to(kDev)) + 1.0;  // queued
    cuda::synchronize(0);
    Diff r = compare(d, tanh(h) + 1.0, tol_for(Kind::Pointwise, kFloat32));
    CHECK_MESSAGE(r.ok, r.msg);
    cuda::synchronize(0);  // nothing queued: returns at once
  }
}
