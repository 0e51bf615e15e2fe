// datasets/: the DataLoader (order, batching, background thread, errors), the MNIST reader on
// small generated IDX files, and finding / downloading data (file:// mirrors stand in for
// the internet), including that a failed download leaves no folder or partial file behind.
#include <doctest/doctest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "resource_limits.h"
#include "temp_dir.h"
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

bool have_curl() { return system("command -v curl >/dev/null 2>&1") == 0; }

// A made-up four-file data set served from file:// mirrors: `good` holds the canonical files
// (their MD5s are the data set's), `bad` other content under the same names, `half` only the
// first two canonical files. Not copyable: info points into sums and urls.
struct FakeMirrors {
  const char* names[4] = {"a-images", "a-labels", "b-images", "b-labels"};
  TempDir good{"glassbox_mirror"}, bad{"glassbox_bad_mirror"}, half{"glassbox_half_mirror"};
  std::string sums[4];
  std::vector<std::string> urls;
  IdxDatasetInfo info = mnist_info();

  FakeMirrors() {
    write_fake_mnist(good.path.string(), 8, true, names[0], names[1]);
    write_fake_mnist(good.path.string(), 4, true, names[2], names[3]);
    write_fake_mnist(bad.path.string(), 9, true, names[0], names[1]);  // wrong content
    for (int i = 0; i < 2; ++i) {
      const std::string name = std::string(names[i]) + ".gz";
      fs::copy_file(good.file(name), half.file(name));
    }
    for (int i = 0; i < 4; ++i) sums[i] = md5_file(good.file(std::string(names[i]) + ".gz"));
    info.name = "Tiny";
    for (int i = 0; i < 4; ++i) info.files[size_t(i)] = {names[i], sums[i].c_str(), "-"};
  }
  static std::string url(const TempDir& dir) { return "file://" + dir.path.string() + "/"; }
  void use(std::vector<std::string> mirror_urls) {
    urls = std::move(mirror_urls);
    info.mirrors.clear();
    for (const std::string& u : urls) info.mirrors.push_back(u.c_str());
  }
};

