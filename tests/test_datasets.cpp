// datasets/: the DataLoader (order, batching, background thread, errors), the MNIST reader on
// small generated IDX files, and finding / downloading data (file:// mirrors stand in for
// the internet).
#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>

#include "datasets/dataloader.h"
#include "datasets/idx.h"
#include "datasets/md5.h"
#include "datasets/mnist.h"
#include "glassbox.h"

using namespace glassbox;
using namespace glassbox::datasets;
using doctest::Contains;
namespace fs = std::filesystem;

namespace {

// A fresh, empty folder removed at scope exit.
struct TempDir {
  fs::path path;
  explicit TempDir(const std::string& tag) {
    path = fs::temp_directory_path() /
           ("glassbox_" + tag + "_" + std::to_string(getpid()) + "_" + std::to_string(counter()++));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  std::string operator/(const std::string& name) const { return (path / name).string(); }
  static int& counter() {
    static int n = 0;
    return n;
  }
};

// Example i is the scalar i; get_batch can be told to fail at one index.
struct Counting : Dataset {
  int64_t n;
  int64_t fail_at;
  explicit Counting(int64_t n, int64_t fail_at = -1) : n(n), fail_at(fail_at) {}
  int64_t size() const override { return n; }
  Batch get_batch(const std::vector<int64_t>& indices) const override {
    for (int64_t i : indices) GB_CHECK(i != fail_at, "Counting: cannot read example ", i);
    Tensor t = from_vector(indices);
    return {t, t};
  }
};

std::vector<std::vector<int64_t>> epoch_batches(DataLoader& loader) {
  std::vector<std::vector<int64_t>> out;
  for (Batch& b : loader) out.push_back(b.data.to_vector<int64_t>());
  return out;
}

// Small MNIST-shaped files: n images whose pixel (0,0) is the image index and label i % 10.
void write_fake_mnist(const std::string& dir, int64_t n, bool gzip, const char* images_name,
                      const char* labels_name) {
  Tensor images = zeros({n, 28, 28}, dtype(DType::UInt8));
  std::vector<int64_t> labels;
  uint8_t* p = images.data_ptr<uint8_t>();
  for (int64_t i = 0; i < n; ++i) {
    p[i * 784] = static_cast<uint8_t>(i);
    p[i * 784 + 783] = 255;
    labels.push_back(i % 10);
  }
  const std::string ext = gzip ? ".gz" : "";
  write_idx(dir + "/" + images_name + ext, images, gzip);
  write_idx(dir + "/" + labels_name + ext, from_vector(labels).to(DType::UInt8), gzip);
}

}  // namespace

TEST_SUITE("datasets") {
  TEST_CASE("DataLoader: batches cover the data set once, in order without shuffle") {
    auto data = std::make_shared<Counting>(10);
    DataLoader loader(data, DataLoaderOptions().batch_size(4));
    CHECK(loader.size() == 3);
    auto batches = epoch_batches(loader);
    REQUIRE(batches.size() == 3);
    CHECK(batches[0] == std::vector<int64_t>{0, 1, 2, 3});
    CHECK(batches[2] == std::vector<int64_t>{8, 9});
    DataLoader dropping(data, DataLoaderOptions().batch_size(4).drop_last(true));
    CHECK(dropping.size() == 2);
    CHECK(epoch_batches(dropping).size() == 2);
  }

  TEST_CASE("DataLoader: shuffle is a new permutation each epoch, reproducible from the seed") {
    auto data = std::make_shared<Counting>(1000);
    DataLoader a(data, DataLoaderOptions().batch_size(64).shuffle(true).seed(7));
    DataLoader b(data, DataLoaderOptions().batch_size(64).shuffle(true).seed(7));
    DataLoader c(data, DataLoaderOptions().batch_size(64).shuffle(true).seed(8));
    std::vector<int64_t> first;
    for (auto& batch : epoch_batches(a)) first.insert(first.end(), batch.begin(), batch.end());
    std::vector<int64_t> sorted = first;
    std::sort(sorted.begin(), sorted.end());
    for (int64_t i = 0; i < 1000; ++i) REQUIRE(sorted[size_t(i)] == i);
    CHECK(first == a.order(0));
    CHECK(a.order(0) == b.order(0));
    CHECK(a.order(1) != a.order(0));
    CHECK(c.order(0) != a.order(0));
    std::vector<int64_t> replay;
    for (auto& batch : epoch_batches(b)) replay.insert(replay.end(), batch.begin(), batch.end());
    CHECK(replay == first);  // same seed, same epoch: same order
  }

  TEST_CASE("DataLoader: set_epoch replays an epoch's order; prefetch does not change batches") {
    auto data = std::make_shared<Counting>(97);
    DataLoader threaded(data, DataLoaderOptions().batch_size(10).shuffle(true).seed(3));
    DataLoader inline_(data, DataLoaderOptions().batch_size(10).shuffle(true).seed(3).prefetch(0));
    auto e0 = epoch_batches(threaded);
    auto e1 = epoch_batches(threaded);
    CHECK(e0 != e1);
    CHECK(epoch_batches(inline_) == e0);
    threaded.set_epoch(1);
    CHECK(epoch_batches(threaded) == e1);
    CHECK(threaded.next_epoch() == 2);
  }

  TEST_CASE("DataLoader: leaving an epoch early and starting another is safe") {
    auto data = std::make_shared<Counting>(500);
    DataLoader loader(data, DataLoaderOptions().batch_size(5).prefetch(3));
    for (int round = 0; round < 20; ++round) {
      int seen = 0;
      for (Batch& b : loader) {
        CHECK(b.data.numel() == 5);
        if (++seen == round % 4) break;
      }
    }
    auto it = loader.begin();
    auto stale = it;
    loader.begin();  // replaces the epoch `stale` belongs to
    CHECK_THROWS_WITH_AS(++stale, Contains("later begin()"), Error);
  }

  TEST_CASE("DataLoader: an error assembling a batch reaches the training loop") {
    for (int64_t prefetch : {0, 2}) {
      CAPTURE(prefetch);
      auto data = std::make_shared<Counting>(50, 23);
      DataLoader loader(data, DataLoaderOptions().batch_size(10).prefetch(prefetch));
      int batches = 0;
      auto consume = [&] {
        for (Batch& b : loader) {
          (void)b;
          ++batches;
        }
      };
      CHECK_THROWS_WITH_AS(consume(), Contains("cannot read example 23"), Error);
      CHECK(batches == 2);  // the batches before the bad one arrived
    }
  }

  TEST_CASE("DataLoader: bad options") {
    auto data = std::make_shared<Counting>(5);
    CHECK_THROWS_WITH_AS(DataLoader(data, DataLoaderOptions().batch_size(0)),
                         Contains("batch_size must be positive"), Error);
    CHECK_THROWS_WITH_AS(DataLoader(nullptr), Contains("null"), Error);
    DataLoader empty(std::make_shared<Counting>(0), DataLoaderOptions().batch_size(3));
    CHECK(empty.size() == 0);
    CHECK(epoch_batches(empty).empty());
  }

  TEST_CASE("MNIST reads raw and gzip IDX files and normalises each batch") {
    for (bool gzip : {false, true}) {
      CAPTURE(gzip);
      TempDir dir("mnist");
      write_fake_mnist(dir.path.string(), 30, gzip, "t10k-images-idx3-ubyte",
                       "t10k-labels-idx1-ubyte");
      MNIST test(dir.path.string(), Split::Test, Normalize{0.5, 0.25}, /*verify_md5=*/false);
      CHECK(test.size() == 30);
      Batch b = test.get_batch({3, 17});
      CHECK(b.data.shape() == Shape{2, 1, 28, 28});
      CHECK(b.data.dtype() == DType::Float32);
      CHECK(b.target.to_vector<int64_t>() == std::vector<int64_t>{3, 7});
      const float* d = b.data.data_ptr<float>();
      CHECK(d[0] == doctest::Approx((3 / 255.0 - 0.5) / 0.25).epsilon(1e-6));
      CHECK(d[1] == doctest::Approx(-2.0));   // a zero pixel
      CHECK(d[783] == doctest::Approx(2.0));  // 255
      CHECK(d[784] == doctest::Approx((17 / 255.0 - 0.5) / 0.25).epsilon(1e-6));
      MNIST raw(dir.path.string(), Split::Test, std::nullopt, false);
      CHECK(raw.get_batch({5}).data.data_ptr<float>()[0] == doctest::Approx(5 / 255.0));
      MNIST head = test.head(12);
      CHECK(head.size() == 12);
      CHECK_THROWS_WITH_AS(head.get_batch({12}), Contains("index 12 out of range"), Error);
      CHECK_THROWS_WITH_AS(MNIST(dir.path.string(), Split::Train, std::nullopt, false),
                           Contains("train-images-idx3-ubyte.gz nor"), Error);
    }
  }

  TEST_CASE("MNIST rejects files that are not MNIST, naming them") {
    TempDir dir("mnist_bad");
    const std::string d = dir.path.string();
    write_idx(dir / "t10k-images-idx3-ubyte", zeros({4, 28, 28}, dtype(DType::UInt8)));
    write_idx(dir / "t10k-labels-idx1-ubyte", zeros({5}, dtype(DType::UInt8)));
    const std::string count_problem =
        "has 4 images but " + (dir / "t10k-labels-idx1-ubyte") + " has 5 labels";
    CHECK_THROWS_WITH_AS(MNIST(d, Split::Test, std::nullopt, false),
                         Contains(count_problem.c_str()), Error);
    write_idx(dir / "t10k-labels-idx1-ubyte", full({4}, 12, dtype(DType::UInt8)));
    CHECK_THROWS_WITH_AS(MNIST(d, Split::Test, std::nullopt, false),
                         Contains("label 12 at index 0 is not a class 0-9"), Error);
    write_idx(dir / "t10k-images-idx3-ubyte", zeros({4, 28, 27}, dtype(DType::UInt8)));
    CHECK_THROWS_WITH_AS(MNIST(d, Split::Test, std::nullopt, false),
                         Contains("holds uint8 [4,28,27], expected uint8 [N,28,28]"), Error);
    // With MD5 checks on (the default), made-up files are refused before they are parsed.
    CHECK_THROWS_WITH_AS(MNIST(d, Split::Test), Contains("is not the canonical"), Error);
  }

  TEST_CASE("locate_dataset: explicit folder, candidates, damaged files, clear failure") {
    TempDir dir("locate");
    // A made-up data set whose "canonical" MD5s are those of small generated files.
    write_fake_mnist(dir.path.string(), 8, true, "a-images", "a-labels");
    write_fake_mnist(dir.path.string(), 4, true, "b-images", "b-labels");
    static std::string sums[4];
    const char* names[4] = {"a-images", "a-labels", "b-images", "b-labels"};
    for (int i = 0; i < 4; ++i) sums[i] = md5_file(dir / (std::string(names[i]) + ".gz"));
    IdxDatasetInfo info = mnist_info();
    info.name = "Tiny";
    for (int i = 0; i < 4; ++i) info.files[size_t(i)] = {names[i], sums[i].c_str(), "-"};

    LocateOptions options;
    options.allow_download = false;
    options.candidates = {dir / "nothing-here", dir.path.string()};
    CHECK(locate_dataset(info, options) == dir.path.string());
    options.explicit_dir = dir / "nothing-here";
    CHECK_THROWS_WITH_AS(locate_dataset(info, options),
                         Contains("nothing-here does not hold the four files"), Error);
    options.explicit_dir.clear();

    // One flipped byte in a found file: an error naming it, not a silent skip.
    {
      std::fstream f(dir / "b-labels.gz", std::ios::in | std::ios::out | std::ios::binary);
      f.seekp(12);
      f.put('\x7f');
    }
    const std::string damaged = dir / "b-labels.gz" + ": MD5";
    CHECK_THROWS_WITH_AS(locate_dataset(info, options), Contains(damaged.c_str()), Error);
    options.candidates = {dir / "nothing-here"};
    const std::string not_found = "Tiny: data not found (looked in: " + dir / "nothing-here";
    CHECK_THROWS_WITH_AS(locate_dataset(info, options), Contains(not_found.c_str()), Error);
  }

  TEST_CASE("locate_dataset downloads from a mirror, checks MD5s, and tries the next mirror") {
    if (system("command -v curl >/dev/null 2>&1") != 0) {
      MESSAGE("skipped: curl is not installed (downloads use curl or wget; file:// needs curl)");
      return;
    }
    TempDir mirror("mirror"), bad_mirror("bad_mirror"), target("download");
    const char* names[4] = {"a-images", "a-labels", "b-images", "b-labels"};
    write_fake_mnist(mirror.path.string(), 8, true, names[0], names[1]);
    write_fake_mnist(mirror.path.string(), 4, true, names[2], names[3]);
    write_fake_mnist(bad_mirror.path.string(), 9, true, names[0], names[1]);  // wrong content
    static std::string sums[4];
    for (int i = 0; i < 4; ++i) sums[i] = md5_file(mirror / (std::string(names[i]) + ".gz"));
    IdxDatasetInfo info = mnist_info();
    info.name = "Tiny";
    for (int i = 0; i < 4; ++i) info.files[size_t(i)] = {names[i], sums[i].c_str(), "-"};
    static std::string urls[2];
    urls[0] = "file://" + bad_mirror.path.string() + "/";
    urls[1] = "file://" + mirror.path.string() + "/";
    info.mirrors = {urls[0].c_str(), urls[1].c_str()};

    LocateOptions options;
    options.download_dir = target / "tiny";
    std::ostringstream log;
    options.log = &log;
    CHECK(locate_dataset(info, options) == options.download_dir);
    for (int i = 0; i < 4; ++i)
      CHECK(md5_file(options.download_dir + "/" + names[i] + ".gz") == sums[i]);
    CHECK_FALSE(fs::exists(options.download_dir + "/a-images.gz.part"));
    CHECK(log.str().find(urls[0] + "a-images.gz") != std::string::npos);

    info.mirrors = {urls[0].c_str()};  // only the bad mirror: every file fails its MD5 or 404s
    options.download_dir = target / "again";
    CHECK_THROWS_WITH_AS(locate_dataset(info, options), Contains("could not download a-images.gz:"),
                         Error);
    try {
      locate_dataset(info, options);
    } catch (const Error& e) {
      CHECK(std::string(e.what()).find("is not the canonical") != std::string::npos);
      CHECK(std::string(e.what()).find("pass --data FOLDER") != std::string::npos);
    }
  }

  TEST_CASE("Fashion-MNIST from Debian's dataset-fashion-mnist") {
    const std::string dir = "/usr/share/datasets/fashion-mnist";
    if (!fs::exists(dir + "/t10k-labels-idx1-ubyte.gz")) {
      MESSAGE("skipped: Debian's dataset-fashion-mnist is not installed");
      return;
    }
    FashionMNIST test(dir, Split::Test);  // MD5-checked against the canonical payloads
    CHECK(test.size() == 10000);
    CHECK(test.targets().to_vector<int64_t>()[0] == 9);  // an ankle boot
    CHECK(std::string(test.info().classes[9]) == "Ankle boot");
  }
}
