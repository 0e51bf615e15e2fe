// Tensor basics: factories, random numbers, dtype conversion, element-wise math with
// broadcasting, reductions, matmul, joining/indexing, in-place ops, memory accounting,
// threading and the error messages. Every expected value is either written out by hand or
// computed by a naive loop in this file, never by the library itself.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <random>
#include <vector>

#include "glassbox.h"

using namespace glassbox;

namespace {

using V = std::vector<float>;
using VD = std::vector<double>;
using VI = std::vector<int64_t>;
using VB = std::vector<bool>;
using S = Shape;

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr int64_t kI64Max = std::numeric_limits<int64_t>::max();
constexpr int64_t kI64Min = std::numeric_limits<int64_t>::min();

Tensor iota(const Shape& shape) { return arange(0.0, double(numel_of(shape))).view(shape); }
Tensor ivec(const VI& v, Shape shape = {}) { return from_vector<int64_t>(v, shape); }

// Row-major index arithmetic for the reference loops.
VI unravel(int64_t flat, const Shape& s) {
  VI idx(s.size());
  for (size_t d = s.size(); d-- > 0;) {
    idx[d] = flat % s[d];
    flat /= s[d];
  }
  return idx;
}
// Flat index into a contiguous `in` of the element broadcast to out-index `oi` (right-aligned).
int64_t bcast_flat(const VI& oi, const Shape& in) {
  int64_t flat = 0;
  const size_t lead = oi.size() - in.size();
  for (size_t d = 0; d < in.size(); ++d) flat = flat * in[d] + (in[d] == 1 ? 0 : oi[lead + d]);
  return flat;
}
Shape naive_broadcast(const Shape& a, const Shape& b) {
  const size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    out[i] = da == 1 ? db : da;
  }
  return out;
}

// Naive sum-like reduction in double over `dims` (non-negative), output laid out with keepdim.
VD naive_reduce(const VD& v, const Shape& s, const VI& dims, double init,
                const std::function<double(double, double)>& f, Shape* out_shape = nullptr) {
  Shape kept = s;
  for (int64_t d : dims) kept[d] = 1;
  VD out(numel_of(kept), init);
  for (int64_t i = 0; i < numel_of(s); ++i) {
    VI idx = unravel(i, s);
    for (int64_t d : dims) idx[d] = 0;
    int64_t o = 0;
    for (size_t d = 0; d < s.size(); ++d) o = o * kept[d] + idx[d];
    out[o] = f(out[o], v[i]);
  }
  if (out_shape) *out_shape = kept;
  return out;
}

// Naive batched matmul for operands with >= 2 dims, batch dims broadcast.
VD naive_matmul(const Tensor& a, const Tensor& b, Shape* out_shape) {
  VD va = a.to_vector<double>(), vb = b.to_vector<double>();
  const int64_t n = a.size(-2), k = a.size(-1), m = b.size(-1);
  Shape ba(a.shape().begin(), a.shape().end() - 2), bb(b.shape().begin(), b.shape().end() - 2);
  Shape batch = naive_broadcast(ba, bb);
  const int64_t B = numel_of(batch);
  VD out(B * n * m, 0.0);
  for (int64_t bi = 0; bi < B; ++bi) {
    VI idx = unravel(bi, batch);
    const int64_t oa = bcast_flat(idx, ba), ob = bcast_flat(idx, bb);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < m; ++j) {
        double acc = 0;
        for (int64_t p = 0; p < k; ++p) acc += va[(oa * n + i) * k + p] * vb[(ob * k + p) * m + j];
        out[(bi * n + i) * m + j] = acc;
      }
  }
  *out_shape = batch;
  out_shape->push_back(n);
  out_shape->push_back(m);
  return out;
}

void check_close(const VD& got, const VD& want, double rtol, double atol) {
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    INFO("element ", i, ": got ", got[i], ", want ", want[i]);
    CHECK(std::abs(got[i] - want[i]) <= atol + rtol * std::abs(want[i]));
  }
}

// A tensor of `shape` with rand values + shift; when `strided`, laid out transposed in memory
// so the result is a non-contiguous view.
Tensor rand_maybe_strided(const Shape& shape, bool strided, Generator& g, double shift) {
  Tensor t = rand(shape, {}, &g);
  if (strided && shape.size() >= 2) {
    Shape rev(shape.rbegin(), shape.rend());
    std::vector<int64_t> perm(shape.size());
    for (size_t i = 0; i < perm.size(); ++i) perm[i] = static_cast<int64_t>(perm.size() - 1 - i);
    t = rand(rev, {}, &g).permute(perm);
  }
  t.add_(shift);  // in place, so the strides stay
  return t;
}

}  // namespace

