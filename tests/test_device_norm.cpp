// The device-generic suite for the normalisation layers, embedding and channel dropout
// (nn/functional_norm.h): each case runs on the device under test and on the CPU with the
// same inputs, forward and backward (device_harness.h). Layer and group norm run on the
// batch-norm kernels with one "channel" per row, so rows of 1, 31, 33 and 257 values and
// many short rows are the shapes that matter; embedding is a gather with an index_add
// backward (float atomics on the GPU: a Reduce tolerance); dropout2d's mask is Philox, the
// same bits on both devices.
#include "device_harness.h"

namespace {

std::vector<Case> norm_cases() {
  std::vector<Case> c;
  for (int64_t k : {1, 31, 33, 257}) {
    const std::string s = "[5," + std::to_string(k) + "]";
    c.push_back({"layer_norm affine " + s,
                 kFloats,
                 {{{5, k}}, {{k}}, {{k}}},
                 [k](Inputs x) { return F::layer_norm(x[0], {k}, x[1], x[2]); },
                 Kind::Reduce});
  }
  c.push_back({"layer_norm over 2 dims, many rows [300,3,4]",
               kFloats,
               {{{300, 3, 4}}},
               [](Inputs x) {
                 return F::layer_norm(x[0], {3, 4});
               },
               Kind::Reduce});
  c.push_back({"layer_norm strided input [4,6] as [6,4]",
               kFloats,
               {{{4, 6}}, {{4}}, {{4}}},
               [](Inputs x) { return F::layer_norm(x[0].t(), {4}, x[1], x[2], 1e-3); },
               Kind::Reduce});
  c.push_back({"layer_norm of x * 100 + 1000 (cancellation) [3,40]",
               kFloats,
               {{{3, 40}}},
               [](Inputs x) { return F::layer_norm(x[0] * 100.0 + 1000.0, {40}); },
               Kind::Reduce});
  c.push_back({"group_norm affine [2,6,5,7] groups 3",
               kFloats,
               {{{2, 6, 5, 7}}, {{6}}, {{6}}},
               [](Inputs x) { return F::group_norm(x[0], 3, x[1], x[2]); },
               Kind::Reduce});
  c.push_back({"group_norm [3,4,33] groups 4",
               kFloats,
               {{{3, 4, 33}}},
               [](Inputs x) { return F::group_norm(x[0], 4); },
               Kind::Reduce});
  c.push_back({"group_norm [2,8] groups 1",
               kFloats,
               {{{2, 8}}, {{8}}, {{8}}},
               [](Inputs x) { return F::group_norm(x[0], 1, x[1], x[2]); },
               Kind::Reduce});
  c.push_back({"embedding [4,3] -> [4,3,5], 7 rows",
               kFloats,
               {{{7, 5}}, idx({4, 3}, 7)},
               [](Inputs x) { return F::embedding(x[1], x[0]); },
               Kind::Exact});
  c.push_back({"embedding padding_idx 2, [40] -> [40,33]",
               kFloats,
               {{{3, 33}}, idx({40}, 3)},
               [](Inputs x) { return F::embedding(x[1], x[0], 2); },
               Kind::Exact});
  c.push_back({"dropout2d p 0.3 [4,6,5,3]",
               kFloats,
               {{{4, 6, 5, 3}}},
               [](Inputs x) {
                 Generator g(11);
                 return F::dropout2d(x[0], 0.3, true, &g);
               },
               Kind::Pointwise,
               Kind::Pointwise});
  c.push_back({"dropout2d p 0.5 [9,4,4]",
               kFloats,
               {{{9, 4, 4}}},
               [](Inputs x) {
                 Generator g(12);
                 return F::dropout2d(x[0], 0.5, true, &g);
               },
               Kind::Pointwise,
               Kind::Pointwise});
  return c;
}

}  // namespace

TEST_SUITE("device_norm") {
  TEST_CASE("layer_norm, group_norm, embedding and dropout2d match the CPU") {
    if (!have_cuda("norm")) return;
    run_table("norm", norm_cases());
  }

  TEST_CASE("LayerNorm, GroupNorm, BatchNorm1d and Embedding modules on the device") {
    if (!have_cuda("norm modules")) return;
    manual_seed(4);
    nn::LayerNorm ln_h(6), ln_d(6);
    nn::GroupNorm gn_h(2, 6), gn_d(2, 6);
    nn::BatchNorm1d bn_h(6), bn_d(6);
    nn::Embedding em_h(10, 6);
    nn::Embedding em_d = nn::Embedding::from_pretrained(em_h->weight.detach(), false);
    for (nn::Module* m : std::vector<nn::Module*>{&*ln_d, &*gn_d, &*bn_d, &*em_d}) m->to(kDev);
    const Tensor x = randn({8, 6}) * 3.0 + 1.0, g = randn({8, 6});
    const Tensor ids = from_vector<int64_t>({1, 9, 1, 0, 4, 4, 4, 2}, {8});
    auto run = [&](nn::LayerNorm& ln, nn::GroupNorm& gn, nn::BatchNorm1d& bn, nn::Embedding& em,
                   const Tensor& xi, const Tensor& gi, const Tensor& ii) {
      Tensor y = ln(bn(gn(xi + em(ii))));
      y.backward(gi);
      return y;
    };
    const Tensor yh = run(ln_h, gn_h, bn_h, em_h, x, g, ids);
    const Tensor yd = run(ln_d, gn_d, bn_d, em_d, on_device(x), on_device(g), on_device(ids));
    const Tol tol = tol_for(Kind::Reduce, kFloat32);
    Diff d = compare(yd, yh, tol);
    CHECK_MESSAGE(d.ok, "forward: ", d.msg);
    d = compare(em_d->weight.grad(), em_h->weight.grad(), tol);
    CHECK_MESSAGE(d.ok, "embedding grad: ", d.msg);
    d = compare(bn_d->running_var, bn_h->running_var, tol);
    CHECK_MESSAGE(d.ok, "running_var: ", d.msg);
    const std::vector<std::pair<nn::Module*, nn::Module*>> pairs = {{&*ln_h, &*ln_d},
                                                                    {&*gn_h, &*gn_d}};
    for (auto [h, dv] : pairs) {
      const auto ph = h->named_parameters(), pd = dv->named_parameters();
      for (size_t i = 0; i < ph.size(); ++i) {
        INFO(h->name(), ".", ph[i].first);
        d = compare(pd[i].second.grad(), ph[i].second.grad(), tol);
        CHECK_MESSAGE(d.ok, d.msg);
      }
    }
  }

  TEST_CASE("an embedding index out of range on the device is the CPU's error") {
    if (!have_cuda("embedding bad index")) return;
    const Tensor w = randn({5, 3});
    const Tensor bad = from_vector<int64_t>({0, 4, 7, 1}, {2, 2});
    auto run = [](const Tensor& wi, const Tensor& ii) {
      return [wi, ii] { (void)F::embedding(ii, wi).sum().item(); };
    };
    const std::string want = error_of(run(w, bad));
    REQUIRE(!want.empty());
    CHECK(error_of(run(on_device(w), on_device(bad))) == want);
    // the device stays usable
    const Tensor good = from_vector<int64_t>({0, 4}, {2});
    Diff d = compare(F::embedding(on_device(good), on_device(w)), F::embedding(good, w),
                     tol_for(Kind::Exact, kFloat32));
    CHECK_MESSAGE(d.ok, d.msg);
  }
}
