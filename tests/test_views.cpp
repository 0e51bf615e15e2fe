// Views: shape/stride/offset arithmetic, storage sharing and the errors for impossible views.
// Expected values are written out by hand from the row-major layout of arange inputs.
#include <doctest/doctest.h>

#include <cstdint>
#include <vector>

#include "glassbox.h"

using namespace glassbox;

namespace {

using V = std::vector<float>;
using S = Shape;

// 0, 1, 2, ... as float32 in `shape`
Tensor iota(const Shape& shape) { return arange(0.0, double(numel_of(shape))).view(shape); }

bool shares_storage(const Tensor& a, const Tensor& b) {
  return a.impl()->storage == b.impl()->storage;
}

}  // namespace

TEST_SUITE("views") {
  TEST_CASE("view and reshape") {
    Tensor a = iota({2, 3, 4});
    Tensor v = a.view({6, 4});
    CHECK(v.shape() == S{6, 4});
    CHECK(v.strides() == S{4, 1});
    CHECK(shares_storage(v, a));
    CHECK(v.to_vector<float>() == a.to_vector<float>());

    Tensor w = a.view({-1, 2});
    CHECK(w.shape() == S{12, 2});
    CHECK(a.view({4, -1}).shape() == S{4, 6});
    CHECK(a.view({24}).shape() == S{24});
    CHECK(a.view({1, 2, 1, 12}).shape() == S{1, 2, 1, 12});
    CHECK(a.reshape({-1}).shape() == S{24});

    // a 0-d tensor and a one-element tensor convert both ways
    Tensor s = scalar_tensor(5.0);
    CHECK(s.view({1, 1}).shape() == S{1, 1});
    CHECK(s.view({1, 1}).view({}).dim() == 0);
    CHECK(s.reshape({-1}).shape() == S{1});

    CHECK_THROWS_WITH_AS(a.view({5, 5}), doctest::Contains("view: shape [5,5] is invalid"), Error);
    CHECK_THROWS_WITH_AS(a.view({5, 5}), doctest::Contains("[2,3,4]"), Error);
    CHECK_THROWS_WITH_AS(a.view({-1, -1}), doctest::Contains("only one dimension can be -1"),
                         Error);
    CHECK_THROWS_WITH_AS(a.view({-1, 5}), doctest::Contains("view: shape [-1,5] is invalid"),
                         Error);
    CHECK_THROWS_WITH_AS(a.reshape({7, -1}), doctest::Contains("reshape"), Error);
    CHECK_THROWS_WITH_AS(a.view({-2, 12}), doctest::Contains("invalid size -2"), Error);
  }

  TEST_CASE("view of a non-contiguous tensor throws, reshape copies") {
    Tensor a = iota({3, 4});
    Tensor t = a.t();  // [4,3], strides [1,4]
    CHECK_FALSE(t.is_contiguous());
    CHECK_THROWS_WITH_AS(t.view({12}), doctest::Contains("view: shape [12] is not compatible"),
                         Error);
    CHECK_THROWS_WITH_AS(t.view({12}), doctest::Contains("[4,3]"), Error);
    Tensor r = t.reshape({12});
    CHECK_FALSE(shares_storage(r, a));
    CHECK(r.to_vector<float>() == V{0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11});
    // a view that only splits a dim of the transposed tensor is still allowed
    Tensor split = t.view({2, 2, 3});
    CHECK(shares_storage(split, a));
    CHECK(split.strides() == S{2, 1, 4});
    CHECK(split.to_vector<float>() == V{0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11});
    // reshape of a contiguous tensor is a view
    Tensor rv = a.reshape({2, 6});
    CHECK(shares_storage(rv, a));
    // an expanded tensor cannot be flattened without a copy
    Tensor e = tensor({1.f, 2.f, 3.f}).expand({2, 3});
    CHECK_THROWS_AS(e.view({6}), Error);
    CHECK(e.reshape({6}).to_vector<float>() == V{1, 2, 3, 1, 2, 3});
  }

  TEST_CASE("permute, transpose, t") {
    Tensor a = iota({2, 3, 4});
    Tensor p = a.permute({2, 0, 1});
    CHECK(p.shape() == S{4, 2, 3});
    CHECK(p.strides() == S{1, 12, 4});
    CHECK(shares_storage(p, a));
    // p[i][j][k] = a[j][k][i] = 12j + 4k + i
    std::vector<float> expect;
    for (int i = 0; i < 4; ++i)
      for (int j = 0; j < 2; ++j)
        for (int k = 0; k < 3; ++k) expect.push_back(float(12 * j + 4 * k + i));
    CHECK(p.to_vector<float>() == expect);
    CHECK(a.permute({-1, 0, 1}).shape() == S{4, 2, 3});
    CHECK_THROWS_WITH_AS(a.permute({0, 0, 1}), doctest::Contains("permute: dim 0 repeated"), Error);
    CHECK_THROWS_WITH_AS(a.permute({0, 1}), doctest::Contains("permute: got 2 dims"), Error);
    CHECK_THROWS_WITH_AS(a.permute({0, 1, 3}), doctest::Contains("permute: dim 3 out of range"),
                         Error);

    Tensor tr = a.transpose(0, 2);
    CHECK(tr.shape() == S{4, 3, 2});
    CHECK(tr.strides() == S{1, 4, 12});
    CHECK(a.transpose(-1, -3).strides() == S{1, 4, 12});
    CHECK(tr.transpose(2, 0).to_vector<float>() == a.to_vector<float>());

    Tensor m = tensor({{1.f, 2.f, 3.f}, {4.f, 5.f, 6.f}});
    CHECK(m.t().shape() == S{3, 2});
    CHECK(m.t().to_vector<float>() == V{1, 4, 2, 5, 3, 6});
    CHECK(tensor({1.f, 2.f}).t().shape() == S{2});
    CHECK_THROWS_WITH_AS(a.t(), doctest::Contains("t: expects a tensor with at most 2 dims"),
                         Error);
  }

  TEST_CASE("narrow, slice, select") {
    Tensor a = iota({4, 5});
    Tensor n = a.narrow(1, 1, 3);
    CHECK(n.shape() == S{4, 3});
    CHECK(n.offset() == 1);
    CHECK(n.strides() == S{5, 1});
    CHECK(n.to_vector<float>() == V{1, 2, 3, 6, 7, 8, 11, 12, 13, 16, 17, 18});
    CHECK(a.narrow(0, -2, 2).to_vector<float>() == V{10, 11, 12, 13, 14, 15, 16, 17, 18, 19});
    CHECK(a.narrow(1, 5, 0).shape() == S{4, 0});
    CHECK_THROWS_WITH_AS(a.narrow(1, 3, 3), doctest::Contains("narrow: start 3 + length 3 exceeds"),
                         Error);
    CHECK_THROWS_WITH_AS(a.narrow(1, 3, 3), doctest::Contains("[4,5]"), Error);
    CHECK_THROWS_AS(a.narrow(0, 0, -1), Error);
    CHECK_THROWS_AS(a.narrow(2, 0, 1), Error);

    Tensor v = arange(0.0, 10.0);
    CHECK(v.slice(0, 1, 8, 3).to_vector<float>() == V{1, 4, 7});
    CHECK(v.slice(0, 1, 8, 3).strides() == S{3});
    CHECK(v.slice(0, 0, 10, 4).to_vector<float>() == V{0, 4, 8});
    CHECK(v.slice(0, -3, 10).to_vector<float>() == V{7, 8, 9});
    CHECK(v.slice(0, -4, -1).to_vector<float>() == V{6, 7, 8});
    CHECK(v.slice(0, -100, 2).to_vector<float>() == V{0, 1});
    CHECK(v.slice(0, 8, 100).to_vector<float>() == V{8, 9});
    CHECK(v.slice(0, 7, 3).numel() == 0);
    CHECK(v.slice(0, 12, 20).numel() == 0);
    CHECK(a.slice(-1, 0, 5, 2).to_vector<float>() == V{0, 2, 4, 5, 7, 9, 10, 12, 14, 15, 17, 19});
    CHECK(a.slice(0, 1, 4, 2).slice(1, -2, 5).to_vector<float>() == V{8, 9, 18, 19});
    CHECK_THROWS_WITH_AS(v.slice(0, 0, 5, 0), doctest::Contains("slice: step must be positive"),
                         Error);

    Tensor row = a.select(0, 2);
    CHECK(row.shape() == S{5});
    CHECK(row.to_vector<float>() == V{10, 11, 12, 13, 14});
    Tensor col = a.select(1, -1);
    CHECK(col.shape() == S{4});
    CHECK(col.to_vector<float>() == V{4, 9, 14, 19});
    CHECK(a.select(0, 1).select(0, 3).dim() == 0);
    CHECK(a.select(0, 1).select(0, 3).item<float>() == 8.f);
    CHECK_THROWS_WITH_AS(a.select(0, 4), doctest::Contains("select: index 4 out of range"), Error);
    CHECK_THROWS_WITH_AS(a.select(1, -6), doctest::Contains("select: index -6 out of range"),
                         Error);
  }

  TEST_CASE("unsqueeze, squeeze") {
    Tensor a = iota({2, 3});
    CHECK(a.unsqueeze(0).shape() == S{1, 2, 3});
    CHECK(a.unsqueeze(1).shape() == S{2, 1, 3});
    CHECK(a.unsqueeze(2).shape() == S{2, 3, 1});
    CHECK(a.unsqueeze(-1).shape() == S{2, 3, 1});
    CHECK(a.unsqueeze(-3).shape() == S{1, 2, 3});
    CHECK(a.unsqueeze(1).is_contiguous());
    CHECK(a.unsqueeze(1).to_vector<float>() == a.to_vector<float>());
    CHECK(scalar_tensor(2.0).unsqueeze(0).shape() == S{1});
    CHECK_THROWS_WITH_AS(a.unsqueeze(3), doctest::Contains("unsqueeze: dim 3 out of range"), Error);

    Tensor b = iota({1, 3, 1, 2});
    CHECK(b.squeeze().shape() == S{3, 2});
    CHECK(b.squeeze(0).shape() == S{3, 1, 2});
    CHECK(b.squeeze(2).shape() == S{1, 3, 2});
    CHECK(b.squeeze(-2).shape() == S{1, 3, 2});
    CHECK(b.squeeze(1).shape() == S{1, 3, 1, 2});  // not size 1: unchanged
    CHECK(b.squeeze().to_vector<float>() == V{0, 1, 2, 3, 4, 5});
    CHECK(ones({1, 1}).squeeze().dim() == 0);
    CHECK_THROWS_AS(b.squeeze(4), Error);
  }

  TEST_CASE("expand") {
    Tensor a = from_vector<float>({1, 2, 3}, {3, 1});
    Tensor e = a.expand({3, 4});
    CHECK(e.shape() == S{3, 4});
    CHECK(e.strides() == S{1, 0});
    CHECK(shares_storage(e, a));
    CHECK(e.to_vector<float>() == V{1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3});
    Tensor e2 = a.expand({2, -1, 2});  // new leading dim, -1 keeps 3
    CHECK(e2.shape() == S{2, 3, 2});
    CHECK(e2.strides() == S{0, 1, 0});
    CHECK(e2.to_vector<float>() == V{1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3});
    CHECK_FALSE(e2.is_contiguous());
    CHECK(scalar_tensor(7.0).expand({2, 2}).to_vector<float>() == V{7, 7, 7, 7});
    CHECK(a.expand({3, 1}).is_same(a));
    CHECK_THROWS_WITH_AS(a.expand({2, 4}), doctest::Contains("expand: cannot expand input [3,1]"),
                         Error);
    CHECK_THROWS_WITH_AS(a.expand({4}), doctest::Contains("expand: target [4] has fewer dims"),
                         Error);
    CHECK_THROWS_WITH_AS(a.expand({-1, 3, 1}), doctest::Contains("-1 not allowed"), Error);
    CHECK_THROWS_WITH_AS(a.expand({3, -2}), doctest::Contains("expand: invalid size -2"), Error);
    // writing to the base is visible through every expanded position
    a.select(0, 1).fill_(9.0);
    CHECK(e.to_vector<float>() == V{1, 1, 1, 1, 9, 9, 9, 9, 3, 3, 3, 3});
  }

  TEST_CASE("flatten") {
    Tensor a = iota({2, 3, 4});
    CHECK(a.flatten().shape() == S{24});
    CHECK(a.flatten(1).shape() == S{2, 12});
    CHECK(a.flatten(0, 1).shape() == S{6, 4});
    CHECK(a.flatten(-2, -1).shape() == S{2, 12});
    CHECK(a.flatten(1, 1).shape() == S{2, 3, 4});
    CHECK(shares_storage(a.flatten(), a));
    CHECK(scalar_tensor(3.0).flatten().shape() == S{1});
    Tensor p = a.permute({2, 1, 0});
    CHECK(p.flatten().to_vector<float>() == p.contiguous().to_vector<float>());
    CHECK_FALSE(shares_storage(p.flatten(), a));
    CHECK_THROWS_WITH_AS(a.flatten(2, 1), doctest::Contains("flatten: start_dim 2 comes after"),
                         Error);
    CHECK_THROWS_AS(a.flatten(0, 3), Error);
  }

  TEST_CASE("contiguous and is_contiguous") {
    Tensor a = iota({3, 4});
    CHECK(a.is_contiguous());
    CHECK(a.contiguous().is_same(a));
    Tensor t = a.t();
    CHECK_FALSE(t.is_contiguous());
    Tensor c = t.contiguous();
    CHECK(c.is_contiguous());
    CHECK_FALSE(shares_storage(c, a));
    CHECK(c.strides() == S{3, 1});
    CHECK(c.to_vector<float>() == V{0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11});
    CHECK(a.narrow(0, 1, 2).is_contiguous());        // whole rows
    CHECK_FALSE(a.narrow(1, 1, 2).is_contiguous());  // part of each row
    CHECK(a.narrow(1, 1, 1).narrow(0, 0, 1).is_contiguous());
    CHECK(a.slice(1, 0, 4, 2).is_contiguous() == false);
    CHECK(a.unsqueeze(0).is_contiguous());
    CHECK(a.select(1, 2).is_contiguous() == false);
    CHECK(a.select(0, 2).is_contiguous());
  }

  TEST_CASE("views share storage with their base") {
    Tensor a = zeros({3, 4});
    a.select(0, 1).fill_(1.0);                                  // row 1
    a.narrow(1, 3, 1).fill_(2.0);                               // column 3
    a.t().select(0, 0).copy_(tensor({5.f, 6.f, 7.f}));          // column 0 through a transpose
    a.view({12}).slice(0, 1, 12, 5).add_(scalar_tensor(10.0));  // flat 1, 6, 11
    CHECK(a.to_vector<float>() == V{5, 10, 0, 2, 6, 1, 11, 2, 7, 0, 0, 12});
    // and in the other direction: the base writes show in the view
    Tensor v = a.permute({1, 0}).slice(0, 1, 3);
    a.fill_(3.0);
    CHECK(v.to_vector<float>() == V(6, 3.f));
    // the view keeps the storage alive after the base handle is gone
    Tensor keep;
    {
      Tensor base = iota({2, 2});
      keep = base.select(0, 1);
    }
    CHECK(keep.to_vector<float>() == V{2, 3});
  }

  TEST_CASE("views of views compose offsets and strides") {
    Tensor a = iota({4, 6});
    // rows 1..3, every other column from 1, then transpose and take the last row
    Tensor v = a.slice(0, 1, 4).slice(1, 1, 6, 2).t().select(0, -1);
    // columns 1,3,5 -> last is 5; rows 1,2,3 -> 11, 17, 23
    CHECK(v.shape() == S{3});
    CHECK(v.to_vector<float>() == V{11, 17, 23});
    CHECK(v.offset() == 11);
    CHECK(v.strides() == S{6});
  }

  TEST_CASE("ops accept non-contiguous views") {
    Tensor a = iota({3, 4});
    Tensor t = a.t();  // [4,3]
    Tensor s = t * 2.0;
    std::vector<float> tv = t.to_vector<float>(), sv = s.to_vector<float>();
    for (size_t i = 0; i < tv.size(); ++i) CHECK(sv[i] == 2 * tv[i]);
    Tensor e = tensor({1.f, 2.f, 3.f, 4.f}).unsqueeze(1).expand({4, 3});
    CHECK((t + e).to_vector<float>() == V{1, 5, 9, 3, 7, 11, 5, 9, 13, 7, 11, 15});
    CHECK(t.sum({1}).to_vector<float>() == V{12, 15, 18, 21});
    CHECK(t.clone().is_contiguous());
    CHECK(t.clone().to_vector<float>() == tv);
  }
}