TEST_SUITE("tensor") {
  // ------------------------------------------------------------------------- factories
  TEST_CASE("zeros, ones, full, scalar_tensor") {
    Tensor z = zeros({2, 3});
    CHECK(z.shape() == S{2, 3});
    CHECK(z.dtype() == kFloat32);
    CHECK(z.is_contiguous());
    CHECK(z.strides() == S{3, 1});
    CHECK(z.to_vector<float>() == V(6, 0.f));
    CHECK(ones({4}, dtype(kFloat64)).to_vector<double>() == VD(4, 1.0));
    CHECK(ones({2}, dtype(kInt64)).to_vector<int64_t>() == VI{1, 1});
    CHECK(full({3}, 2.5).to_vector<float>() == V{2.5f, 2.5f, 2.5f});
    CHECK(full({2}, -3.9, dtype(kInt64)).to_vector<int64_t>() == VI{-3, -3});  // truncates
    CHECK(full({2}, 2.0, dtype(kBool)).to_vector<bool>() == VB{true, true});
    CHECK(full({2}, 7.0, dtype(kUInt8)).to_vector<uint8_t>() == std::vector<uint8_t>{7, 7});

    Tensor s = scalar_tensor(3.5);
    CHECK(s.dim() == 0);
    CHECK(s.numel() == 1);
    CHECK(s.shape().empty());
    CHECK(s.item<float>() == 3.5f);
    CHECK(scalar_tensor(4.0, dtype(kInt64)).item<int64_t>() == 4);

    Tensor like = zeros_like(ones({2, 2}, dtype(kFloat64)));
    CHECK(like.dtype() == kFloat64);
    CHECK(like.to_vector<double>() == VD(4, 0.0));
    CHECK(ones_like(zeros({3}, dtype(kInt64))).to_vector<int64_t>() == VI{1, 1, 1});
    CHECK(empty_like(zeros({2, 5})).shape() == S{2, 5});

    Tensor rg = ones({2}, TensorOptions().set_requires_grad(true));
    CHECK(rg.requires_grad());
    CHECK(rg.is_leaf());
  }

  TEST_CASE("empty with 0-size dims") {
    Tensor e = empty({0});
    CHECK(e.numel() == 0);
    CHECK(e.dim() == 1);
    Tensor e2 = empty({3, 0, 2});
    CHECK(e2.numel() == 0);
    CHECK(e2.shape() == S{3, 0, 2});
    CHECK(e2.to_vector<float>().empty());
    CHECK(zeros({0, 4}).sum().item() == 0.0);
    CHECK(zeros({0, 4}).sum({0}).to_vector<float>() == V{0, 0, 0, 0});
    CHECK(zeros({0, 4}).sum({1}).numel() == 0);
    CHECK((zeros({0, 4}) + ones({4})).shape() == S{0, 4});
    CHECK(zeros({0, 4}).clone().shape() == S{0, 4});
    CHECK(zeros({0, 4}).t().contiguous().shape() == S{4, 0});
    CHECK_THROWS_WITH_AS(empty({2, -1}), doctest::Contains("empty: negative dimension"), Error);
    // a zero dim empties the tensor, but the other dims still set its strides: their product
    // must not overflow (found by the IDX fuzzer: [0, 2^32-1, 2^32-1])
    CHECK_THROWS_WITH_AS(empty({0, 4294967295, 4294967295}), doctest::Contains("too many elements"),
                         Error);
    CHECK(empty({0, 1 << 20, 1 << 20}).strides() == S{int64_t{1} << 40, 1 << 20, 1});
    CHECK_THROWS_WITH_AS(max(zeros({0, 3})), doctest::Contains("max: cannot take the max"), Error);
  }

  TEST_CASE("sum over an empty sub-space does not read memory") {
    // a [0,5] view into a storage full of ones: the sum must be 0, not the first row
    Tensor base = ones({3, 5});
    Tensor e = base.narrow(0, 0, 0);
    CHECK(e.sum().item() == 0.0);
    CHECK(e.sum({0, 1}).item() == 0.0);
    CHECK(e.sum({0}).to_vector<float>() == V(5, 0.f));
    Tensor e3 = ones({2, 3, 4}).narrow(1, 0, 0);  // [2,0,4]
    CHECK(e3.sum({1, 2}).to_vector<float>() == V{0, 0});
    CHECK(e3.sum({1}).to_vector<float>() == V(8, 0.f));
  }

  TEST_CASE("arange") {
    Tensor a = arange(5);
    CHECK(a.dtype() == kInt64);
    CHECK(a.to_vector<int64_t>() == VI{0, 1, 2, 3, 4});
    Tensor f = arange(1.0, 4.0);
    CHECK(f.dtype() == kFloat32);
    CHECK(f.to_vector<float>() == V{1, 2, 3});
    CHECK(arange(5.0, 0.0, -1.0).to_vector<float>() == V{5, 4, 3, 2, 1});
    CHECK(arange(-1.0, -2.0, -0.5).to_vector<float>() == V{-1.f, -1.5f});
    CHECK(arange(0.0, 1.0, 0.25).to_vector<float>() == V{0.f, 0.25f, 0.5f, 0.75f});
    CHECK(arange(0.0, 1.0, 0.3).numel() == 4);  // 0, .3, .6, .9
    Tensor tenth = arange(0.0, 1.0, 0.1, dtype(kFloat64));
    REQUIRE(tenth.numel() == 10);
    VD tv = tenth.to_vector<double>();
    for (int i = 0; i < 10; ++i) CHECK(tv[i] == doctest::Approx(0.1 * i).epsilon(1e-12));
    CHECK(arange(1.0, 0.0, 0.5).numel() == 0);
    CHECK(arange(0.0, 0.0).numel() == 0);
    CHECK(arange(0.0, 3.0, 1.0, dtype(kInt64)).to_vector<int64_t>() == VI{0, 1, 2});
    CHECK(arange(0).numel() == 0);
    CHECK_THROWS_WITH_AS(arange(0.0, 1.0, 0.0), doctest::Contains("arange: need finite"), Error);
    CHECK_THROWS_AS(arange(0.0, std::numeric_limits<double>::infinity()), Error);
  }

  TEST_CASE("from_vector, from_blob, tensor literals") {
    Tensor v = from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3});
    CHECK(v.shape() == S{2, 3});
    CHECK(v.to_vector<float>() == V{1, 2, 3, 4, 5, 6});
    CHECK(from_vector<double>({1.5}).shape() == S{1});
    CHECK(from_vector<int64_t>({7, 8}).dtype() == kInt64);
    CHECK(from_vector<uint8_t>({1, 255}).to_vector<uint8_t>() == std::vector<uint8_t>{1, 255});
    Tensor b = from_vector<bool>({true, false, true});
    CHECK(b.dtype() == kBool);
    CHECK(b.to_vector<bool>() == VB{true, false, true});
    CHECK_THROWS_WITH_AS(from_vector<float>({1, 2, 3}, {2, 2}),
                         doctest::Contains("from_vector: 3 values do not fill shape [2,2]"), Error);

    float buf[6] = {1, 2, 3, 4, 5, 6};
    Tensor fb = from_blob(buf, {3, 2}, kFloat32);
    buf[0] = 100.f;  // from_blob copies
    CHECK(fb.shape() == S{3, 2});
    CHECK(fb.to_vector<float>() == V{1, 2, 3, 4, 5, 6});
    int64_t ibuf[2] = {kI64Max, -4};
    CHECK(from_blob(ibuf, {2}, kInt64).to_vector<int64_t>() == VI{kI64Max, -4});
    CHECK(from_blob(nullptr, {0, 3}, kFloat32).numel() == 0);
    CHECK_THROWS_WITH_AS(from_blob(nullptr, {2}, kFloat32),
                         doctest::Contains("from_blob: null data pointer"), Error);

    CHECK(tensor({1.f, 2.f}).to_vector<float>() == V{1, 2});
    CHECK(tensor({1.f, 2.f}).dtype() == kFloat32);
    CHECK(tensor({1.0, 2.0}).dtype() == kFloat64);
    CHECK(tensor({int64_t{3}, int64_t{-4}}).to_vector<int64_t>() == VI{3, -4});
    Tensor m = tensor({{1.f, 2.f, 3.f}, {4.f, 5.f, 6.f}});
    CHECK(m.shape() == S{2, 3});
    CHECK(m.to_vector<float>() == V{1, 2, 3, 4, 5, 6});
    CHECK_THROWS_WITH_AS(tensor({{1.f, 2.f}, {3.f}}),
                         doctest::Contains("tensor: rows have different lengths"), Error);
  }

  // ------------------------------------------------------------------------- random
  TEST_CASE("manual_seed reproduces rand and randn exactly") {
    manual_seed(1234);
    V r1 = rand({64}).to_vector<float>();
    V n1 = randn({3, 7}).to_vector<float>();
    manual_seed(1234);
    V r2 = rand({64}).to_vector<float>();
    V n2 = randn({3, 7}).to_vector<float>();
    CHECK(r1 == r2);
    CHECK(n1 == n2);
    manual_seed(1235);
    V r3 = rand({64}).to_vector<float>();
    CHECK(r3 != r1);
    int same = 0;
    for (size_t i = 0; i < r1.size(); ++i) same += r1[i] == r3[i];
    CHECK(same < 4);
    // a private generator is independent of the default one
    Generator g1(99), g2(99);
    V a = randn({10}, {}, &g1).to_vector<float>();
    rand({5});  // advances only the default generator
    V b = randn({10}, {}, &g2).to_vector<float>();
    CHECK(a == b);
    CHECK(rand({10}, dtype(kFloat64), &g1).dtype() == kFloat64);
    CHECK_THROWS_WITH_AS(rand({2}, dtype(kInt64)),
                         doctest::Contains("rand: needs a floating dtype"), Error);
  }

  TEST_CASE("rand is in [0,1), randn has mean 0 and std 1") {
    Generator g(2024);
    const int n = 100000;
    for (DType dt : {kFloat32, kFloat64}) {
      VD u = rand({n}, dtype(dt), &g).to_vector<double>();
      double lo = 1, hi = 0, sum = 0;
      for (double x : u) {
        lo = std::min(lo, x);
        hi = std::max(hi, x);
        sum += x;
      }
      CHECK(lo >= 0.0);
      CHECK(hi < 1.0);
      CHECK(lo < 1e-3);
      CHECK(hi > 0.999);
      CHECK(sum / n == doctest::Approx(0.5).epsilon(0.01));
    }
    VD z = randn({n}, {}, &g).to_vector<double>();
    double sum = 0, sq = 0;
    int within1 = 0;
    for (double x : z) {
      sum += x;
      sq += x * x;
      within1 += std::abs(x) < 1.0;
    }
    const double mean = sum / n, sd = std::sqrt(sq / n - mean * mean);
    CHECK(std::abs(mean) < 0.02);
    CHECK(std::abs(sd - 1.0) < 0.02);
    CHECK(double(within1) / n == doctest::Approx(0.6827).epsilon(0.02));
    VD un = uniform({1000}, -2.0, 3.0, dtype(kFloat64), &g).to_vector<double>();
    for (double x : un) CHECK((x >= -2.0 && x < 3.0));
  }

  // ------------------------------------------------------------------------- dtypes
  TEST_CASE("dtype conversions saturate and round like PyTorch's defined cases") {
    Tensor f = from_vector<float>({kNaN, kInf, -kInf, 1e30f, -1e30f, 2.7f, -2.7f, 0.5f});
    CHECK(f.to(kInt64).to_vector<int64_t>() == VI{0, kI64Max, kI64Min, kI64Max, kI64Min, 2, -2, 0});
    Tensor d = from_vector<double>({9.3e18, -9.3e18, 9.2e18});
    CHECK(d.to(kInt64).to_vector<int64_t>() == VI{kI64Max, kI64Min, 9200000000000000000});
    Tensor u = from_vector<float>({kNaN, kInf, -kInf, 300.f, -5.f, 3.7f, 255.9f});
    CHECK(u.to(kUInt8).to_vector<uint8_t>() == std::vector<uint8_t>{0, 255, 0, 255, 0, 3, 255});
    Tensor b = from_vector<float>({0.f, -0.f, kNaN, 0.1f, -2.f, kInf});
    CHECK(b.to(kBool).to_vector<bool>() == VB{false, false, true, true, true, true});
    CHECK(from_vector<bool>({true, false}).to(kFloat32).to_vector<float>() == V{1, 0});
    CHECK(from_vector<bool>({true, false}).to(kInt64).to_vector<int64_t>() == VI{1, 0});
    CHECK(ivec({0, 2, -1}).to(kBool).to_vector<bool>() == VB{false, true, true});
    CHECK(from_vector<uint8_t>({0, 2}).to(kBool).to_vector<bool>() == VB{false, true});
    // integer narrowing wraps modulo 256 (as a C cast and PyTorch do)
    CHECK(ivec({300, -1, 255}).to(kUInt8).to_vector<uint8_t>() ==
          std::vector<uint8_t>{44, 255, 255});
    CHECK(ivec({(int64_t{1} << 53) + 1}).to(kFloat64).item<double>() == 9007199254740992.0);
    CHECK(from_vector<double>({0.1}).to(kFloat32).item<float>() == 0.1f);
    CHECK(from_vector<uint8_t>({200}).to(kFloat32).item<float>() == 200.f);
    // to() of the same dtype is the same tensor; a conversion is a copy
    Tensor x = ones({2});
    CHECK(x.to(kFloat32).is_same(x));
    Tensor y = x.to(kFloat64);
    CHECK(y.dtype() == kFloat64);
    x.fill_(5.0);
    CHECK(y.to_vector<double>() == VD{1, 1});
    // conversion of a non-contiguous view keeps the logical order
    CHECK(iota({2, 3}).t().to(kInt64).to_vector<int64_t>() == VI{0, 3, 1, 4, 2, 5});
  }

  TEST_CASE("item and to_vector") {
    CHECK(scalar_tensor(2.5).item() == 2.5);
    CHECK(tensor({7.f}).item<int64_t>() == 7);
    CHECK(ones({1, 1, 1}).item<float>() == 1.f);
    CHECK(ivec({kI64Max}).item<int64_t>() == kI64Max);
    CHECK(from_vector<bool>({true}).item<bool>());
    CHECK(from_vector<float>({-1.5f}).item<int64_t>() == -1);
    CHECK(iota({3, 4}).select(1, 2).to_vector<float>() == V{2, 6, 10});
    CHECK(iota({2, 2}).to_vector<int64_t>() == VI{0, 1, 2, 3});
    CHECK(iota({2, 2}).to_vector<double>() == VD{0, 1, 2, 3});
    CHECK_THROWS_WITH_AS(tensor({1.f, 2.f, 3.f}).item(),
                         doctest::Contains("item: tensor has 3 elements (shape [3])"), Error);
    CHECK_THROWS_WITH_AS(zeros({0}).item(), doctest::Contains("item: tensor has 0 elements"),
                         Error);
    CHECK_THROWS_AS(Tensor().item(), Error);
  }

  TEST_CASE("data_ptr checks the dtype") {
    Tensor t = iota({2, 3});
    CHECK(t.data_ptr<float>()[4] == 4.f);
    CHECK(t.select(0, 1).data_ptr<float>()[0] == 3.f);  // points at the view's first element
    CHECK_THROWS_WITH_AS(t.data_ptr<int64_t>(),
                         doctest::Contains("data_ptr: tensor is float32 but int64 was requested"),
                         Error);
    CHECK_THROWS_WITH_AS(t.data_ptr<double>(), doctest::Contains("(shape [2,3])"), Error);
    CHECK_THROWS_AS(ivec({1}).data_ptr<float>(), Error);
  }

  // ------------------------------------------------------------------------- element-wise
  TEST_CASE("binary ops broadcast like a naive reference loop") {
    struct Op {
      const char* name;
      std::function<Tensor(const Tensor&, const Tensor&)> op;
      std::function<float(float, float)> ref;
    };
    std::vector<Op> ops = {
        {"add", [](const Tensor& a, const Tensor& b) { return a + b; },
         [](float x, float y) { return x + y; }},
        {"sub", [](const Tensor& a, const Tensor& b) { return sub(a, b); },
         [](float x, float y) { return x - y; }},
        {"mul", [](const Tensor& a, const Tensor& b) { return a * b; },
         [](float x, float y) { return x * y; }},
        {"div", [](const Tensor& a, const Tensor& b) { return a / b; },
         [](float x, float y) { return x / y; }},
        {"maximum", [](const Tensor& a, const Tensor& b) { return maximum(a, b); },
         [](float x, float y) { return x > y ? x : y; }},
        {"minimum", [](const Tensor& a, const Tensor& b) { return minimum(a, b); },
         [](float x, float y) { return x < y ? x : y; }},
    };
    std::mt19937 rng(7);
    Generator g(11);
    auto rnd = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
    std::vector<std::pair<Shape, Shape>> cases = {
        {{3, 1, 5}, {4, 1}}, {{4, 1}, {3, 1, 5}},    {{2, 3}, {3}},   {{5}, {1}},
        {{1}, {2, 3, 4}},    {{2, 1, 3}, {1, 4, 1}}, {{7, 6}, {7, 6}}};
    for (int i = 0; i < 25; ++i) {  // plus random broadcast-compatible shapes
      Shape out(rnd(1, 4));
      for (auto& d : out) d = rnd(1, 5);
      Shape a(out.end() - rnd(1, int(out.size())), out.end());
      Shape b(out.end() - rnd(1, int(out.size())), out.end());
      for (auto& d : a)
        if (rnd(0, 2) == 0) d = 1;
      for (auto& d : b)
        if (rnd(0, 2) == 0) d = 1;
      cases.push_back({a, b});
    }
    int idx = 0;
    for (const auto& [sa, sb] : cases) {
      const bool strided = (idx++ % 2) == 1;
      Tensor a = rand_maybe_strided(sa, strided, g, -0.5);
      Tensor b = rand_maybe_strided(sb, !strided, g, 0.5);  // never 0, safe for div
      V va = a.to_vector<float>(), vb = b.to_vector<float>();
      const Shape so = naive_broadcast(sa, sb);
      for (const Op& op : ops) {
        INFO(op.name, " of ", shape_str(sa), " and ", shape_str(sb));
        Tensor out = op.op(a, b);
        REQUIRE(out.shape() == so);
        CHECK(out.dtype() == kFloat32);
        V vo = out.to_vector<float>();
        int bad = 0;
        for (int64_t i = 0; i < numel_of(so); ++i) {
          VI oi = unravel(i, so);
          bad += vo[i] != op.ref(va[bcast_flat(oi, sa)], vb[bcast_flat(oi, sb)]);
        }
        CHECK(bad == 0);
      }
    }
  }

  TEST_CASE("binary ops with a 0-d operand and with scalars") {
    Tensor a = tensor({1.f, 2.f, 4.f});
    Tensor s = scalar_tensor(2.0);
    CHECK((a * s).to_vector<float>() == V{2, 4, 8});
    CHECK((s - a).to_vector<float>() == V{1, 0, -2});
    CHECK((s + s).dim() == 0);
    CHECK((a + 1.0).to_vector<float>() == V{2, 3, 5});
    CHECK((a - 1.0).to_vector<float>() == V{0, 1, 3});
    CHECK((a * 3.0).to_vector<float>() == V{3, 6, 12});
    CHECK((a / 2.0).to_vector<float>() == V{0.5f, 1, 2});
    CHECK((1.0 + a).to_vector<float>() == V{2, 3, 5});
    CHECK((10.0 - a).to_vector<float>() == V{9, 8, 6});
    CHECK((2.0 * a).to_vector<float>() == V{2, 4, 8});
    CHECK((8.0 / a).to_vector<float>() == V{8, 4, 2});
    CHECK((-a).to_vector<float>() == V{-1, -2, -4});
    CHECK(pow(a, 2.0).to_vector<float>() == V{1, 4, 16});
    CHECK(pow(a, tensor({3.f, 0.5f, 0.f})).to_vector<float>() == V{1, std::sqrt(2.f), 1});
    CHECK(a.sqrt().to_vector<float>() == V{1, std::sqrt(2.f), 2});
    CHECK(tensor({-1.f, 0.f, 3.f}).relu().to_vector<float>() == V{0, 0, 3});
    CHECK(tensor({-1.5f, 2.f}).abs().to_vector<float>() == V{1.5f, 2});
    CHECK(tensor({0.f}).exp().item<float>() == 1.f);
    CHECK(tensor({1.f}).log().item<float>() == 0.f);
    CHECK(tensor({0.f}).sigmoid().item<float>() == 0.5f);
    CHECK(tensor({0.f}).tanh().item<float>() == 0.f);
    // float64 stays float64
    Tensor d = tensor({1.0, 3.0}) / tensor({4.0, 3.0});
    CHECK(d.dtype() == kFloat64);
    CHECK(d.to_vector<double>() == VD{0.25, 1.0});
  }

  TEST_CASE("int64 arithmetic wraps on overflow") {
    Tensor a = ivec({kI64Max, kI64Min, 5, -7});
    Tensor one = ivec({1});
    CHECK((a + one).to_vector<int64_t>() == VI{kI64Min, kI64Min + 1, 6, -6});
    CHECK((a - one).to_vector<int64_t>() == VI{kI64Max - 1, kI64Max, 4, -8});
    CHECK((a * ivec({2})).to_vector<int64_t>() == VI{-2, 0, 10, -14});
    CHECK((ivec({int64_t{1} << 62}) * ivec({4})).item<int64_t>() == 0);
    CHECK((ivec({kI64Min}) * ivec({-1})).item<int64_t>() == kI64Min);
    CHECK((-ivec({kI64Min, 3})).to_vector<int64_t>() == VI{kI64Min, -3});
    CHECK(ivec({kI64Min, -3}).abs().to_vector<int64_t>() == VI{kI64Min, 3});
    CHECK(maximum(ivec({1, 9, -3}), ivec({4, 2, -3})).to_vector<int64_t>() == VI{4, 9, -3});
    CHECK(minimum(ivec({1, 9, -3}), ivec({4, 2, -3})).to_vector<int64_t>() == VI{1, 2, -3});
    CHECK((ivec({2, 3}) + 10.0).to_vector<int64_t>() == VI{12, 13});
    CHECK((ivec({3, 4}) * ivec({2, 1}, {2, 1})).to_vector<int64_t>() == VI{6, 8, 3, 4});
    CHECK((ivec({3}) + ivec({4})).dtype() == kInt64);
    // large values are exact (no round trip through double)
    CHECK((ivec({kI64Max - 10}) + ivec({3})).item<int64_t>() == kI64Max - 7);
    // uint8 wraps modulo 256
    Tensor u = from_vector<uint8_t>({250, 3});
    CHECK((u + from_vector<uint8_t>({10, 1})).to_vector<uint8_t>() == std::vector<uint8_t>{4, 4});
    CHECK((u * from_vector<uint8_t>({2, 2})).to_vector<uint8_t>() == std::vector<uint8_t>{244, 6});
    CHECK_THROWS_WITH_AS(ivec({4}) / ivec({2}),
                         doctest::Contains("div: not supported for dtype int64"), Error);
    CHECK_THROWS_WITH_AS(ivec({4}).exp(), doctest::Contains("exp: expected a floating-point"),
                         Error);
    CHECK_THROWS_WITH_AS(ivec({4}) + 0.5, doctest::Contains("0.5 is not a whole number"), Error);
  }

  TEST_CASE("comparisons give bool tensors") {
    Tensor a = tensor({1.f, 2.f, 3.f}), b = tensor({3.f, 2.f, 1.f});
    CHECK(eq(a, b).dtype() == kBool);
    CHECK(eq(a, b).to_vector<bool>() == VB{false, true, false});
    CHECK(ne(a, b).to_vector<bool>() == VB{true, false, true});
    CHECK(lt(a, b).to_vector<bool>() == VB{true, false, false});
    CHECK(le(a, b).to_vector<bool>() == VB{true, true, false});
    CHECK(gt(a, b).to_vector<bool>() == VB{false, false, true});
    CHECK(ge(a, b).to_vector<bool>() == VB{false, true, true});
    CHECK((a == b).to_vector<bool>() == VB{false, true, false});
    CHECK((a != b).to_vector<bool>() == VB{true, false, true});
    CHECK((a < b).to_vector<bool>() == VB{true, false, false});
    CHECK((a <= b).to_vector<bool>() == VB{true, true, false});
    CHECK((a > b).to_vector<bool>() == VB{false, false, true});
    CHECK((a >= b).to_vector<bool>() == VB{false, true, true});
    CHECK((a > 1.5).to_vector<bool>() == VB{false, true, true});
    CHECK((a == 2.0).to_vector<bool>() == VB{false, true, false});
    CHECK((a != 2.0).to_vector<bool>() == VB{true, false, true});
    CHECK((a < 2.0).to_vector<bool>() == VB{true, false, false});
    CHECK((a <= 2.0).to_vector<bool>() == VB{true, true, false});
    CHECK((a >= 2.0).to_vector<bool>() == VB{false, true, true});
    // broadcasting [3,1] against [2]
    Tensor c = lt(from_vector<float>({1, 2, 3}, {3, 1}), tensor({2.f, 3.f}));
    CHECK(c.shape() == S{3, 2});
    CHECK(c.to_vector<bool>() == VB{true, true, false, true, false, false});
    // NaN compares unequal to everything, itself included
    Tensor n = tensor({kNaN, 1.f});
    CHECK(eq(n, n).to_vector<bool>() == VB{false, true});
    CHECK(ne(n, n).to_vector<bool>() == VB{true, false});
    CHECK(lt(n, tensor({2.f, 2.f})).to_vector<bool>() == VB{false, true});
    CHECK(ge(n, tensor({2.f, 2.f})).to_vector<bool>() == VB{false, false});
    CHECK(gt(ivec({kI64Max, 0}), ivec({kI64Max - 1, 0})).to_vector<bool>() == VB{true, false});
    Tensor bb = eq(from_vector<bool>({true, false}), from_vector<bool>({true, true}));
    CHECK(bb.to_vector<bool>() == VB{true, false});
  }

  // ------------------------------------------------------------------------- reductions
  TEST_CASE("sum and mean against a naive loop") {
    Generator g(5);
    const Shape s = {3, 4, 5};
    Tensor base = randn(s, {}, &g);
    // also a non-contiguous tensor with the same logical shape and values
    Tensor strided = base.permute({2, 0, 1}).contiguous().permute({1, 2, 0});
    REQUIRE_FALSE(strided.is_contiguous());
    REQUIRE(strided.to_vector<float>() == base.to_vector<float>());
    VD v = base.to_vector<double>();
    auto add = [](double x, double y) { return x + y; };
    std::vector<VI> dim_sets = {{0}, {1}, {2}, {0, 1}, {0, 2}, {1, 2}, {0, 1, 2}};
    for (const Tensor& a : {base, strided}) {
      for (const VI& dims : dim_sets) {
        for (bool keepdim : {false, true}) {
          INFO("dims ", shape_str(dims), " keepdim ", keepdim, " contiguous ", a.is_contiguous());
          Shape kept;
          VD want = naive_reduce(v, s, dims, 0.0, add, &kept);
          Shape want_shape;
          for (size_t d = 0; d < s.size(); ++d) {
            bool reduced = std::find(dims.begin(), dims.end(), int64_t(d)) != dims.end();
            if (!reduced)
              want_shape.push_back(s[d]);
            else if (keepdim)
              want_shape.push_back(1);
          }
          Tensor got = a.sum(dims, keepdim);
          CHECK(got.shape() == want_shape);
          CHECK(got.dtype() == kFloat32);
          check_close(got.to_vector<double>(), want, 1e-5, 1e-5);
          // the same dims spelled negatively
          VI neg;
          for (int64_t d : dims) neg.push_back(d - 3);
          CHECK(a.sum(neg, keepdim).shape() == want_shape);
          check_close(a.sum(neg, keepdim).to_vector<double>(), want, 1e-5, 1e-5);
          // mean divides by the reduced count
          double count = 1;
          for (int64_t d : dims) count *= double(s[d]);
          VD want_mean = want;
          for (double& x : want_mean) x /= count;
          check_close(a.mean(dims, keepdim).to_vector<double>(), want_mean, 1e-5, 1e-6);
        }
      }
    }
    double total = 0;
    for (double x : v) total += x;
    CHECK(base.sum().dim() == 0);
    CHECK(base.sum().item() == doctest::Approx(total).epsilon(1e-5));
    CHECK(strided.sum().item() == doctest::Approx(total).epsilon(1e-5));
    CHECK(base.mean().item() == doctest::Approx(total / 60).epsilon(1e-5));
    CHECK(sum(base, {}, true).shape() == S{1, 1, 1});
    CHECK(scalar_tensor(4.0).sum().item() == 4.0);
    CHECK(scalar_tensor(4.0).sum({0}).item() == 4.0);
  }

  TEST_CASE("hand-checked sums, integer sums and reduction errors") {
    Tensor m = tensor({{1.f, 2.f, 3.f}, {4.f, 5.f, 6.f}});
    CHECK(m.sum({0}).to_vector<float>() == V{5, 7, 9});
    CHECK(m.sum({1}).to_vector<float>() == V{6, 15});
    CHECK(m.sum({-1}, true).shape() == S{2, 1});
    CHECK(m.t().sum({0}).to_vector<float>() == V{6, 15});
    CHECK(m.mean({0}).to_vector<float>() == V{2.5f, 3.5f, 4.5f});
    CHECK(m.sum().item() == 21.0);
    Tensor is = ivec({kI64Max, 1, -1}).sum();
    CHECK(is.dtype() == kInt64);
    CHECK(is.item<int64_t>() == kI64Max);
    Tensor u = full({300}, 200.0, dtype(kUInt8)).sum();  // widens, no uint8 wrap
    CHECK(u.dtype() == kInt64);
    CHECK(u.item<int64_t>() == 60000);
    CHECK(from_vector<bool>({true, false, true}).sum().item<int64_t>() == 2);
    CHECK_THROWS_WITH_AS(m.sum({2}), doctest::Contains("sum: dim 2 out of range"), Error);
    CHECK_THROWS_WITH_AS(m.sum({0, -2}), doctest::Contains("sum: a dim appears twice"), Error);
    CHECK_THROWS_WITH_AS(ivec({1, 2}).mean(), doctest::Contains("mean: expected a floating-point"),
                         Error);
  }

  TEST_CASE("max, min, argmax over a dim against a naive loop") {
    Generator g(9);
    const Shape s = {4, 3, 5};
    Tensor base = randn(s, {}, &g);
    Tensor strided = base.transpose(0, 2).contiguous().transpose(0, 2);
    REQUIRE_FALSE(strided.is_contiguous());
    V v = base.to_vector<float>();
    for (const Tensor& a : {base, strided}) {
      for (int64_t dim = 0; dim < 3; ++dim) {
        for (bool keepdim : {false, true}) {
          INFO("dim ", dim, " keepdim ", keepdim);
          Shape kept = s;
          kept[dim] = 1;
          V want_max(numel_of(kept)), want_min(numel_of(kept));
          VI want_arg(numel_of(kept)), want_argmin(numel_of(kept));
          for (int64_t o = 0; o < numel_of(kept); ++o) {
            VI idx = unravel(o, kept);
            for (int64_t i = 0; i < s[dim]; ++i) {
              idx[dim] = i;
              const float x = v[(idx[0] * s[1] + idx[1]) * s[2] + idx[2]];
              if (i == 0 || x > want_max[o]) want_max[o] = x, want_arg[o] = i;
              if (i == 0 || x < want_min[o]) want_min[o] = x, want_argmin[o] = i;
            }
          }
          auto [mx, mi] = a.max(dim, keepdim);
          auto [mn, ni] = a.min(dim - 3, keepdim);
          Shape want_shape = s;
          if (keepdim)
            want_shape[dim] = 1;
          else
            want_shape.erase(want_shape.begin() + dim);
          CHECK(mx.shape() == want_shape);
          CHECK(mi.shape() == want_shape);
          CHECK(mi.dtype() == kInt64);
          CHECK(mx.to_vector<float>() == want_max);
          CHECK(mi.to_vector<int64_t>() == want_arg);
          CHECK(mn.to_vector<float>() == want_min);
          CHECK(ni.to_vector<int64_t>() == want_argmin);
          CHECK(a.argmax(dim, keepdim).to_vector<int64_t>() == want_arg);
          CHECK(argmin(a, dim, keepdim).to_vector<int64_t>() == want_argmin);
        }
      }
    }
    float hi = v[0], lo = v[0];
    for (float x : v) hi = std::max(hi, x), lo = std::min(lo, x);
    CHECK(base.max().item<float>() == hi);
    CHECK(strided.min().item<float>() == lo);
    CHECK(base.max().dim() == 0);
    // ties go to the first index
    Tensor t = tensor({{3.f, 1.f, 3.f}, {2.f, 2.f, 0.f}});
    CHECK(t.argmax(1).to_vector<int64_t>() == VI{0, 0});
    CHECK(argmin(t, 1).to_vector<int64_t>() == VI{1, 2});
    CHECK(max(ivec({4, -2, 9, 9}), 0).second.item<int64_t>() == 2);
    CHECK(ivec({4, -2, 9}).max().item<int64_t>() == 9);
    CHECK_THROWS_WITH_AS(t.max(2), doctest::Contains("max: dim 2 out of range"), Error);
    CHECK_THROWS_WITH_AS(t.argmax(-3), doctest::Contains("out of range"), Error);
  }

  TEST_CASE("NaN propagates through max, min, maximum and minimum") {
    Tensor n = tensor({1.f, kNaN, 3.f});
    CHECK(std::isnan(n.max().item<float>()));
    CHECK(std::isnan(n.min().item<float>()));
    Tensor m = tensor({{1.f, kNaN, 3.f}, {4.f, 5.f, 6.f}});
    auto [vals, idx] = m.max(1);
    V vv = vals.to_vector<float>();
    CHECK(std::isnan(vv[0]));
    CHECK(vv[1] == 6.f);
    CHECK(idx.to_vector<int64_t>() == VI{1, 2});
    auto [mvals, midx] = m.min(1);
    CHECK(std::isnan(mvals.to_vector<float>()[0]));
    CHECK(midx.to_vector<int64_t>() == VI{1, 0});
    auto [cvals, cidx] = m.max(0);
    V cv = cvals.to_vector<float>();
    CHECK(cv[0] == 4.f);
    CHECK(std::isnan(cv[1]));
    CHECK(cidx.to_vector<int64_t>() == VI{1, 0, 1});
    // the first NaN wins over a later larger value
    CHECK(std::isnan(tensor({kNaN, 100.f}).max().item<float>()));
    V mx = maximum(tensor({1.f, kNaN, 2.f}), tensor({kNaN, 1.f, 3.f})).to_vector<float>();
    CHECK(std::isnan(mx[0]));
    CHECK(std::isnan(mx[1]));
    CHECK(mx[2] == 3.f);
    V mn = minimum(tensor({1.f, kNaN, 2.f}), tensor({kNaN, 1.f, 3.f})).to_vector<float>();
    CHECK(std::isnan(mn[0]));
    CHECK(std::isnan(mn[1]));
    CHECK(mn[2] == 2.f);
    CHECK(std::isnan(tensor({kNaN, 1.f}).sum().item()));
  }

  TEST_CASE("a big float32 sum is accurate") {
    const int64_t n = 10000000;
    Tensor a = full({n}, 0.1);
    const double want = double(0.1f) * double(n);  // float 0.1 is 0.100000001490116...
    CHECK(a.sum().item() == doctest::Approx(want).epsilon(1e-6));
    CHECK(std::abs(a.sum().item() - 1e6) / 1e6 < 1e-3);
    CHECK(a.mean().item() == doctest::Approx(0.1).epsilon(1e-6));
    // per-output accumulation is accurate too
    Tensor rows = a.view({10, n / 10});
    VD per = rows.sum({1}).to_vector<double>();
    for (double x : per) CHECK(x == doctest::Approx(want / 10).epsilon(1e-6));
    CHECK(rows.t().sum().item() == doctest::Approx(want).epsilon(1e-6));
  }

  // ------------------------------------------------------------------------- matmul
  TEST_CASE("matmul matches a naive triple loop") {
    Generator g(3);
    struct Case {
      Shape a, b;
    };
    std::vector<Case> cases = {
        {{3, 4}, {4, 5}},    {{1, 7}, {7, 1}},    {{2, 3, 4}, {2, 4, 6}}, {{2, 1, 3, 4}, {3, 4, 2}},
        {{5, 2, 3}, {3, 4}}, {{3, 4}, {2, 4, 5}}, {{1, 2, 3}, {4, 3, 2}}, {{65, 33}, {33, 17}}};
    for (const Case& c : cases) {
      INFO("a ", shape_str(c.a), " b ", shape_str(c.b));
      Tensor a = randn(c.a, {}, &g), b = randn(c.b, {}, &g);
      Shape want_shape;
      VD want = naive_matmul(a, b, &want_shape);
      Tensor out = matmul(a, b);
      CHECK(out.shape() == want_shape);
      check_close(out.to_vector<double>(), want, 1e-4, 1e-4);
      check_close(a.matmul(b).to_vector<double>(), want, 1e-4, 1e-4);
    }
    // transposed operands (used in place, no copy) against the same loop
    Tensor a = randn({4, 3}, {}, &g), b = randn({5, 4}, {}, &g);
    Shape ws;
    VD want = naive_matmul(a.t().contiguous(), b.t().contiguous(), &ws);
    check_close(matmul(a.t(), b.t()).to_vector<double>(), want, 1e-4, 1e-4);
    CHECK(ws == S{3, 5});
    Tensor ba = randn({2, 4, 3}, {}, &g), bb = randn({2, 5, 4}, {}, &g);
    want = naive_matmul(ba.transpose(1, 2).contiguous(), bb.transpose(1, 2).contiguous(), &ws);
    check_close(matmul(ba.transpose(1, 2), bb.transpose(1, 2)).to_vector<double>(), want, 1e-4,
                1e-4);
    // a strided (every other column) operand
    Tensor wide = randn({3, 8}, {}, &g);
    Tensor sl = wide.slice(1, 0, 8, 2);  // [3,4], column stride 2
    want = naive_matmul(sl.contiguous(), b.t().contiguous(), &ws);
    check_close(matmul(sl, b.t()).to_vector<double>(), want, 1e-4, 1e-4);
    // an expanded (stride-0) batch
    Tensor eb = randn({1, 4, 2}, {}, &g).expand({3, 4, 2});
    Tensor ea = randn({3, 2, 4}, {}, &g);
    want = naive_matmul(ea, eb.contiguous(), &ws);
    check_close(matmul(ea, eb).to_vector<double>(), want, 1e-4, 1e-4);
    // float64
    Tensor da = randn({3, 4}, dtype(kFloat64), &g), db = randn({4, 2}, dtype(kFloat64), &g);
    want = naive_matmul(da, db, &ws);
    Tensor dout = matmul(da, db);
    CHECK(dout.dtype() == kFloat64);
    check_close(dout.to_vector<double>(), want, 1e-12, 1e-12);
  }

  TEST_CASE("matmul with 1-D operands, by hand") {
    Tensor v = tensor({1.f, 2.f, 3.f});
    Tensor w = tensor({4.f, -5.f, 6.f});
    Tensor dot = matmul(v, w);
    CHECK(dot.dim() == 0);
    CHECK(dot.item<float>() == 12.f);                         // 4 - 10 + 18
    Tensor m = tensor({{1.f, 0.f}, {2.f, 1.f}, {0.f, 3.f}});  // [3,2]
    Tensor vm = matmul(v, m);
    CHECK(vm.shape() == S{2});
    CHECK(vm.to_vector<float>() == V{5, 11});
    Tensor mv = matmul(m.t(), v);
    CHECK(mv.shape() == S{2});
    CHECK(mv.to_vector<float>() == V{5, 11});
    Tensor bv = matmul(m.unsqueeze(0).expand({2, 3, 2}).transpose(1, 2), v);
    CHECK(bv.shape() == S{2, 2});
    CHECK(bv.to_vector<float>() == V{5, 11, 5, 11});
    Tensor vb = matmul(v, m.unsqueeze(0).expand({2, 3, 2}));
    CHECK(vb.shape() == S{2, 2});
    CHECK(vb.to_vector<float>() == V{5, 11, 5, 11});
    // an empty inner dim gives zeros
    Tensor z = matmul(zeros({2, 0}), zeros({0, 3}));
    CHECK(z.shape() == S{2, 3});
    CHECK(z.to_vector<float>() == V(6, 0.f));
  }

  TEST_CASE("matmul errors") {
    CHECK_THROWS_WITH_AS(matmul(ones({2, 3}), ones({4, 5})),
                         doctest::Contains("matmul: inner dimensions differ (a [2,3], b [4,5])"),
                         Error);
    CHECK_THROWS_WITH_AS(matmul(ones({3}), ones({4})),
                         doctest::Contains("matmul: inner dimensions differ"), Error);
    CHECK_THROWS_WITH_AS(matmul(ones({2, 2, 3}), ones({3, 3, 2})),
                         doctest::Contains("matmul: shapes [2] and [3] cannot be broadcast"),
                         Error);
    CHECK_THROWS_WITH_AS(matmul(ones({2, 2}), ones({2, 2}, dtype(kFloat64))),
                         doctest::Contains("matmul: dtype mismatch float32 vs float64"), Error);
    CHECK_THROWS_WITH_AS(matmul(ivec({1, 2}, {1, 2}), ivec({1, 2}, {2, 1})),
                         doctest::Contains("matmul: expected floating-point"), Error);
    CHECK_THROWS_WITH_AS(matmul(scalar_tensor(1.0), ones({2})),
                         doctest::Contains("matmul: both operands need at least 1 dim"), Error);
  }

  // ------------------------------------------------------------------------- joining, indexing
  TEST_CASE("cat and stack") {
    Tensor a = tensor({{1.f, 2.f}, {3.f, 4.f}});
    Tensor b = tensor({{5.f, 6.f}});
    Tensor c0 = cat({a, b}, 0);
    CHECK(c0.shape() == S{3, 2});
    CHECK(c0.to_vector<float>() == V{1, 2, 3, 4, 5, 6});
    Tensor c1 = cat({a, b.t().expand({2, 2}), a.t()}, 1);
    CHECK(c1.shape() == S{2, 6});
    CHECK(c1.to_vector<float>() == V{1, 2, 5, 5, 1, 3, 3, 4, 6, 6, 2, 4});
    CHECK(cat({a, a}, -1).to_vector<float>() == V{1, 2, 1, 2, 3, 4, 3, 4});
    CHECK(cat({a}).to_vector<float>() == a.to_vector<float>());
    CHECK(cat({a, zeros({0, 2})}, 0).shape() == S{2, 2});
    CHECK(cat({ivec({1}), ivec({2, 3})}).to_vector<int64_t>() == VI{1, 2, 3});
    CHECK_THROWS_WITH_AS(cat({a, ones({2, 3})}, 0),
                         doctest::Contains("cat: tensor 1 has shape [2,3] but tensor 0 has [2,2]"),
                         Error);
    CHECK_THROWS_WITH_AS(cat({a, ones({2, 2}, dtype(kFloat64))}),
                         doctest::Contains("cat: tensor 1"), Error);
    CHECK_THROWS_WITH_AS(cat({a, a}, 2), doctest::Contains("cat: dim 2 out of range"), Error);
    CHECK_THROWS_AS(cat({}), Error);

    Tensor x = tensor({1.f, 2.f, 3.f}), y = tensor({4.f, 5.f, 6.f});
    Tensor s0 = stack({x, y});
    CHECK(s0.shape() == S{2, 3});
    CHECK(s0.to_vector<float>() == V{1, 2, 3, 4, 5, 6});
    Tensor s1 = stack({x, y}, 1);
    CHECK(s1.shape() == S{3, 2});
    CHECK(s1.to_vector<float>() == V{1, 4, 2, 5, 3, 6});
    CHECK(stack({x, y}, -1).to_vector<float>() == V{1, 4, 2, 5, 3, 6});
    CHECK(stack({scalar_tensor(1.0), scalar_tensor(2.0)}).to_vector<float>() == V{1, 2});
    CHECK_THROWS_WITH_AS(stack({x, tensor({1.f})}),
                         doctest::Contains("stack: tensor 1 has shape [1] but tensor 0 has [3]"),
                         Error);
  }

  TEST_CASE("index_select and gather") {
    Tensor a = iota({3, 4});
    Tensor r = index_select(a, 0, ivec({2, 0, 2}));
    CHECK(r.shape() == S{3, 4});
    CHECK(r.to_vector<float>() == V{8, 9, 10, 11, 0, 1, 2, 3, 8, 9, 10, 11});
    Tensor c = index_select(a, -1, ivec({3, 1}));
    CHECK(c.shape() == S{3, 2});
    CHECK(c.to_vector<float>() == V{3, 1, 7, 5, 11, 9});
    CHECK(index_select(a.t(), 0, ivec({1})).to_vector<float>() == V{1, 5, 9});
    CHECK(index_select(a, 0, ivec({})).shape() == S{0, 4});
    CHECK(index_select(ivec({10, 20, 30}), 0, ivec({2, 2})).to_vector<int64_t>() == VI{30, 30});
    CHECK_THROWS_WITH_AS(
        index_select(a, 0, ivec({1, 3})),
        doctest::Contains("index_select: index 3 is out of range for dim 0 with size 3"), Error);
    CHECK_THROWS_WITH_AS(index_select(a, 0, ivec({1, 3})), doctest::Contains("input [3,4]"), Error);
    CHECK_THROWS_WITH_AS(index_select(a, 1, ivec({-1})),
                         doctest::Contains("index -1 is out of range"), Error);
    CHECK_THROWS_WITH_AS(index_select(a, 0, tensor({1.f})),
                         doctest::Contains("index_select: index must be int64"), Error);
    CHECK_THROWS_WITH_AS(index_select(a, 0, ivec({0, 1}, {1, 2})),
                         doctest::Contains("index_select: index must be 1-D"), Error);
    CHECK_THROWS_WITH_AS(index_select(a, 2, ivec({0})),
                         doctest::Contains("index_select: dim 2 out of range"), Error);

    Tensor m = tensor({{1.f, 2.f}, {3.f, 4.f}});
    CHECK(gather(m, 1, ivec({0, 0, 1, 0}, {2, 2})).to_vector<float>() == V{1, 1, 4, 3});
    Tensor m23 = tensor({{1.f, 2.f, 3.f}, {4.f, 5.f, 6.f}});
    Tensor g0 = gather(m23, 0, ivec({1, 0, 1}, {1, 3}));
    CHECK(g0.shape() == S{1, 3});
    CHECK(g0.to_vector<float>() == V{4, 2, 6});
    // the index may be smaller than the input outside `dim`
    Tensor gs = gather(a, 1, ivec({3, 0, 1, 1}, {2, 2}));
    CHECK(gs.to_vector<float>() == V{3, 0, 5, 5});
    Tensor gs0 = gather(a, 0, ivec({2, 1}, {1, 2}));
    CHECK(gs0.to_vector<float>() == V{8, 5});
    CHECK(gather(a.t(), -1, ivec({2, 0}, {2, 1})).to_vector<float>() == V{8, 1});
    CHECK_THROWS_WITH_AS(gather(a, 1, ivec({4}, {1, 1})),
                         doctest::Contains("gather: index 4 is out of range for dim 1 with size 4"),
                         Error);
    CHECK_THROWS_WITH_AS(gather(a, 0, ivec({0, 0, 0, 0, 0}, {1, 5})),
                         doctest::Contains("gather: index [1,5] is larger than input [3,4]"),
                         Error);
    CHECK_THROWS_WITH_AS(gather(a, 0, ivec({0})), doctest::Contains("gather: index has 1 dims"),
                         Error);
  }

  // ------------------------------------------------------------------------- in place
  TEST_CASE("in-place ops with broadcasting") {
    Tensor a = zeros({2, 3});
    a.fill_(1.5);
    CHECK(a.to_vector<float>() == V(6, 1.5f));
    a.add_(tensor({1.f, 2.f, 3.f}));
    CHECK(a.to_vector<float>() == V{2.5f, 3.5f, 4.5f, 2.5f, 3.5f, 4.5f});
    a.sub_(from_vector<float>({0.5f, 1.5f}, {2, 1}));
    CHECK(a.to_vector<float>() == V{2, 3, 4, 1, 2, 3});
    a.add_(tensor({1.f, 1.f, 2.f}), 2.0);  // a += 2 * other
    CHECK(a.to_vector<float>() == V{4, 5, 8, 3, 4, 7});
    a.sub_(ones({3}), 0.5);
    CHECK(a.to_vector<float>() == V{3.5f, 4.5f, 7.5f, 2.5f, 3.5f, 6.5f});
    a.mul_(from_vector<float>({2, 0}, {2, 1}));
    CHECK(a.to_vector<float>() == V{7, 9, 15, 0, 0, 0});
    a.mul_(0.5).add_(1.0);
    CHECK(a.to_vector<float>() == V{4.5f, 5.5f, 8.5f, 1, 1, 1});
    a.zero_();
    CHECK(a.to_vector<float>() == V(6, 0.f));

    // copy_ broadcasts and converts
    Tensor b = zeros({2, 3});
    b.copy_(tensor({1.0, 2.0, 3.0}));  // float64 source
    CHECK(b.to_vector<float>() == V{1, 2, 3, 1, 2, 3});
    b.copy_(ivec({7, 8}, {2, 1}));
    CHECK(b.to_vector<float>() == V{7, 7, 7, 8, 8, 8});
    b.copy_(iota({3, 2}).t());  // non-contiguous source
    CHECK(b.to_vector<float>() == V{0, 2, 4, 1, 3, 5});
    // a source with extra leading size-1 dims
    b.copy_(iota({1, 2, 3}) + 1.0);
    CHECK(b.to_vector<float>() == V{1, 2, 3, 4, 5, 6});
    b.add_(ones({1, 1, 3}));
    CHECK(b.to_vector<float>() == V{2, 3, 4, 5, 6, 7});
    b.mul_(full({1, 2, 1}, 2.0));
    CHECK(b.to_vector<float>() == V{4, 6, 8, 10, 12, 14});
    b.add_(ones({1, 2, 3}), 0.5);
    CHECK(b.to_vector<float>() == V{4.5f, 6.5f, 8.5f, 10.5f, 12.5f, 14.5f});

    // into non-contiguous views of a base
    Tensor c = zeros({3, 4});
    c.t().narrow(0, 1, 2).copy_(tensor({1.f, 2.f, 3.f}));  // columns 1, 2
    CHECK(c.to_vector<float>() == V{0, 1, 1, 0, 0, 2, 2, 0, 0, 3, 3, 0});
    c.slice(1, 0, 4, 3).add_(from_vector<float>({10, 20, 30}, {3, 1}));  // columns 0, 3
    CHECK(c.to_vector<float>() == V{10, 1, 1, 10, 20, 2, 2, 20, 30, 3, 3, 30});
    c.select(1, 1).mul_(tensor({2.f, 3.f, 4.f}));
    CHECK(c.to_vector<float>() == V{10, 2, 1, 10, 20, 6, 2, 20, 30, 12, 3, 30});

    Tensor i = ivec({1, 2, 3});
    i.add_(ivec({kI64Max}));
    CHECK(i.to_vector<int64_t>() == VI{kI64Min, kI64Min + 1, kI64Min + 2});
    i.fill_(4.0).mul_(ivec({-2}));
    CHECK(i.to_vector<int64_t>() == VI{-8, -8, -8});

    CHECK_THROWS_WITH_AS(zeros({3}).add_(ones({2, 3})),
                         doctest::Contains("add_: in-place source [2,3] does not broadcast to [3]"),
                         Error);
    CHECK_THROWS_WITH_AS(zeros({3}).mul_(ones({2})),
                         doctest::Contains("mul_: shapes [2] and [3] cannot be broadcast"), Error);
    CHECK_THROWS_WITH_AS(
        zeros({3}).copy_(ones({3, 3})),
        doctest::Contains("copy_: source [3,3] does not broadcast to destination [3]"), Error);
    CHECK_THROWS_WITH_AS(zeros({3}).add_(ivec({1, 2, 3})),
                         doctest::Contains("add_: dtype mismatch float32 vs int64"), Error);
  }

  TEST_CASE("in-place writes to an expanded view are refused") {
    Tensor base = tensor({1.f, 2.f, 3.f});
    Tensor e = base.expand({2, 3});
    CHECK_THROWS_WITH_AS(e.fill_(0.0),
                         doctest::Contains("fill_: the tensor [2,3] is an expanded view"), Error);
    CHECK_THROWS_WITH_AS(e.add_(ones({2, 3})), doctest::Contains("add_: the tensor [2,3]"), Error);
    CHECK_THROWS_WITH_AS(e.mul_(2.0), doctest::Contains("mul_: the tensor [2,3]"), Error);
    CHECK_THROWS_WITH_AS(e.copy_(ones({2, 3})), doctest::Contains("copy_: the tensor [2,3]"),
                         Error);
    CHECK(base.to_vector<float>() == V{1, 2, 3});  // untouched
    // expanding a size-1 dim to size 1 is not an alias: allowed
    Tensor ok = from_vector<float>({5}, {1, 1}).expand({1, 1});
    ok.fill_(6.0);
    CHECK(ok.item<float>() == 6.f);
    e.clone().fill_(0.0);  // a clone owns its memory
  }

  TEST_CASE("in-place on a tensor that requires grad") {
    Tensor w = ones({2}, TensorOptions().set_requires_grad(true));
    CHECK_THROWS_WITH_AS(w.add_(ones({2})), doctest::Contains("add_: in-place change of a tensor"),
                         Error);
    {
      NoGradGuard ng;
      w.add_(ones({2}));
    }
    CHECK(w.to_vector<float>() == V{2, 2});
  }

  // ------------------------------------------------------------------------- memory, threads
  TEST_CASE("allocator live bytes return to their earlier value") {
    const int64_t before = memory_stats().live_bytes;
    const int64_t allocs = memory_stats().allocations;
    {
      Tensor t = ones({1000});
      CHECK(memory_stats().live_bytes == before + 4000);
      CHECK(memory_stats().allocations == allocs + 1);
      Tensor v = t.view({10, 100}).t();  // views allocate nothing
      CHECK(memory_stats().live_bytes == before + 4000);
      Tensor d = zeros({10}, dtype(kFloat64));
      CHECK(memory_stats().live_bytes == before + 4080);
      Tensor sum = (t * 2.0 + 1.0).sum();  // temporaries are freed
      CHECK(memory_stats().live_bytes == before + 4080 + 4);
      CHECK(memory_stats().peak_bytes >= before + 4080 + 4000);
      Tensor e = empty({0, 5});
      CHECK(memory_stats().live_bytes == before + 4084);
    }
    CHECK(memory_stats().live_bytes == before);
    {
      Tensor keep_view;
      {
        Tensor base = zeros({256});
        keep_view = base.narrow(0, 0, 1);
      }
      CHECK(memory_stats().live_bytes == before + 1024);  // the view keeps the storage
    }
    CHECK(memory_stats().live_bytes == before);
    reset_peak_memory();
    CHECK(memory_stats().peak_bytes == memory_stats().live_bytes);
  }

  TEST_CASE("1 and 2 threads give identical results") {
    const int saved = get_num_threads();
    Generator g(77);
    Tensor a = randn({1 << 20}, {}, &g), b = randn({1 << 20}, {}, &g);
    Tensor ad = randn({1 << 20}, dtype(kFloat64), &g);
    Tensor m = randn({512, 1024}, {}, &g);
    auto run = [&] {
      std::vector<VD> r;
      r.push_back((a * b + a.sigmoid()).to_vector<double>());
      r.push_back((a.view({1024, 1024}).t() - b.view({1024, 1024})).to_vector<double>());
      r.push_back({a.sum().item(), ad.sum().item(), ad.view({1024, 1024}).t().sum().item(),
                   a.mean().item()});
      r.push_back(m.sum({0}).to_vector<double>());
      r.push_back(m.sum({1}).to_vector<double>());
      r.push_back(m.max(1).first.to_vector<double>());
      return r;
    };
    set_num_threads(1);
    auto one = run();
    set_num_threads(2);
    CHECK(get_num_threads() == 2);
    auto two = run();
    set_num_threads(saved);
    REQUIRE(one.size() == two.size());
    for (size_t i = 0; i < one.size(); ++i) {
      INFO("result ", i);
      CHECK(one[i] == two[i]);
    }
    CHECK_THROWS_WITH_AS(set_num_threads(0), doctest::Contains("set_num_threads: need at least 1"),
                         Error);
  }

  // ------------------------------------------------------------------------- errors
  TEST_CASE("user errors name the op and the shapes") {
    Tensor a = ones({2, 3});
    CHECK_THROWS_WITH_AS(a + ones({4}),
                         doctest::Contains("add: shapes [2,3] and [4] cannot be broadcast"), Error);
    CHECK_THROWS_WITH_AS(a * ones({3, 3}), doctest::Contains("mul: shapes [2,3] and [3,3]"), Error);
    CHECK_THROWS_WITH_AS(maximum(a, ones({2})), doctest::Contains("maximum: shapes [2,3] and [2]"),
                         Error);
    CHECK_THROWS_WITH_AS(lt(a, ones({5})), doctest::Contains("lt: shapes [2,3] and [5]"), Error);
    CHECK_THROWS_WITH_AS(
        a + ones({2, 3}, dtype(kInt64)),
        doctest::Contains("add: dtype mismatch float32 vs int64 (a [2,3], b [2,3])"), Error);
    CHECK_THROWS_WITH_AS(eq(a, ones({2, 3}, dtype(kFloat64))),
                         doctest::Contains("eq: dtype mismatch float32 vs float64"), Error);
    CHECK_THROWS_WITH_AS(matmul(a, ones({2, 3})),
                         doctest::Contains("matmul: inner dimensions differ (a [2,3], b [2,3])"),
                         Error);
    CHECK_THROWS_WITH_AS(a.view({4, 2}),
                         doctest::Contains("view: shape [4,2] is invalid for input [2,3]"), Error);
    CHECK_THROWS_WITH_AS(a.sum({2}), doctest::Contains("sum: dim 2 out of range"), Error);
    CHECK_THROWS_WITH_AS(a.size(-3), doctest::Contains("size: dim -3 out of range"), Error);
    CHECK_THROWS_WITH_AS(a.transpose(0, 2), doctest::Contains("transpose: dim 2 out of range"),
                         Error);
    CHECK_THROWS_WITH_AS(a.select(2, 0), doctest::Contains("select: dim 2 out of range"), Error);
    CHECK_THROWS_WITH_AS(index_select(a, 1, ivec({3})),
                         doctest::Contains("index_select: index 3 is out of range for dim 1 with "
                                           "size 3 (input [2,3], index [1])"),
                         Error);
    CHECK_THROWS_WITH_AS(gather(a, 0, ivec({0, 2}, {1, 2})),
                         doctest::Contains("gather: index 2 is out of range for dim 0 with size 2 "
                                           "(input [2,3], index [1,2])"),
                         Error);
    CHECK_THROWS_WITH_AS(a.narrow(0, 1, 2),
                         doctest::Contains("narrow: start 1 + length 2 exceeds dim 0 of size 2 "
                                           "(input [2,3])"),
                         Error);
    CHECK_THROWS_WITH_AS(a.data_ptr<int64_t>(),
                         doctest::Contains("data_ptr: tensor is float32 but int64 was requested "
                                           "(shape [2,3])"),
                         Error);
    CHECK_THROWS_WITH_AS(a.item(), doctest::Contains("item: tensor has 6 elements (shape [2,3])"),
                         Error);
    CHECK_THROWS_WITH_AS(Tensor().shape(), doctest::Contains("shape: called on an undefined"),
                         Error);
  }
}
