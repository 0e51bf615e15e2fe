// Reductions, sorting, indexing and factories from issue 14: sort/topk (stable, NaN largest),
// var/std/norm (two-pass, PyTorch's gradients incl. the zero-norm subgradient), randperm,
// cat/stack edges, x[i] / x.index / masked_select / masked_fill, single-int reduction dims,
// arange's dtypes, and errors that name the op the user called. PyTorch parity:
// tests/fixtures/ops.safetensors (tests/fixtures/make_ops_fixtures.py).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "autograd/gradcheck.h"
#include "glassbox.h"

using namespace glassbox;
using doctest::Contains;

namespace {

using V = std::vector<double>;
using VI = std::vector<int64_t>;
using Inputs = const std::vector<Tensor>&;
const double kNaN = std::numeric_limits<double>::quiet_NaN();
const double kInf = std::numeric_limits<double>::infinity();

Tensor f64(const V& v, Shape s = {}) { return from_vector<double>(v, s); }
Tensor leaf64(Shape s, uint64_t seed) {
  manual_seed(seed);
  return randn(s, dtype(kFloat64)).requires_grad_();
}
V vals(const Tensor& t) { return t.to_vector<double>(); }
VI ints(const Tensor& t) { return t.to_vector<int64_t>(); }

bool same_with_nan(const V& a, const V& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (!(a[i] == b[i] || (std::isnan(a[i]) && std::isnan(b[i])))) return false;
  return true;
}

void check_grad(const GradcheckFn& fn, const std::vector<Tensor>& in) {
  GradcheckResult r = gradcheck(fn, in);
  CHECK_MESSAGE(r.ok, r.message);
}

TensorMap load_ops_fixture() {
  return load_safetensors(std::string(GLASSBOX_SOURCE_DIR) + "/tests/fixtures/ops.safetensors");
}

bool close(const Tensor& got, const Tensor& want, double tol = 1e-9) {
  return got.shape() == want.shape() && allclose(got.to(kFloat64), want, tol, tol);
}

}  // namespace

