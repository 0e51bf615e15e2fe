// datasets/tensor_dataset.h and datasets/transforms.h: TensorDataset, Subset, random_split
// (PyTorch 1.13's length rules), each transform's values on small known tensors, per-example
// randomness that depends on (seed, epoch, index) only, and MNIST's named raw-pixel option.
#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <set>

#include "temp_dir.h"
#include "datasets/dataloader.h"
#include "datasets/idx.h"
#include "datasets/mnist.h"
#include "datasets/tensor_dataset.h"
#include "datasets/transforms.h"
#include "core/error.h"
#include "core/generator.h"
#include "core/safetensors.h"
#include "core/tensor.h"

using namespace glassbox;
using namespace glassbox::datasets;
namespace T = glassbox::datasets::transforms;
using doctest::Contains;

namespace {

// x row i = {10 i, 10 i + 1, 10 i + 2} (float32 [n,3]); y = i (int64 [n]).
std::shared_ptr<TensorDataset> rows(int64_t n) {
  std::vector<float> x;
  std::vector<int64_t> y;
  for (int64_t i = 0; i < n; ++i) {
    for (int k = 0; k < 3; ++k) x.push_back(float(10 * i + k));
    y.push_back(i);
  }
  return std::make_shared<TensorDataset>(from_vector(x, {n, 3}), from_vector(y));
}

std::vector<int64_t> all_indices(const Dataset& d) {
  std::vector<int64_t> out;
  for (int64_t i = 0; i < d.size(); ++i) {
    Batch b = d.get_batch({i});
    out.push_back(b.target.to_vector<int64_t>()[0]);
  }
  return out;
}

// Images [n,1,5,6] uint8 with pixel (y, x) of image i = (i * 7 + y * 6 + x) % 256.
std::shared_ptr<TensorDataset> images(int64_t n) {
  Tensor x = empty({n, 1, 5, 6}, dtype(DType::UInt8));
  uint8_t* p = x.data_ptr<uint8_t>();
  for (int64_t i = 0; i < n; ++i)
    for (int64_t k = 0; k < 30; ++k) p[i * 30 + k] = uint8_t((i * 7 + k) % 256);
  return std::make_shared<TensorDataset>(x, arange(n));
}

// Every example's data from one pass of `loader`, keyed by its index (the target).
std::map<int64_t, std::vector<float>> by_index(DataLoader& loader) {
  std::map<int64_t, std::vector<float>> out;
  for (Batch& b : loader) {
    const auto t = b.target.to_vector<int64_t>();
    const auto d = b.data.to_vector<float>();
    const size_t per = d.size() / t.size();
    for (size_t i = 0; i < t.size(); ++i)
      out[t[i]] = std::vector<float>(d.begin() + long(i * per), d.begin() + long((i + 1) * per));
  }
  return out;
}

void write_fake_mnist(const std::string& dir, int64_t n) {
  Tensor images = zeros({n, 28, 28}, dtype(DType::UInt8));
  uint8_t* p = images.data_ptr<uint8_t>();
  std::vector<int64_t> labels;
  for (int64_t i = 0; i < n; ++i) {
    p[i * 784] = uint8_t(i * 20);
    p[i * 784 + 783] = 255;
    labels.push_back(i % 10);
  }
  write_idx(dir + "/t10k-images-idx3-ubyte", images);
  write_idx(dir + "/t10k-labels-idx1-ubyte", from_vector(labels).to(DType::UInt8));
}

Tensor apply(const T::Transform& t, const Tensor& x, uint64_t seed = 0) {
  Generator gen(seed);
  return t(x, gen);
}

}  // namespace

