// Normalisation layers, embedding and channel dropout: F::layer_norm, F::group_norm,
// F::embedding, F::dropout2d and the modules LayerNorm, GroupNorm, BatchNorm1d, Embedding,
// Dropout2d. Values by hand, PyTorch parity (tests/fixtures/norm.safetensors, made by
// tests/fixtures/make_norm_fixtures.py), gradcheck in float64, modes, init, repr, errors.
#include <doctest/doctest.h>

#include <cmath>
#include <sstream>
#include <string>
#include <vector>

#include "autograd/gradcheck.h"
#include "glassbox.h"

using namespace glassbox;
using doctest::Contains;

namespace {

TensorMap load_norm_fixture() {
  return load_safetensors(std::string(GLASSBOX_SOURCE_DIR) + "/tests/fixtures/norm.safetensors");
}

std::vector<std::string> cases_of(const TensorMap& m, const std::string& prefix) {
  std::vector<std::string> out;
  for (const auto& [key, t] : m) {
    const std::string suffix = ".params";
    if (key.rfind(prefix, 0) == 0 && key.size() > suffix.size() &&
        key.compare(key.size() - suffix.size(), suffix.size(), suffix) == 0)
      out.push_back(key.substr(0, key.size() - suffix.size()));
  }
  return out;
}

const Tensor& at(const TensorMap& m, const std::string& key) {
  auto it = m.find(key);
  REQUIRE_MESSAGE(it != m.end(), "fixture tensor '", key, "' is missing");
  return it->second;
}
bool has(const TensorMap& m, const std::string& key) { return m.count(key) != 0; }

// a fresh leaf of dtype dt holding the fixture's values
Tensor leaf_of(const Tensor& t, DType dt) { return t.to(dt).clone().requires_grad_(); }

void check_close(const Tensor& got, const Tensor& want, double tol, const std::string& what) {
  INFO(what);
  REQUIRE(got.defined());
  REQUIRE(got.shape() == want.shape());
  const std::vector<double> g = got.to(kFloat64).to_vector<double>(), w = want.to_vector<double>();
  double worst = 0.0;
  for (size_t i = 0; i < w.size(); ++i)
    worst = std::max(worst, std::abs(g[i] - w[i]) / (1.0 + std::abs(w[i])));
  CHECK_MESSAGE(worst <= tol, "worst relative error ", worst);
}

std::string repr(const nn::Module& m) {
  std::ostringstream os;
  m.pretty_print(os);
  return os.str();
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

Tensor rand64(const Shape& s, uint64_t seed) {
  Generator g(seed);
  return randn(s, dtype(kFloat64), &g);
}

}  // namespace

TEST_SUITE("norm") {
  TEST_CASE("layer_norm normalises the last dims with the biased variance") {
    const Tensor x = from_vector<float>({1, 2, 3, 4, 10, 10, 10, 10}, {2, 4});
    const std::vector<float> y = F::layer_norm(x, {4}).to_vector<float>();
    const double s = std::sqrt(1.25 + 1e-5);  // var of 1..4 = 1.25 (biased)
    for (int i = 0; i < 4; ++i) CHECK(y[size_t(i)] == doctest::Approx((i + 1 - 2.5) / s));
    for (int i = 4; i < 8; ++i) CHECK(y[size_t(i)] == doctest::Approx(0.0));  // constant row
    // affine: y * weight + bias, per element of normalized_shape
    const Tensor w = from_vector<float>({1, 2, 3, 4}), b = from_vector<float>({0, 0, 0, 1});
    const std::vector<float> ya = F::layer_norm(x, {4}, w, b).to_vector<float>();
    CHECK(ya[1] == doctest::Approx(2 * (2 - 2.5) / s));
    CHECK(ya[7] == doctest::Approx(1.0));
  }

  TEST_CASE("group_norm normalises each (sample, group) over its channels and positions") {
    // [1, 4, 2]: groups {c0, c1} and {c2, c3}; group 0 holds 0..3, group 1 holds 4 x 7
    const Tensor x = from_vector<double>({0, 1, 2, 3, 7, 7, 7, 7}, {1, 4, 2});
    const std::vector<double> y = F::group_norm(x, 2).to_vector<double>();
    const double s = std::sqrt(1.25 + 1e-5);
    for (int i = 0; i < 4; ++i) CHECK(y[size_t(i)] == doctest::Approx((i - 1.5) / s));
    for (int i = 4; i < 8; ++i) CHECK(y[size_t(i)] == doctest::Approx(0.0));
    // one group = layer norm over [C, *]; C groups = instance norm
    const Tensor z = rand64({2, 6, 5}, 3);
    CHECK(allclose(F::group_norm(z, 1), F::layer_norm(z, {6, 5}), 1e-12, 1e-12));
    CHECK(allclose(F::group_norm(z, 6), F::layer_norm(z, {5}), 1e-12, 1e-12));
  }

  TEST_CASE("layer_norm, group_norm, BatchNorm1d and embedding match PyTorch") {
    const TensorMap m = load_norm_fixture();
    for (DType dt : {kFloat64, kFloat32}) {
      const double tol = dt == kFloat64 ? 1e-10 : 1e-4;
      INFO(dtype_name(dt));
      const auto lns = cases_of(m, "ln"), gns = cases_of(m, "gn"), bns = cases_of(m, "bn1d"),
                 embs = cases_of(m, "emb");
      REQUIRE(lns.size() >= 4);
      REQUIRE(gns.size() >= 4);
      REQUIRE(bns.size() >= 4);
      REQUIRE(embs.size() >= 4);
      for (const std::string& c : lns) {
        const std::vector<double> p = at(m, c + ".params").to_vector<double>();  // eps, dims
        Tensor x = leaf_of(at(m, c + ".input"), dt);
        const bool affine = has(m, c + ".weight");
        Tensor w = affine ? leaf_of(at(m, c + ".weight"), dt) : Tensor();
        Tensor b = affine ? leaf_of(at(m, c + ".bias"), dt) : Tensor();
        const Shape xs = x.shape();
        const Shape ns(xs.end() - int64_t(p[1]), xs.end());
        Tensor y = F::layer_norm(x, ns, w, b, p[0]);
        y.backward(at(m, c + ".grad_out").to(dt));
        check_close(y, at(m, c + ".output"), tol, c + " output");
        check_close(x.grad(), at(m, c + ".grad_input"), tol, c + " grad_input");
        if (affine) {
          check_close(w.grad(), at(m, c + ".grad_weight"), tol, c + " grad_weight");
          check_close(b.grad(), at(m, c + ".grad_bias"), tol, c + " grad_bias");
        }
      }
      for (const std::string& c : gns) {
        const std::vector<double> p = at(m, c + ".params").to_vector<double>();  // eps, groups
        Tensor x = leaf_of(at(m, c + ".input"), dt);
        const bool affine = has(m, c + ".weight");
        Tensor w = affine ? leaf_of(at(m, c + ".weight"), dt) : Tensor();
        Tensor b = affine ? leaf_of(at(m, c + ".bias"), dt) : Tensor();
        Tensor y = F::group_norm(x, int64_t(p[1]), w, b, p[0]);
        y.backward(at(m, c + ".grad_out").to(dt));
        check_close(y, at(m, c + ".output"), tol, c + " output");
        check_close(x.grad(), at(m, c + ".grad_input"), tol, c + " grad_input");
        if (affine) {
          check_close(w.grad(), at(m, c + ".grad_weight"), tol, c + " grad_weight");
          check_close(b.grad(), at(m, c + ".grad_bias"), tol, c + " grad_bias");
        }
      }
      for (const std::string& c : bns) {
        const std::vector<double> p = at(m, c + ".params").to_vector<double>();  // train, mom, eps
        Tensor x = leaf_of(at(m, c + ".input"), dt);
        nn::BatchNorm1d bn(nn::BatchNorm1dOptions(x.size(1)).momentum(p[1]).eps(p[2]));
        bn->to(dt);
        {
          NoGradGuard no_record;
          bn->weight.copy_(at(m, c + ".weight"));
          bn->bias.copy_(at(m, c + ".bias"));
          bn->running_mean.copy_(at(m, c + ".running_mean"));
          bn->running_var.copy_(at(m, c + ".running_var"));
        }
        bn->train(p[0] != 0);
        Tensor y = bn(x);
        y.backward(at(m, c + ".grad_out").to(dt));
        check_close(y, at(m, c + ".output"), tol, c + " output");
        check_close(x.grad(), at(m, c + ".grad_input"), tol, c + " grad_input");
        check_close(bn->weight.grad(), at(m, c + ".grad_weight"), tol, c + " grad_weight");
        check_close(bn->bias.grad(), at(m, c + ".grad_bias"), tol, c + " grad_bias");
        check_close(bn->running_mean, at(m, c + ".running_mean_after"), tol, c + " running_mean");
        check_close(bn->running_var, at(m, c + ".running_var_after"), tol, c + " running_var");
      }
      for (const std::string& c : embs) {
        const double pad = at(m, c + ".params").to_vector<double>()[0];
        const std::optional<int64_t> padding_idx =
            pad == -1000 ? std::nullopt : std::optional<int64_t>(int64_t(pad));
        Tensor w = leaf_of(at(m, c + ".weight"), dt);
        Tensor y = F::embedding(at(m, c + ".indices"), w, padding_idx);
        y.backward(at(m, c + ".grad_out").to(dt));
        check_close(y, at(m, c + ".output"), tol, c + " output");
        check_close(w.grad(), at(m, c + ".grad_weight"), tol, c + " grad_weight");
      }
    }
  }

  TEST_CASE("gradcheck: layer_norm, group_norm, embedding, dropout2d (float64)") {
    auto in = [](const Shape& s, uint64_t seed) { return rand64(s, seed).requires_grad_(); };
    {
      INFO("layer_norm");
      auto r = gradcheck(
          [](const std::vector<Tensor>& x) {
            return F::layer_norm(x[0], {3, 4}, x[1], x[2]);
          },
          {in({2, 3, 4}, 1), in({3, 4}, 2), in({3, 4}, 3)});
      CHECK_MESSAGE(r.ok, r.message);
      auto r1 = gradcheck(
          [](const std::vector<Tensor>& x) {
            return F::layer_norm(x[0], {5}, Tensor(), Tensor(), 1e-3);
          },
          {in({4, 5}, 4)});
      CHECK_MESSAGE(r1.ok, r1.message);
    }
    {
      INFO("group_norm");
      auto r =
          gradcheck([](const std::vector<Tensor>& x) { return F::group_norm(x[0], 2, x[1], x[2]); },
                    {in({2, 4, 3, 2}, 5), in({4}, 6), in({4}, 7)});
      CHECK_MESSAGE(r.ok, r.message);
      auto r1 = gradcheck([](const std::vector<Tensor>& x) { return F::group_norm(x[0], 3); },
                          {in({2, 6}, 8)});
      CHECK_MESSAGE(r1.ok, r1.message);
    }
    {
      INFO("embedding");
      const Tensor idx = from_vector<int64_t>({0, 2, 4, 2, 1, 4}, {2, 3});
      auto r = gradcheck([idx](const std::vector<Tensor>& x) { return F::embedding(idx, x[0]); },
                         {in({5, 3}, 9)});
      CHECK_MESSAGE(r.ok, r.message);
      // with padding_idx the true derivative of row 2 is not zero, so gradcheck would (rightly)
      // disagree; check instead that every other row matches and row 2 gets exactly nothing
      Tensor w = in({5, 3}, 10);
      F::embedding(idx, w, 2).sum().backward();
      const std::vector<double> g = w.grad().to_vector<double>();
      const std::vector<double> want = {1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 2, 2, 2};
      CHECK(g == want);
    }
    {
      INFO("dropout2d, mask fixed by a generator reseeded on every call");
      auto r = gradcheck(
          [](const std::vector<Tensor>& x) {
            Generator g(42);
            return F::dropout2d(x[0], 0.4, true, &g);
          },
          {in({3, 4, 2, 3}, 11)});
      CHECK_MESSAGE(r.ok, r.message);
    }
  }

  TEST_CASE("dropout2d drops whole channels, scales the rest, and is the identity in eval") {
    Generator g(7);
    const Tensor x = ones({8, 16, 3, 5});
    const Tensor y = F::dropout2d(x, 0.25, true, &g);
    const std::vector<float> v = y.to_vector<float>();
    int dropped = 0;
    for (int64_t plane = 0; plane < 8 * 16; ++plane) {
      const float first = v[size_t(plane * 15)];
      CHECK((first == 0.0f || first == doctest::Approx(1.0 / 0.75)));
      for (int64_t i = 1; i < 15; ++i) CHECK(v[size_t(plane * 15 + i)] == first);
      dropped += first == 0.0f;
    }
    CHECK(dropped > 128 * 0.1);  // ~32 expected
    CHECK(dropped < 128 * 0.4);
    // same seed, same mask; 3-D [C, H, W] drops channels too
    Generator g2(7);
    CHECK(allclose(F::dropout2d(x, 0.25, true, &g2), y, 0, 0));
    Generator g3(8);
    const std::vector<float> v3 = F::dropout2d(ones({40, 2, 2}), 0.5, true, &g3).to_vector<float>();
    for (size_t c = 0; c < 40; ++c)
      for (size_t i = 1; i < 4; ++i) CHECK(v3[c * 4 + i] == v3[c * 4]);
    // eval and p = 0: the input itself; p = 1: zeros
    CHECK(F::dropout2d(x, 0.5, false).is_same(x));
    CHECK(F::dropout2d(x, 0.0, true).is_same(x));
    CHECK(F::dropout2d(x, 1.0, true).abs().sum().item<float>() == 0.0f);
    nn::Dropout2d d(0.5);
    CHECK(repr(*d) == "Dropout2d(p=0.5, inplace=False)");
    d->eval();
    CHECK(allclose(d(x), x, 0, 0));
    d->train();
    manual_seed(3);
    const Tensor a = d(x);
    manual_seed(3);
    CHECK(allclose(d(x), a, 0, 0));  // the default generator, through manual_seed
  }

  TEST_CASE("LayerNorm and GroupNorm: parameters, init, repr, modes") {
    nn::LayerNorm ln(64);
    const auto p = ln->named_parameters();
    REQUIRE(p.size() == 2);
    CHECK(p[0].first == "weight");
    CHECK(p[1].first == "bias");
    CHECK(ln->weight.shape() == Shape{64});
    CHECK(ln->weight.sum().item<float>() == 64.0f);
    CHECK(ln->bias.abs().sum().item<float>() == 0.0f);
    CHECK(repr(*ln) == "LayerNorm((64,), eps=1e-05, elementwise_affine=True)");
    nn::LayerNorm ln2(nn::LayerNormOptions({3, 4}).eps(1e-3).elementwise_affine(false));
    CHECK(repr(*ln2) == "LayerNorm((3, 4), eps=0.001, elementwise_affine=False)");
    CHECK(ln2->parameters().empty());
    const Tensor x = randn({2, 3, 4});
    CHECK(allclose(ln2(x), F::layer_norm(x, {3, 4}, Tensor(), Tensor(), 1e-3)));
    ln2->eval();  // no running statistics: eval computes the same
    CHECK(allclose(ln2(x), F::layer_norm(x, {3, 4}, Tensor(), Tensor(), 1e-3)));

    nn::GroupNorm gn(2, 6);
    CHECK(repr(*gn) == "GroupNorm(2, 6, eps=1e-05, affine=True)");
    CHECK(gn->named_parameters().keys() == std::vector<std::string>{"weight", "bias"});
    CHECK(gn->weight.shape() == Shape{6});
    CHECK(gn->weight.sum().item<float>() == 6.0f);
    const Tensor z = randn({3, 6, 4, 4});
    CHECK(allclose(gn(z), F::group_norm(z, 2)));
    nn::GroupNorm gn2(nn::GroupNormOptions(3, 3).affine(false).eps(0.1));
    CHECK(repr(*gn2) == "GroupNorm(3, 3, eps=0.1, affine=False)");
    CHECK(gn2->parameters().empty());
    CHECK_THROWS_WITH_AS(nn::GroupNorm(4, 6), Contains("num_channels 6"), Error);
    CHECK_THROWS_WITH_AS(gn(randn({2, 5, 3})), Contains("GroupNorm(2, 6"), Error);
  }

  TEST_CASE("BatchNorm1d: buffers, names, running stats, eval, errors") {
    nn::BatchNorm1d bn(3);
    CHECK(repr(*bn) ==
          "BatchNorm1d(3, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)");
    CHECK(bn->named_parameters().keys() == std::vector<std::string>{"weight", "bias"});
    CHECK(bn->named_buffers().keys() ==
          std::vector<std::string>{"running_mean", "running_var", "num_batches_tracked"});
    const Tensor x = from_vector<float>({1, 10, 0, 3, 20, 0}, {2, 3});  // [N, C]
    Tensor y = bn(x);
    CHECK(bn->num_batches_tracked.item<int64_t>() == 1);
    // channel 0: {1, 3}: mean 2, biased var 1 -> +-1; unbiased var 2 into running_var
    const std::vector<float> v = y.to_vector<float>();
    CHECK(v[0] == doctest::Approx(-1.0).epsilon(1e-4));
    CHECK(v[3] == doctest::Approx(1.0).epsilon(1e-4));
    CHECK(v[2] == 0.0f);  // a constant channel
    const std::vector<float> rm = bn->running_mean.to_vector<float>();
    const std::vector<float> rv = bn->running_var.to_vector<float>();
    CHECK(rm[0] == doctest::Approx(0.2));
    CHECK(rm[1] == doctest::Approx(1.5));
    CHECK(rv[0] == doctest::Approx(0.9 + 0.2));
    CHECK(rv[1] == doctest::Approx(0.9 + 0.1 * 50));
    bn->eval();  // normalises with the running stats; [N, C, L] works too
    const Tensor x3 = randn({2, 3, 5});
    Tensor ye = bn(x3);
    const Tensor want =
        (x3 - bn->running_mean.view({1, 3, 1})) / (bn->running_var.view({1, 3, 1}) + 1e-5).sqrt();
    CHECK(allclose(ye, want, 1e-5, 1e-6));
    CHECK(bn->num_batches_tracked.item<int64_t>() == 1);  // eval does not count
    CHECK_THROWS_WITH_AS(bn(randn({2, 3, 4, 4})), Contains("BatchNorm1d(3"), Error);
    CHECK_THROWS_WITH_AS(bn(randn({2, 3, 4, 4})), Contains("[2,3,4,4]"), Error);
    CHECK_THROWS_WITH_AS(bn(randn({2, 4})), Contains("3 channels"), Error);
    // BatchNorm2d still names itself and rejects 3-D input
    nn::BatchNorm2d bn2(3);
    CHECK_THROWS_WITH_AS(bn2(randn({2, 3, 4})), Contains("BatchNorm2d(3"), Error);
    CHECK(repr(*bn2) ==
          "BatchNorm2d(3, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)");
  }

  TEST_CASE("Embedding: N(0,1) init, padding row, shapes, from_pretrained") {
    manual_seed(1);
    nn::Embedding e(nn::EmbeddingOptions(1000, 8).padding_idx(3));
    CHECK(repr(*e) == "Embedding(1000, 8, padding_idx=3)");
    CHECK(e->named_parameters().keys() == std::vector<std::string>{"weight"});
    const Tensor w = e->weight;
    CHECK(w.shape() == Shape{1000, 8});
    const double mean = w.mean().item<float>();
    const double var = ((w - mean) * (w - mean)).mean().item<float>();
    CHECK(std::abs(mean) < 0.05);
    CHECK(std::abs(var - 1.0) < 0.1);
    CHECK(w.select(0, 3).abs().sum().item<float>() == 0.0f);
    // indices of any shape -> [..., dim]; the padding row gets no gradient
    const Tensor idx = from_vector<int64_t>({3, 5, 3, 7, 0, 5}, {1, 2, 3});
    Tensor y = e(idx);
    CHECK(y.shape() == Shape{1, 2, 3, 8});
    CHECK(allclose(y.select(2, 1).select(1, 0), w.select(0, 5).unsqueeze(0)));
    y.sum().backward();
    const Tensor g = w.grad();
    CHECK(g.select(0, 3).abs().sum().item<float>() == 0.0f);
    CHECK(g.select(0, 5).sum().item<float>() == 16.0f);  // looked up twice, 8 dims
    CHECK(g.select(0, 1).abs().sum().item<float>() == 0.0f);
    CHECK(e(from_vector<int64_t>({4})).shape() == Shape{1, 8});
    CHECK(e(full({}, 4.0, dtype(kInt64))).shape() == Shape{8});  // a 0-d index
    CHECK(repr(*nn::Embedding(10, 3)) == "Embedding(10, 3)");
    CHECK(nn::Embedding(nn::EmbeddingOptions(10, 3).padding_idx(-1))->options.padding_idx() == 9);

    const Tensor pre = rand64({4, 2}, 5);
    nn::Embedding frozen = nn::Embedding::from_pretrained(pre);
    CHECK(frozen->weight.dtype() == kFloat64);
    CHECK(!frozen->weight.requires_grad());
    CHECK(allclose(frozen(from_vector<int64_t>({2})), pre.select(0, 2).unsqueeze(0), 0, 0));
    CHECK(!frozen(from_vector<int64_t>({2})).requires_grad());
    CHECK(nn::Embedding::from_pretrained(pre, false)->weight.requires_grad());
  }

  TEST_CASE("errors name the op, the bad value and the shapes") {
    const Tensor x = randn({2, 3, 4});
    std::string e = error_of([&] { (void)F::layer_norm(x, {5}); });
    CHECK(e ==
          "layer_norm: normalized_shape [5] does not match the input's last dims (input "
          "[2,3,4])");
    e = error_of([&] { (void)F::layer_norm(x, {4}, ones({3})); });
    CHECK_MESSAGE(e.find("layer_norm: weight [3] must have normalized_shape [4]") == 0, e);
    e = error_of([&] { (void)nn::LayerNorm(5)(x); });
    CHECK_MESSAGE(e.find("LayerNorm((5,)") == 0, e);
    CHECK_MESSAGE(e.find("normalized_shape [5]") != std::string::npos, e);
    e = error_of([&] { (void)F::group_norm(x, 2); });
    CHECK(e ==
          "group_norm: expected the number of channels 3 to be divisible by num_groups 2 "
          "(input [2,3,4])");
    e = error_of([&] { (void)F::group_norm(x, 3, ones({4})); });
    CHECK_MESSAGE(e.find("group_norm: weight [4] does not match the 3 channels") == 0, e);
    e = error_of([&] { (void)F::group_norm(randn({3}), 1); });
    CHECK_MESSAGE(e.find("group_norm: expected an input [N, C, *]") == 0, e);
    const Tensor w = randn({5, 2});
    e = error_of([&] { (void)F::embedding(from_vector<int64_t>({1, 5, 0}, {3}), w); });
    CHECK(e ==
          "embedding: index 5 is out of range for num_embeddings 5 (weight [5,2], indices "
          "[3])");
    e = error_of([&] { (void)F::embedding(from_vector<int64_t>({-1}), w); });
    CHECK_MESSAGE(e.find("embedding: index -1 is out of range") == 0, e);
    e = error_of([&] { (void)F::embedding(from_vector<float>({1}), w); });
    CHECK_MESSAGE(e.find("embedding: indices must be int64, got float32") == 0, e);
    e = error_of([&] { (void)F::embedding(from_vector<int64_t>({1}), w, 5); });
    CHECK_MESSAGE(e.find("embedding: padding_idx 5 must be within num_embeddings 5") == 0, e);
    e = error_of([&] { (void)nn::Embedding(5, 2)(from_vector<int64_t>({9})); });
    CHECK_MESSAGE(e.find("Embedding(5, 2): embedding: index 9") == 0, e);
    e = error_of([&] { (void)F::dropout2d(randn({2, 3}), 0.5); });
    CHECK_MESSAGE(
        e.find("dropout2d: expected a 3-D [C, H, W] or 4-D [N, C, H, W] input, got [2,3]") == 0, e);
    e = error_of([&] { (void)F::dropout2d(x, 1.5); });
    CHECK_MESSAGE(e.find("dropout2d: probability has to be between 0 and 1, but got 1.5") == 0, e);
    CHECK_THROWS_WITH_AS(nn::Dropout2d(-0.1), Contains("Dropout2d"), Error);
  }
}