TEST_SUITE("ops") {
  TEST_CASE("sort is stable, puts NaN last ascending and first descending") {
    Tensor x = f64({3, 1, 2, 1, kNaN, 0, 2});
    auto [v, i] = sort(x);
    CHECK(same_with_nan(vals(v), V{0, 1, 1, 2, 2, 3, kNaN}));
    CHECK(ints(i) == VI{5, 1, 3, 2, 6, 0, 4});
    auto [vd, id] = x.sort(-1, true);
    CHECK(same_with_nan(vals(vd), V{kNaN, 3, 2, 2, 1, 1, 0}));
    CHECK(ints(id) == VI{4, 0, 2, 6, 1, 3, 5});  // ties keep their order descending too
  }

  TEST_CASE("sort along every dim of a 3-D tensor, int64 and float32, and empty") {
    Tensor x = f64({5, 2, 8, 1, 4, 7, 3, 6, 0, 9, 11, 10}, {2, 3, 2});
    auto [v0, i0] = sort(x, 0);
    CHECK(vals(v0) == V{3, 2, 0, 1, 4, 7, 5, 6, 8, 9, 11, 10});
    CHECK(ints(i0) == VI{1, 0, 1, 0, 0, 0, 0, 1, 0, 1, 1, 1});
    auto [v1, i1] = sort(x, 1, true);
    CHECK(vals(v1) == V{8, 7, 5, 2, 4, 1, 11, 10, 3, 9, 0, 6});
    CHECK(ints(i1) == VI{1, 2, 0, 0, 2, 1, 2, 2, 0, 1, 1, 0});
    auto [vi, ii] = sort(x.to(kInt64), -1);
    CHECK(ints(vi) == VI{2, 5, 1, 8, 4, 7, 3, 6, 0, 9, 10, 11});
    CHECK(ints(ii) == VI{1, 0, 1, 0, 0, 1, 0, 1, 0, 1, 1, 0});
    CHECK(vals(sort(x.to(kFloat32), 2).first) == vals(sort(x, 2).first));
    auto [ve, ie] = sort(zeros({3, 0}), 1);
    CHECK(ve.shape() == Shape{3, 0});
    CHECK(ie.dtype() == kInt64);
    CHECK(sort(scalar_tensor(4.0)).first.item() == 4.0);
  }

  TEST_CASE("topk: largest and smallest, k = 0 and k = n, ties take the lower index") {
    Tensor x = f64({1, 5, 3, 5, 2, 4});
    auto [v, i] = topk(x, 3);
    CHECK(vals(v) == V{5, 5, 4});
    CHECK(ints(i) == VI{1, 3, 5});
    auto [vs, is] = x.topk(2, 0, false);
    CHECK(vals(vs) == V{1, 2});
    CHECK(ints(is) == VI{0, 4});
    CHECK(topk(x, 0).first.shape() == Shape{0});
    CHECK(vals(topk(x, 6).first) == V{5, 5, 4, 3, 2, 1});
    Tensor n = f64({1, kNaN, 3});
    CHECK(std::isnan(vals(topk(n, 1).first)[0]));  // NaN is the largest, as in PyTorch
    CHECK(vals(topk(n, 1, 0, false).first) == V{1});
    Tensor m = f64({1, 9, 2, 8, 3, 7}, {2, 3});
    CHECK(vals(topk(m, 1, 0).first) == V{8, 9, 7});
    CHECK(ints(topk(m, 1, 0).second) == VI{1, 0, 1});
    CHECK_THROWS_WITH_AS(topk(m, 4, 1), Contains("topk: k 4 is out of range for dim 1 of size 3"),
                         Error);
    CHECK_THROWS_WITH_AS(topk(m, -1), Contains("topk: k -1"), Error);
    CHECK_THROWS_WITH_AS(topk(m, 1, 2), Contains("topk: dim 2 out of range"), Error);
    CHECK_THROWS_WITH_AS(sort(m > 2.0), Contains("sort: not supported for bool"), Error);
  }

  TEST_CASE("sort and topk gradients go back to the source positions") {
    Tensor x = f64({3, 1, 2}).requires_grad_();
    auto [v, i] = sort(x);
    (v * f64({10, 20, 30})).sum().backward();
    CHECK(vals(x.grad()) == V{30, 10, 20});
    check_grad([](Inputs in) { return sort(in[0], 1).first; }, {leaf64({3, 6}, 1)});
    check_grad([](Inputs in) { return sort(in[0], 0, true).first; }, {leaf64({4, 3, 2}, 2)});
    check_grad([](Inputs in) { return topk(in[0], 2, 1).first; }, {leaf64({3, 5}, 3)});
    check_grad([](Inputs in) { return topk(in[0], 2, 0, false).first; }, {leaf64({4, 3}, 4)});
    CHECK(sort(x).first.grad_fn_name() == "SortBackward");
    CHECK(topk(x, 1).first.grad_fn_name() == "TopkBackward");
  }

  TEST_CASE("var and std: values, unbiased, keepdim, one int dim") {
    Tensor x = f64({1, 2, 3, 4, 2, 4, 6, 8}, {2, 4});
    CHECK(vals(var(x, 1)) == V{5.0 / 3.0, 20.0 / 3.0});
    CHECK(vals(x.var(1, false)) == V{1.25, 5.0});
    CHECK(var(x, {1}, true, true).shape() == Shape{2, 1});
    CHECK(vals(glassbox::std(x, 1, false)) == V{std::sqrt(1.25), std::sqrt(5.0)});
    CHECK(x.std(0).shape() == Shape{4});
    // all dims: mean 3.75, sum of squares of deviations 37.5
    CHECK(var(x).item() == doctest::Approx(37.5 / 7.0));
    CHECK(var(x, {}, false).item() == doctest::Approx(37.5 / 8.0));
    CHECK(std::isnan(var(f64({3})).item()));  // N - 1 = 0, as in PyTorch
    CHECK(var(f64({3}), {}, false).item() == 0.0);
    CHECK_THROWS_WITH_AS(var(arange(4)), Contains("var: expected a floating-point tensor"), Error);
    CHECK_THROWS_WITH_AS(glassbox::std(x, 2), Contains("std: dim 2 out of range"), Error);
  }

  TEST_CASE("var is two-pass: no cancellation on a large offset") {
    // E[x^2] - E[x]^2 in float64 at 1e8 loses every digit of the answer (5/3)
    Tensor x = f64({1e8 + 1, 1e8 + 2, 1e8 + 3, 1e8 + 4});
    CHECK(var(x).item() == doctest::Approx(5.0 / 3.0).epsilon(1e-12));
    Tensor xf = (f64({1, 2, 3, 4}) + 1e4).to(kFloat32);
    CHECK(var(xf).item() == doctest::Approx(5.0 / 3.0).epsilon(1e-6));
  }

  TEST_CASE("var and std gradients") {
    check_grad([](Inputs in) { return var(in[0]); }, {leaf64({3, 4}, 5)});
    check_grad([](Inputs in) { return var(in[0], {0, 2}, false, true); }, {leaf64({3, 2, 4}, 6)});
    check_grad([](Inputs in) { return glassbox::std(in[0], 1); }, {leaf64({3, 5}, 7)});
    check_grad([](Inputs in) { return in[0].std({}, false); }, {leaf64({6}, 8)});
  }

  TEST_CASE("norm: p = 1, 2, inf, -inf, 0, 3, fro") {
    Tensor x = f64({3, -4, 0, 1, -2, 2}, {2, 3});
    CHECK(norm(x).item() == doctest::Approx(std::sqrt(34.0)));
    CHECK(norm(x, "fro").item() == doctest::Approx(std::sqrt(34.0)));
    CHECK(vals(norm(x, 1.0, 1)) == V{7, 5});
    CHECK(vals(x.norm(kInf, 1)) == V{4, 2});
    CHECK(vals(norm(x, -kInf, 0)) == V{1, 2, 0});
    CHECK(vals(norm(x, 0.0, 1)) == V{2, 3});
    CHECK(norm(x, 3.0).item() == doctest::Approx(std::cbrt(27.0 + 64 + 1 + 8 + 8)));
    CHECK(norm(x, 2.0, {1}, true).shape() == Shape{2, 1});
    CHECK_THROWS_WITH_AS(norm(x, "nuc"), Contains("norm: p \"nuc\" is not supported"), Error);
    CHECK_THROWS_WITH_AS(norm(zeros({0, 2}), kInf, 0), Contains("norm: the inf-norm of an empty"),
                         Error);
    CHECK(norm(zeros({0, 2}), 2.0, 0).to_vector<float>() == std::vector<float>{0, 0});
  }

  TEST_CASE("norm gradients, and 0 at a zero norm") {
    check_grad([](Inputs in) { return norm(in[0]); }, {leaf64({3, 4}, 9)});
    check_grad([](Inputs in) { return norm(in[0], 1.0, 1); }, {leaf64({3, 4}, 10)});
    check_grad([](Inputs in) { return norm(in[0], kInf, 0, true); }, {leaf64({3, 4}, 11)});
    check_grad([](Inputs in) { return norm(in[0], -kInf, 1); }, {leaf64({3, 4}, 12)});
    check_grad([](Inputs in) { return norm(in[0], 3.0, {0, 2}); }, {leaf64({2, 3, 2}, 13)});
    check_grad([](Inputs in) { return norm(in[0], 1.5); }, {leaf64({5}, 14)});
    check_grad([](Inputs in) { return norm(in[0], 0.5, 1); }, {leaf64({2, 4}, 15)});
    for (double p : {2.0, 3.0, 1.5, 1.0, kInf}) {
      Tensor z = zeros({2, 3}, dtype(kFloat64)).requires_grad_();
      norm(z, p, 1).sum().backward();
      CHECK_MESSAGE(vals(z.grad()) == V(6, 0.0), "p = ", p);
    }
    // inf-norm ties share the gradient evenly (PyTorch's rule)
    Tensor t = f64({2, -2, 1}).requires_grad_();
    norm(t, kInf).backward();
    CHECK(vals(t.grad()) == V{0.5, -0.5, 0});
  }

  TEST_CASE("randperm: a permutation, seeded, the same on every thread count") {
    Generator g(7);
    Tensor p = randperm(100, dtype(kInt64), &g);
    CHECK(p.dtype() == kInt64);
    VI sorted = ints(p);
    std::sort(sorted.begin(), sorted.end());
    VI want(100);
    for (int64_t i = 0; i < 100; ++i) want[i] = i;
    CHECK(sorted == want);
    CHECK(ints(p) != want);
    Generator g2(7);
    const int threads = get_num_threads();
    set_num_threads(1);
    CHECK(ints(randperm(100, dtype(kInt64), &g2)) == ints(p));
    set_num_threads(threads);
    CHECK(ints(randperm(100, dtype(kInt64), &g)) != ints(p));  // the stream moved on
    manual_seed(3);
    Tensor a = randperm(10);
    manual_seed(3);
    CHECK(ints(randperm(10)) == ints(a));
    CHECK(randperm(0).numel() == 0);
    CHECK(ints(randperm(1)) == VI{0});
    CHECK(randperm(5, dtype(kFloat32)).dtype() == kFloat32);
    CHECK(randperm(5, dtype(kFloat32)).sum().item() == 10.0);
    CHECK_THROWS_WITH_AS(randperm(-1), Contains("randperm: n must be non-negative"), Error);
    CHECK_THROWS_WITH_AS(randperm(300, dtype(kUInt8)), Contains("randperm: 300 values"), Error);
  }

  TEST_CASE("cat and stack: gradients, negative dims, empty tensors, errors") {
    Tensor a = leaf64({2, 3}, 16), b = leaf64({2, 1}, 17), c = leaf64({2, 3}, 18);
    check_grad([](Inputs in) { return cat({in[0], in[1]}, -1); }, {a, b});
    check_grad([](Inputs in) { return stack({in[0], in[1]}, -1); }, {a, c});
    CHECK(stack({a, c}, -1).shape() == Shape{2, 3, 2});
    CHECK(stack({a, c}, 0).shape() == Shape{2, 2, 3});
    CHECK(cat({a, zeros({2, 0}, dtype(kFloat64)), b}, 1).shape() == Shape{2, 4});
    // a 1-D empty tensor joins anything (PyTorch's legacy rule), also as the first
    Tensor e = zeros({0}, dtype(kFloat64)).requires_grad_();
    Tensor j = cat({e, a, e}, 0);
    CHECK(j.shape() == Shape{2, 3});
    j.sum().backward();
    CHECK(e.grad().shape() == Shape{0});
    CHECK(cat({e, e}).shape() == Shape{0});
    CHECK_THROWS_WITH_AS(cat({a, a.to(kFloat32)}), Contains("cat: tensor 1 is float32"), Error);
    CHECK_THROWS_WITH_AS(cat({a, b}, 0), Contains("cat: tensor 1 has shape [2,1]"), Error);
    CHECK_THROWS_WITH_AS(cat({a, a}, 2), Contains("cat: dim 2 out of range"), Error);
    CHECK_THROWS_WITH_AS(cat({scalar_tensor(1.0)}), Contains("cat: zero-dimensional"), Error);
    CHECK_THROWS_WITH_AS(cat({}), Contains("cat: expected a non-empty list"), Error);
    CHECK_THROWS_WITH_AS(stack({a, b}), Contains("stack: tensor 1 has shape [2,1]"), Error);
    CHECK_THROWS_WITH_AS(stack({a, a}, 3), Contains("stack: dim 3 out of range"), Error);
  }

  TEST_CASE("x[i], x.index(int64 tensor), x.index(bool mask)") {
    Tensor x = f64({0, 1, 2, 3, 4, 5}, {3, 2});
    CHECK(vals(x[1]) == V{2, 3});
    CHECK(vals(x[-1]) == V{4, 5});
    CHECK(x[0][1].item() == 1.0);
    CHECK_THROWS_WITH_AS(x[3], Contains("operator[]: index 3 is out of range for dim 0 of size 3"),
                         Error);
    CHECK_THROWS_WITH_AS(x[0][0][0], Contains("operator[]: cannot index a 0-d"), Error);
    Tensor rows = x.index(tensor({2, 0, -1, 2}).view({2, 2}));
    CHECK(rows.shape() == Shape{2, 2, 2});
    CHECK(vals(rows) == V{4, 5, 0, 1, 4, 5, 4, 5});
    CHECK(vals(x[tensor({1})]) == V{2, 3});
    CHECK(vals(x.index_select(1, tensor({1}))) == V{1, 3, 5});
    Tensor keep_rows = from_vector<bool>({true, false, true}, {3});
    CHECK(x.index(keep_rows).shape() == Shape{2, 2});
    CHECK(vals(x[keep_rows]) == V{0, 1, 4, 5});
    CHECK(vals(x.index(x > 2.5)) == V{3, 4, 5});
    CHECK_THROWS_WITH_AS(x.index(from_vector<bool>({true, false}, {2})),
                         Contains("index: mask [2] does not match the leading dims"), Error);
    CHECK_THROWS_WITH_AS(x.index(x), Contains("index: expected an int64 or bool index"), Error);
    check_grad([](Inputs in) { return in[0][1] * in[0][-1]; }, {leaf64({3, 2}, 19)});
    check_grad([](Inputs in) { return in[0].index(tensor({2, 0, 2})); }, {leaf64({3, 2}, 20)});
    check_grad([](Inputs in) { return in[0].index(in[0] > 0.0); }, {leaf64({3, 4}, 21)});
  }

  TEST_CASE("masked_select and masked_fill: broadcasting, values, gradients") {
    Tensor x = f64({1, -2, 3, -4, 5, -6}, {2, 3});
    Tensor col = from_vector<bool>({true, false, true}, {3});
    CHECK(vals(masked_select(x, col)) == V{1, 3, -4, -6});
    CHECK(vals(x.masked_select(x < 0.0)) == V{-2, -4, -6});
    CHECK(masked_select(x, x > 10.0).shape() == Shape{0});
    CHECK(vals(masked_fill(x, col, 0.5)) == V{0.5, -2, 0.5, 0.5, 5, 0.5});
    CHECK(same_with_nan(vals(x.masked_fill(x < 0.0, kNaN)), V{1, kNaN, 3, kNaN, 5, kNaN}));
    CHECK(vals(x) == V{1, -2, 3, -4, 5, -6});  // out of place
    Tensor inf = f64({kInf, 1});
    CHECK(vals(masked_fill(inf, inf > 2.0, 0.0)) == V{0, 1});  // no 0 * inf
    CHECK(ints(masked_fill(arange(4), arange(4) > 1.0, -1.0)) == VI{0, 1, -1, -1});
    CHECK_THROWS_WITH_AS(masked_fill(x, x, 0.0), Contains("masked_fill: mask must be bool"), Error);
    CHECK_THROWS_WITH_AS(masked_select(x, from_vector<bool>({true, false}, {2})),
                         Contains("masked_select"), Error);
    Tensor m = from_vector<bool>({true, false, false, true, true, false}, {2, 3});
    check_grad([m](Inputs in) { return masked_select(in[0], m); }, {leaf64({2, 3}, 22)});
    check_grad([col](Inputs in) { return masked_select(in[0], col); }, {leaf64({2, 3}, 23)});
    check_grad([m](Inputs in) { return masked_fill(in[0], m, 2.0); }, {leaf64({2, 3}, 24)});
    check_grad([m](Inputs in) { return masked_fill(in[0], m, 2.0); }, {leaf64({3}, 25)});
  }

  TEST_CASE("reductions take one int dim, a list, or {} without changing old calls") {
    Tensor x = arange(0.0, 24.0).view({2, 3, 4});
    CHECK(equal(sum(x, 1), sum(x, {1})));
    CHECK(equal(x.sum(1), x.sum(std::vector<int64_t>{1})));
    CHECK(sum(x, -1).shape() == Shape{2, 3});
    CHECK(sum(x, {}).shape() == Shape{});
    CHECK(sum(x, {}).item() == 276.0);
    CHECK(sum(x, {0, 2}).shape() == Shape{3});
    CHECK(sum(x, {0, 2}, true).shape() == Shape{1, 3, 1});
    CHECK(mean(x, 1, true).shape() == Shape{2, 1, 4});
    CHECK(x.mean(2).shape() == Shape{2, 3});
    CHECK(var(x, 2).shape() == Shape{2, 3});
    CHECK(norm(x, 2.0, 0).shape() == Shape{3, 4});
    std::vector<int64_t> dims = {0, 1};
    CHECK(sum(x, dims, true).shape() == Shape{1, 1, 4});
    CHECK(x.sum().item() == 276.0);
  }

  TEST_CASE("arange dtypes and lengths follow PyTorch") {
    CHECK(arange(7.).dtype() == kFloat32);
    CHECK(arange(7.).numel() == 7);
    CHECK(arange(7).dtype() == kInt64);
    CHECK(arange(int64_t(3)).dtype() == kInt64);
    CHECK(arange(0., 1., 0.25).dtype() == kFloat32);
    CHECK(arange(0, 12, 3).dtype() == kInt64);  // all integers: int64, as torch.arange(0, 12, 3)
    CHECK(ints(arange(0, 12, 3)) == VI{0, 3, 6, 9});
    CHECK(arange(0, 3).dtype() == kInt64);
    CHECK(arange(0, 1.5).dtype() == kFloat32);  // any real: float32
    CHECK(arange(0, 3, 1, dtype(kFloat64)).dtype() == kFloat64);
    CHECK(vals(arange(0., 1., 0.25)) == V{0, 0.25, 0.5, 0.75});
    CHECK(arange(0.0, 1.0, 0.3).numel() == 4);  // ceil(1 / 0.3)
    CHECK(arange(1.0, 2.5, 0.5).numel() == 3);  // ceil(1.5 / 0.5)
    CHECK(arange(2.5, dtype(kFloat64)).numel() == 3);
    CHECK(arange(5, dtype(kFloat64)).dtype() == kFloat64);
  }

  TEST_CASE("errors name the op the user called") {
    Tensor x = zeros({3, 4});
    CHECK_THROWS_WITH_AS(argmax(x, 2), Contains("argmax: dim 2 out of range"), Error);
    CHECK_THROWS_WITH_AS(x.argmin(-3), Contains("argmin: dim -3 out of range"), Error);
    CHECK_THROWS_WITH_AS(argmax(zeros({0, 2}), 0), Contains("argmax: cannot reduce over dim 0"),
                         Error);
    CHECK_THROWS_WITH_AS(max(zeros({0, 2}), 0), Contains("max: cannot reduce over dim 0"), Error);
    CHECK_THROWS_WITH_AS(argmin(x > 0.0, 0), Contains("argmin: not supported for bool"), Error);
    CHECK_THROWS_WITH_AS(sum(x, {1, -1}), Contains("sum: a dim appears twice"), Error);
    CHECK_THROWS_WITH_AS(mean(x, 5), Contains("mean: dim 5 out of range"), Error);
    CHECK_THROWS_WITH_AS(norm(x, 2.0, 2), Contains("norm: dim 2 out of range"), Error);
    CHECK_THROWS_WITH_AS(sort(x, 2), Contains("sort: dim 2 out of range"), Error);
    CHECK_THROWS_WITH_AS(var(Tensor()), Contains("var: undefined"), Error);
  }

  TEST_CASE("var, std, norm, sort and topk match PyTorch") {
    TensorMap m = load_ops_fixture();
    int cases = 0;
    for (const auto& [key, params] : m) {
      const std::string suffix = ".params";
      if (key.size() <= suffix.size() ||
          key.compare(key.size() - suffix.size(), suffix.size(), suffix))
        continue;
      const std::string name = key.substr(0, key.size() - suffix.size());
      INFO("case ", name);
      const VI p = ints(params);
      const int64_t op = p[0];
      std::vector<int64_t> dims(p.begin() + 5, p.end());
      for (DType dt : {kFloat64, kFloat32}) {
        INFO(dtype_name(dt));
        const double tol = dt == kFloat64 ? 1e-9 : 1e-4;
        Tensor x = m.at(name + ".input").detach().to(dt).requires_grad_();
        Tensor y;
        if (op == 0) y = var(x, dims, p[1] != 0, p[2] != 0);
        if (op == 1) y = glassbox::std(x, dims, p[1] != 0, p[2] != 0);
        if (op == 2) y = norm(x, m.at(name + ".p").item(), dims, p[2] != 0);
        if (op == 3 || op == 4) {
          auto [v, i] = op == 3 ? sort(x, p[1], p[2] != 0) : topk(x, p[3], p[1], p[2] != 0);
          CHECK(equal(i, m.at(name + ".indices")));
          y = v;
        }
        CHECK(close(y, m.at(name + ".output"), tol));
        (y * m.at(name + ".grad_out").to(dt)).sum().backward();
        CHECK(close(x.grad(), m.at(name + ".grad_input"), tol));
      }
      ++cases;
    }
    CHECK(cases == 21);
  }
}