TEST_SUITE("data_api") {
  TEST_CASE("TensorDataset: rows of data and targets, through a shuffling DataLoader") {
    auto data = rows(10);
    CHECK(data->size() == 10);
    DataLoader loader(data, DataLoaderOptions().batch_size(4).shuffle(true).seed(1));
    std::set<int64_t> seen;
    int batches = 0;
    for (Batch& b : loader) {
      ++batches;
      REQUIRE(b.data.dim() == 2);
      CHECK(b.data.size(1) == 3);
      const auto x = b.data.to_vector<float>();
      const auto y = b.target.to_vector<int64_t>();
      for (size_t i = 0; i < y.size(); ++i) {
        CHECK(x[i * 3] == float(10 * y[i]));
        CHECK(x[i * 3 + 2] == float(10 * y[i] + 2));
        seen.insert(y[i]);
      }
    }
    CHECK(batches == 3);
    CHECK(seen.size() == 10);

    // No targets: batches carry an undefined target. Non-contiguous input is copied.
    TensorDataset only_x(from_vector(std::vector<double>{1, 2, 3, 4, 5, 6}, {2, 3}).t());
    CHECK(only_x.size() == 3);
    Batch b = only_x.get_batch({2, 0});
    CHECK_FALSE(b.target.defined());
    CHECK(b.data.dtype() == DType::Float64);
    CHECK(b.data.to_vector<double>() == std::vector<double>{3, 6, 1, 4});
  }

  TEST_CASE("TensorDataset: errors name the shapes and the bad index") {
    CHECK_THROWS_WITH_AS(TensorDataset(zeros({4, 2}), zeros({5})),
                         Contains("got data [4,2] and targets [5]"), Error);
    CHECK_THROWS_WITH_AS(TensorDataset(scalar_tensor(1.0)), Contains("0-d"), Error);
    CHECK_THROWS_WITH_AS(TensorDataset{Tensor()}, Contains("undefined"), Error);
    CHECK_THROWS_WITH_AS(rows(3)->get_batch({0, 3}),
                         Contains("TensorDataset: index 3 out of range for 3 examples"), Error);
  }

  TEST_CASE("Subset: maps its indices to the parent's, checks them") {
    auto data = rows(6);
    Subset sub(data, {5, 1, 1});
    CHECK(sub.size() == 3);
    CHECK(all_indices(sub) == std::vector<int64_t>{5, 1, 1});
    CHECK_THROWS_WITH_AS(Subset(data, {0, 6}),
                         Contains("Subset: index 6 (at position 1) out of range for a data set "
                                  "of 6 examples"),
                         Error);
    CHECK_THROWS_WITH_AS(Subset(data, {-1}), Contains("index -1"), Error);
    CHECK_THROWS_WITH_AS(sub.get_batch({3}), Contains("index 3 out of range for 3"), Error);
    CHECK_THROWS_WITH_AS(Subset(nullptr, {}), Contains("null"), Error);
  }

  TEST_CASE("random_split: PyTorch 1.13's length rules") {
    // fractions: floor(n f) each, then the remainder round-robin from part 0
    CHECK(split_lengths(10, {0.8, 0.2}) == std::vector<int64_t>{8, 2});
    CHECK(split_lengths(11, {0.3, 0.3, 0.4}) == std::vector<int64_t>{4, 3, 4});
    CHECK(split_lengths(10, {1 / 3.0, 1 / 3.0, 1 / 3.0}) == std::vector<int64_t>{4, 3, 3});
    CHECK(split_lengths(5, {0.1, 0.1, 0.1, 0.7}) == std::vector<int64_t>{1, 1, 0, 3});
    CHECK(split_lengths(7, {3, 4}) == std::vector<int64_t>{3, 4});
    CHECK(split_lengths(1, {1}) == std::vector<int64_t>{1});  // both readings agree
    CHECK_THROWS_WITH_AS(split_lengths(10, {5, 4}),
                         Contains("sum to 9, not to the data set's 10 examples"), Error);
    CHECK_THROWS_WITH_AS(split_lengths(10, {0.5, 0.6}), Contains("0.5 is not a whole number"),
                         Error);
    CHECK_THROWS_WITH_AS(split_lengths(10, {1.5, -0.5}), Contains("fraction 1.5 is not in [0, 1]"),
                         Error);
    CHECK_THROWS_WITH_AS(split_lengths(10, {}), Contains("empty"), Error);
  }

  TEST_CASE("random_split: part sizes match PyTorch's (tests/fixtures/data_api.safetensors)") {
    const TensorMap m =
        load_safetensors(std::string(GLASSBOX_SOURCE_DIR) + "/tests/fixtures/data_api.safetensors");
    int cases = 0;
    for (const auto& [key, value] : m) {
      if (key.size() < 2 || key.compare(key.size() - 2, 2, ".n") != 0) continue;
      const std::string c = key.substr(0, key.size() - 2);
      CAPTURE(c);
      const int64_t n = value.to_vector<int64_t>()[0];
      const auto lengths = m.at(c + ".lengths").to_vector<double>();
      CHECK(split_lengths(n, lengths) == m.at(c + ".sizes").to_vector<int64_t>());
      ++cases;
    }
    CHECK(cases == 13);
  }

  TEST_CASE("random_split: disjoint parts covering the data set, reproducible from the seed") {
    auto data = rows(100);
    auto parts = random_split(data, {0.7, 0.2, 0.1}, 5);
    REQUIRE(parts.size() == 3);
    CHECK(parts[0]->size() == 70);
    CHECK(parts[1]->size() == 20);
    CHECK(parts[2]->size() == 10);
    std::set<int64_t> all;
    for (const auto& p : parts)
      for (int64_t i : p->indices()) CHECK(all.insert(i).second);  // disjoint
    CHECK(all.size() == 100);
    CHECK(all_indices(*parts[1]) == parts[1]->indices());  // the Subset reads the parent

    auto again = random_split(data, {70, 20, 10}, 5);  // braced integers: same split
    for (size_t k = 0; k < 3; ++k) CHECK(again[k]->indices() == parts[k]->indices());
    const std::vector<int64_t> lengths{70, 30};
    auto other = random_split(data, lengths, 6);
    CHECK(other[0]->indices() != parts[0]->indices());
    auto sorted = parts[0]->indices();
    std::sort(sorted.begin(), sorted.end());
    CHECK(sorted != parts[0]->indices());  // shuffled, not the first 70

    // A part works with the DataLoader and keeps the data alive.
    DataLoader loader(random_split(rows(9), {6, 3}, 1)[1], DataLoaderOptions().batch_size(2));
    int64_t n = 0;
    for (Batch& b : loader) n += b.data.size(0);
    CHECK(n == 3);
    CHECK_THROWS_WITH_AS(random_split(data, {50, 40}, 0), Contains("sum to 90"), Error);
  }

  TEST_CASE("ToFloat: uint8 to [0, 1], no normalisation") {
    Tensor x = from_vector(std::vector<int64_t>{0, 51, 255, 102}, {1, 2, 2}).to(DType::UInt8);
    Tensor y = apply(T::ToFloat(), x);
    CHECK(y.dtype() == DType::Float32);
    CHECK(y.shape() == Shape{1, 2, 2});
    CHECK(y.to_vector<float>() == std::vector<float>{0.f, 0.2f, 1.f, 0.4f});
    CHECK(apply(T::ToFloat(), tensor({0.5, 2.0})).to_vector<float>() ==
          std::vector<float>{0.5f, 2.f});
    CHECK_THROWS_WITH_AS(apply(T::ToFloat(), arange(3)), Contains("ToFloat: expects uint8"), Error);
  }

  TEST_CASE("Normalize: per channel of dim 0") {
    Tensor x = from_vector(std::vector<float>{1, 3, 2, 10}, {2, 1, 2});
    Tensor y = apply(T::Normalize({1, 2}, {2, 4}), x);
    CHECK(y.to_vector<float>() == std::vector<float>{0.f, 1.f, 0.f, 2.f});
    CHECK(apply(T::Normalize({1}, {0.5}), x).to_vector<float>() ==
          std::vector<float>{0.f, 4.f, 2.f, 18.f});
    CHECK_THROWS_WITH_AS(apply(T::Normalize({0, 0, 0}, {1, 1, 1}), x),
                         Contains("for an example with 2 channels (dim 0 of [2,1,2])"), Error);
    CHECK_THROWS_WITH_AS(apply(T::Normalize({0}, {1}), x.to(DType::UInt8)),
                         Contains("put ToFloat first"), Error);
    CHECK_THROWS_WITH_AS(T::Normalize({0}, {0}), Contains("std must be positive, got 0"), Error);
  }

  TEST_CASE("RandomHorizontalFlip: reverses the last dim with probability p") {
    Tensor x = from_vector(std::vector<float>{1, 2, 3, 4, 5, 6}, {1, 2, 3});
    CHECK(apply(T::RandomHorizontalFlip(1.0), x).to_vector<float>() ==
          std::vector<float>{3, 2, 1, 6, 5, 4});
    CHECK(apply(T::RandomHorizontalFlip(0.0), x).to_vector<float>() == x.to_vector<float>());
    int flipped = 0;
    for (uint64_t s = 0; s < 400; ++s)
      flipped += apply(T::RandomHorizontalFlip(0.25), x, s).to_vector<float>()[0] == 3.f;
    CHECK(flipped > 60);
    CHECK(flipped < 140);
    CHECK_THROWS_WITH_AS(T::RandomHorizontalFlip(1.5), Contains("p must be in [0, 1], got 1.5"),
                         Error);
  }

  TEST_CASE("RandomCrop: a window of the padded example; every offset occurs") {
    // 3x3 image 1..9, padding 1 -> a 5x5 padded image; a 3x3 crop has 9 possible offsets.
    Tensor x = from_vector(std::vector<float>{1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 3, 3});
    auto padded = [&](int64_t y, int64_t xx) -> float {
      return (y >= 1 && y <= 3 && xx >= 1 && xx <= 3) ? float((y - 1) * 3 + xx) : -1.f;
    };
    std::set<std::pair<int64_t, int64_t>> offsets;
    for (uint64_t s = 0; s < 200; ++s) {
      const auto y = apply(T::RandomCrop({3, 3}, {1}, -1.0), x, s).to_vector<float>();
      bool found = false;
      for (int64_t i = 0; i < 3 && !found; ++i)
        for (int64_t j = 0; j < 3 && !found; ++j) {
          bool match = true;
          for (int64_t r = 0; r < 3; ++r)
            for (int64_t c = 0; c < 3; ++c) match &= y[size_t(r * 3 + c)] == padded(r + i, c + j);
          if (match) {
            offsets.insert({i, j});
            found = true;
          }
        }
      CHECK(found);
    }
    CHECK(offsets.size() == 9);
    // No padding, crop 2x2 out of 3x3 keeps neighbours; uint8 works; fill defaults to 0.
    const auto small = apply(T::RandomCrop(2), x.to(DType::UInt8), 3).to_vector<uint8_t>();
    CHECK(int(small[1]) == int(small[0]) + 1);
    CHECK(int(small[2]) == int(small[0]) + 3);
    // padding {left, top, right, bottom} = {2, 0, 0, 0}: a 3x3 crop of [3, 5] starts at
    // column 0, 1 or 2, row 0; at column 0 it shows two zero columns.
    std::set<float> corners;
    for (uint64_t s = 0; s < 60; ++s)
      corners.insert(apply(T::RandomCrop({3, 3}, {2, 0, 0, 0}), x, s).to_vector<float>()[0]);
    CHECK(corners == std::set<float>{0.f, 1.f});
    CHECK(apply(T::RandomCrop(3), x).to_vector<float>() == x.to_vector<float>());
    CHECK_THROWS_WITH_AS(apply(T::RandomCrop(4), x),
                         Contains("crop size [4,4] is larger than the padded example [3,3]"),
                         Error);
    CHECK_THROWS_WITH_AS(T::RandomCrop({3, 3}, {1, 2, 3}), Contains("got [1,2,3]"), Error);
    CHECK_THROWS_WITH_AS(apply(T::RandomCrop(1), tensor({1.f, 2.f})), Contains("[..., H, W]"),
                         Error);
  }

  TEST_CASE("Compose applies in order; copying a Compose does not nest it") {
    T::Compose c{T::ToFloat(), T::Normalize({0.5}, {0.5}), T::RandomHorizontalFlip(1.0)};
    CHECK(c.transforms().size() == 3);
    T::Compose copy = c;
    CHECK(copy.transforms().size() == 3);
    Tensor x = from_vector(std::vector<int64_t>{0, 255}, {1, 1, 2}).to(DType::UInt8);
    CHECK(apply(c, x).to_vector<float>() == std::vector<float>{1.f, -1.f});
    T::Compose empty_compose{};
    CHECK(apply(empty_compose, x).is_same(x));
  }

  TEST_CASE("transformed: per-example randomness from (seed, epoch, index) only") {
    const uint64_t before = default_generator().offset();
    auto base = images(23);
    auto pipeline = [&](uint64_t seed) {
      return transformed(
          base, T::Compose{T::ToFloat(), T::RandomCrop(4, 1), T::RandomHorizontalFlip(0.5)}, seed);
    };
    auto data = pipeline(9);
    std::map<int64_t, std::vector<float>> reference;
    std::map<int64_t, std::vector<float>> epoch1;
    bool first = true;
    for (int64_t batch : {1, 4, 23}) {
      for (bool shuffle : {false, true}) {
        for (int64_t prefetch : {0, 3}) {
          CAPTURE(batch);
          DataLoader loader(data, DataLoaderOptions()
                                      .batch_size(batch)
                                      .shuffle(shuffle)
                                      .seed(uint64_t(batch))
                                      .prefetch(prefetch));
          auto e0 = by_index(loader);
          auto e1 = by_index(loader);
          CHECK(e0.size() == 23);
          if (first) {
            reference = e0;
            epoch1 = e1;
            first = false;
          }
          CHECK(e0 == reference);
          CHECK(e1 == epoch1);
        }
      }
    }
    CHECK(reference != epoch1);           // a new epoch draws new crops and flips
    CHECK(reference.at(0).size() == 16);  // [1, 4, 4]
    // The replay rule: example 5 of epoch 1 is the Compose run on example_generator(9, 1, 5).
    Generator gen = example_generator(9, 1, 5);
    Tensor ex = base->get_batch({5}).data.select(0, 0).contiguous();
    T::Compose same{T::ToFloat(), T::RandomCrop(4, 1), T::RandomHorizontalFlip(0.5)};
    CHECK(same(ex, gen).to_vector<float>() == epoch1.at(5));
    // Another seed, other draws; get_batch alone is epoch 0; the default generator untouched.
    DataLoader other(pipeline(10), DataLoaderOptions().batch_size(5));
    CHECK(by_index(other) != reference);
    Batch direct = data->get_batch({3});
    CHECK(direct.data.to_vector<float>() == reference.at(3));
    CHECK(direct.target.to_vector<int64_t>() == std::vector<int64_t>{3});
    CHECK(default_generator().offset() == before);
  }

  TEST_CASE("transformed: through a Subset, and errors") {
    auto data = transformed(images(10), T::ToFloat(), 0);
    auto parts = random_split(data, {0.5, 0.5}, 2);
    Batch b = parts[0]->get_batch({0});
    CHECK(b.data.dtype() == DType::Float32);
    CHECK(b.data.shape() == Shape{1, 1, 5, 6});
    const int64_t k = parts[0]->indices()[0];
    CHECK(b.data.to_vector<float>()[1] == doctest::Approx(float((k * 7 + 1) % 256) / 255.f));

    int calls = 0;
    auto ragged = transformed(images(3), T::Lambda([&](const Tensor& x, Generator&) {
                                return ++calls == 2 ? x.flatten() : x;
                              }));
    CHECK_THROWS_WITH_AS(ragged->get_batch({0, 1, 2}),
                         Contains("example 1 became uint8 [30] but the batch's first became "
                                  "uint8 [3,1,5,6]"),
                         Error);
    CHECK_THROWS_WITH_AS(transformed(nullptr, T::ToFloat()), Contains("null"), Error);
  }

  TEST_CASE("MNIST: normalised by default, raw [0, 1] pixels by name") {
    TempDir dir("data_api_mnist");
    write_fake_mnist(dir.path.string(), 6);
    MNIST normalised(dir.path.string(), Split::Test, mnist_info().normalize, false);
    REQUIRE(normalised.normalization().has_value());
    CHECK(normalised.normalization()->mean == doctest::Approx(0.1307));
    CHECK(normalised.get_batch({0}).data.data_ptr<float>()[0] ==
          doctest::Approx(-0.1307 / 0.3081).epsilon(1e-6));
    MNIST raw(dir.path.string(), Split::Test, raw_pixels, false);
    CHECK_FALSE(raw.normalization().has_value());
    const Batch b = raw.get_batch({0, 3});
    const float* d = b.data.data_ptr<float>();
    CHECK(d[0] == 0.f);
    CHECK(d[783] == 1.f);
    CHECK(d[784] == doctest::Approx(60 / 255.0));
    CHECK(b.data.min().item() >= 0.0);
    CHECK(b.data.max().item() <= 1.0);
    FashionMNIST fashion_raw(dir.path.string(), Split::Test, raw_pixels, false);
    CHECK(fashion_raw.get_batch({3}).data.data_ptr<float>()[0] == doctest::Approx(60 / 255.0));
    FashionMNIST fashion(dir.path.string(), Split::Test, fashion_mnist_info().normalize, false);
    CHECK(fashion.normalization()->std == doctest::Approx(0.3530));

    // The same pixels through a TensorDataset + transforms match the built-in normalisation.
    auto bytes = std::make_shared<TensorDataset>(raw.images().unsqueeze(1), raw.targets());
    auto pipeline = transformed(bytes, T::Compose{T::ToFloat(), T::Normalize({0.1307}, {0.3081})});
    CHECK(
        allclose(pipeline->get_batch({2, 3}).data, normalised.get_batch({2, 3}).data, 1e-5, 1e-6));
  }
}