std::string error_of(const IdxDatasetInfo& info, const LocateOptions& options) {
  try {
    locate_dataset(info, options);
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
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
    write_idx(dir.file("t10k-images-idx3-ubyte"), zeros({4, 28, 28}, dtype(DType::UInt8)));
    write_idx(dir.file("t10k-labels-idx1-ubyte"), zeros({5}, dtype(DType::UInt8)));
    const std::string count_problem =
        "has 4 images but " + (dir.file("t10k-labels-idx1-ubyte")) + " has 5 labels";
    CHECK_THROWS_WITH_AS(MNIST(d, Split::Test, std::nullopt, false),
                         Contains(count_problem.c_str()), Error);
    write_idx(dir.file("t10k-labels-idx1-ubyte"), full({4}, 12, dtype(DType::UInt8)));
    CHECK_THROWS_WITH_AS(MNIST(d, Split::Test, std::nullopt, false),
                         Contains("label 12 at index 0 is not a class 0-9"), Error);
    write_idx(dir.file("t10k-images-idx3-ubyte"), zeros({4, 28, 27}, dtype(DType::UInt8)));
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
    for (int i = 0; i < 4; ++i) sums[i] = md5_file(dir.file(std::string(names[i]) + ".gz"));
    IdxDatasetInfo info = mnist_info();
    info.name = "Tiny";
    for (int i = 0; i < 4; ++i) info.files[size_t(i)] = {names[i], sums[i].c_str(), "-"};

    LocateOptions options;
    options.allow_download = false;
    options.candidates = {dir.file("nothing-here"), dir.path.string()};
    CHECK(locate_dataset(info, options) == dir.path.string());
    options.explicit_dir = dir.file("nothing-here");
    CHECK_THROWS_WITH_AS(locate_dataset(info, options),
                         Contains("nothing-here does not hold the four files"), Error);
    options.explicit_dir.clear();

    // One flipped byte in a found file: an error naming it, not a silent skip.
    {
      std::fstream f(dir.file("b-labels.gz"), std::ios::in | std::ios::out | std::ios::binary);
      f.seekp(12);
      f.put('\x7f');
    }
    const std::string damaged = dir.file("b-labels.gz") + ": MD5";
    CHECK_THROWS_WITH_AS(locate_dataset(info, options), Contains(damaged.c_str()), Error);
    options.candidates = {dir.file("nothing-here")};
    const std::string not_found = "Tiny: data not found (looked in: " + dir.file("nothing-here");
    CHECK_THROWS_WITH_AS(locate_dataset(info, options), Contains(not_found.c_str()), Error);
  }

  TEST_CASE("locate_dataset downloads from a mirror, checks MD5s, and tries the next mirror") {
    if (!have_curl()) {
      MESSAGE("skipped: curl is not installed (downloads use curl or wget; file:// needs curl)");
      return;
    }
    FakeMirrors m;
    TempDir target("glassbox_download");
    m.use({FakeMirrors::url(m.bad), FakeMirrors::url(m.good)});
    LocateOptions options;
    options.download_dir = target.file("tiny");
    std::ostringstream log;
    options.log = &log;
    CHECK(locate_dataset(m.info, options) == options.download_dir);
    for (int i = 0; i < 4; ++i)
      CHECK(md5_file(options.download_dir + "/" + m.names[i] + ".gz") == m.sums[i]);
    // exactly the four files: no temporary file left from the bad mirror's attempts
    int entries = 0;
    for (const auto& e : fs::directory_iterator(options.download_dir)) {
      CAPTURE(e.path().string());
      CHECK(e.path().extension() == ".gz");
      CHECK(e.path().filename().string()[0] != '.');
      ++entries;
    }
    CHECK(entries == 4);
    CHECK(log.str().find(m.urls[0] + "a-images.gz") != std::string::npos);
  }

  TEST_CASE("a failed download leaves no folder and no partial file, and names every URL") {
    if (!have_curl()) {
      MESSAGE("skipped: curl is not installed");
      return;
    }
    FakeMirrors m;
    TempDir target("glassbox_download");
    const std::string missing = "file://" + target.file("no-such-mirror") + "/";
    m.use({FakeMirrors::url(m.bad), missing});
    LocateOptions options;
    options.download_dir = target.file("deep/er/tiny");  // three folders to create
    const std::string msg = error_of(m.info, options);
    CAPTURE(msg);
    CHECK(msg.find("could not download a-images.gz, tried:") != std::string::npos);
    // every URL, each with its reason: a wrong MD5, and curl's own error line
    CHECK(msg.find(m.urls[0] + "a-images.gz: MD5 ") != std::string::npos);
    CHECK(msg.find("is not the canonical") != std::string::npos);
    CHECK(msg.find(missing + "a-images.gz: curl: (37)") != std::string::npos);
    CHECK(msg.find("pass --data FOLDER") != std::string::npos);
    CHECK_FALSE(fs::exists(target.file("deep")));  // nothing created survives the failure
    CHECK(target.entries() == std::vector<std::string>{});

    // A folder the user made is not removed, and is left as empty as it was.
    fs::create_directories(target.file("mine"));
    options.download_dir = target.file("mine");
    CHECK(error_of(m.info, options).find("could not download a-images.gz") != std::string::npos);
    REQUIRE(fs::is_directory(target.file("mine")));
    CHECK(fs::is_empty(target.file("mine")));

    // Verified files that landed stay (a new run resumes from them); nothing else does.
    m.use({FakeMirrors::url(m.half)});
    options.download_dir = target.file("half/tiny");
    const std::string partial = error_of(m.info, options);
    CHECK(partial.find("could not download b-images.gz") != std::string::npos);
    CHECK(partial.find("kept the 2 verified files") != std::string::npos);
    std::vector<std::string> landed;
    for (const auto& e : fs::directory_iterator(options.download_dir))
      landed.push_back(e.path().filename().string());
    std::sort(landed.begin(), landed.end());
    CHECK(landed == std::vector<std::string>{"a-images.gz", "a-labels.gz"});
    m.use({FakeMirrors::url(m.good)});
    std::ostringstream log;
    options.log = &log;
    CHECK(locate_dataset(m.info, options) == options.download_dir);
    CHECK(log.str().find("a-images.gz") == std::string::npos);  // resumed, not fetched again
    CHECK(log.str().find("b-labels.gz") != std::string::npos);
  }

#ifndef GLASSBOX_SANITIZED  // AddressSanitizer reserves terabytes of address space
  TEST_CASE("check_md5 of a gzip bomb under a data file's name runs in bounded memory") {
    // 320 MiB of zeros in a ~320 KB .gz whose MD5s are not the canonical ones: check_md5
    // hashes the payload too (a recompressed copy may be right), and must stream it, stopping
    // past the largest canonical payload, not collect it in memory.
    TempDir dir("glassbox_bomb");
    const std::string path = dir.file("train-images-idx3-ubyte.gz");
    {
      gzFile gz = gzopen(path.c_str(), "wb1");
      REQUIRE(gz != nullptr);
      const std::vector<char> zeros(size_t{1} << 20, 0);
      for (int i = 0; i < 320; ++i)
        REQUIRE(gzwrite(gz, zeros.data(), static_cast<unsigned>(zeros.size())) ==
                static_cast<int>(zeros.size()));
      REQUIRE(gzclose(gz) == Z_OK);
    }
    REQUIRE(fs::file_size(path) < (size_t{4} << 20));
    const DataFile file{"train-images-idx3-ubyte", "0123456789abcdef0123456789abcdef",
                        "fedcba9876543210fedcba9876543210"};
    // In a child limited to what it maps now plus 128 MiB. Exit codes: 0 the mismatch was
    // reported, 1 no mismatch, 2 bad_alloc, 3 another exception, 5 rlimit failed.
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      if (!test_limits::limit_address_space_to_current_plus(rlim_t{128} << 20)) ::_exit(5);
      try {
        ::_exit(check_md5(path, file).find("is not the canonical") != std::string::npos ? 0 : 1);
      } catch (const std::bad_alloc&) {
        ::_exit(2);
      } catch (...) {
        ::_exit(3);
      }
    }
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    REQUIRE(WIFEXITED(status));
    CHECK_MESSAGE(WEXITSTATUS(status) == 0, "child exit ", WEXITSTATUS(status),
                  " (1: no mismatch reported, 2: bad_alloc, 3: other exception, 5: rlimit)");
  }
#endif

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
