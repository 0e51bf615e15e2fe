// Misuse that must be caught with a message naming the op and the shapes, and in-place
// aliasing that must still give the mathematically right answer.
#include <doctest/doctest.h>

#include "glassbox.h"

using namespace glassbox;
using doctest::Contains;

TEST_SUITE("errors") {
  TEST_CASE("out-of-range dims name the op and the shape") {
    Tensor t = zeros({2, 3});
    CHECK_THROWS_WITH_AS(sum(t, {2}),
                         Contains("sum: dim 2 out of range for a tensor of shape [2,3]"), Error);
    CHECK_THROWS_WITH_AS(t.transpose(0, 5), Contains("transpose: dim 5"), Error);
    CHECK_THROWS_WITH_AS(t.size(-3), Contains("[2,3]"), Error);
    CHECK_THROWS_WITH_AS(cat({t, t}, 3), Contains("cat: dim 3"), Error);
  }

  TEST_CASE("op errors name the op, dtypes and shapes") {
    CHECK_THROWS_WITH_AS(exp(tensor({1, 2})), Contains("exp"), Error);
    CHECK_THROWS_WITH_AS(zeros({2, 3}) + zeros({4}), Contains("[2,3] and [4]"), Error);
    CHECK_THROWS_WITH_AS(zeros({2}) + zeros({2}, dtype(kFloat64)),
                         Contains("add: dtype mismatch float32 vs float64"), Error);
    CHECK_THROWS_WITH_AS(matmul(zeros({2, 3}), zeros({4, 5})),
                         Contains("matmul: inner dimensions differ (a [2,3], b [4,5])"), Error);
    CHECK_THROWS_WITH_AS(tensor({1, 2}) * 0.5, Contains("not a whole number"), Error);
    CHECK_THROWS_WITH_AS(empty({int64_t(1) << 40, int64_t(1) << 40}), Contains("too many"), Error);
    CHECK_THROWS_WITH_AS(Tensor().sum(), Contains("undefined"), Error);
  }

  TEST_CASE("integer literals make int64 tensors") {
    Tensor t = tensor({1, 2, 3});
    CHECK(t.dtype() == kInt64);
    CHECK(t.to_vector<int64_t>() == std::vector<int64_t>{1, 2, 3});
  }

  TEST_CASE("in-place ops read an aliased source before overwriting it") {
    Tensor x = from_vector<float>({1, 2, 3, 4}, {2, 2});
    x.copy_(x.t());
    CHECK(x.to_vector<float>() == std::vector<float>{1, 3, 2, 4});
    Tensor y = from_vector<float>({1, 2, 3, 4}, {2, 2});
    y.add_(y.t());
    CHECK(y.to_vector<float>() == std::vector<float>{2, 5, 5, 8});
    Tensor z = from_vector<float>({1, 2, 3}, {3});
    z.narrow(0, 1, 2).copy_(z.narrow(0, 0, 2));  // overlapping shift right
    CHECK(z.to_vector<float>() == std::vector<float>{1, 1, 2});
    Tensor w = from_vector<float>({1, 2, 3}, {3});
    w.mul_(w);  // identical view: no copy needed, same answer
    CHECK(w.to_vector<float>() == std::vector<float>{1, 4, 9});
  }

  TEST_CASE("item and to_vector leave no tape entry behind") {
    Tensor x = tensor({2.f}).requires_grad_();
    Tensor y = x * 3.0;
    CHECK(y.item<float>() == 6.f);
    CHECK(y.to_vector<double>() == std::vector<double>{6.0});
    y.backward(ones({1}));
    CHECK(x.grad().item<float>() == 3.f);
  }
}
