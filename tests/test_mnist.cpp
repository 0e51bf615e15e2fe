// The real MNIST files: found where this environment keeps them, MD5-checked, read, and the
// notebook's CNN trained for one epoch must pass 85% test accuracy. When the files are not
// on this machine the cases say they skipped (set GLASSBOX_MNIST_DIR to point at them).
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <unistd.h>

#include <cstring>

#include "datasets/mnist.h"
#include "metrics.h"
#include "train.h"

using namespace glassbox;
using namespace glassbox::datasets;

namespace {

std::string real_mnist_dir() {
  std::vector<std::string> candidates;
  if (const char* env = std::getenv("GLASSBOX_MNIST_DIR")) candidates.push_back(env);
  const std::string source = GLASSBOX_SOURCE_DIR;
  candidates.push_back(source + "/data/mnist");
  candidates.push_back(source + "/../shared/data/mnist");
  candidates.push_back("/work/shared/data/mnist");
  for (const std::string& dir : candidates)
    if (std::filesystem::exists(dir + "/t10k-labels-idx1-ubyte.gz") ||
        std::filesystem::exists(dir + "/t10k-labels-idx1-ubyte"))
      return dir;
  return "";
}

// Deterministic made-up digits: pixel values from a hash of (example, pixel), label index % 10.
struct Synthetic : datasets::Dataset {
  int64_t n;
  explicit Synthetic(int64_t n) : n(n) {}
  int64_t size() const override { return n; }
  datasets::Batch get_batch(const std::vector<int64_t>& indices) const override {
    const int64_t b = int64_t(indices.size());
    Tensor data = empty({b, 1, 28, 28}), target = empty({b}, dtype(DType::Int64));
    float* d = data.data_ptr<float>();
    for (int64_t i = 0; i < b; ++i) {
      const uint64_t k = uint64_t(indices[size_t(i)]);
      for (uint64_t p = 0; p < 784; ++p)
        d[i * 784 + int64_t(p)] = float(((k * 2654435761u + p * 40503u) >> 7) % 97) / 97.f;
      target.data_ptr<int64_t>()[i] = int64_t(k % 10);
    }
    return {data, target};
  }
};

bool bitwise_equal(mnist::MnistNet& a, mnist::MnistNet& b) {
  auto pa = a->parameters(), pb = b->parameters();
  for (size_t i = 0; i < pa.size(); ++i)
    if (std::memcmp(pa[i].data_ptr<float>(), pb[i].data_ptr<float>(),
                    size_t(pa[i].numel()) * sizeof(float)) != 0)
      return false;
  return true;
}

}  // namespace

TEST_SUITE("mnist") {
  TEST_CASE("a run resumed from its checkpoint is bit-identical to one that never stopped") {
    auto train_set = std::make_shared<Synthetic>(400), test_set = std::make_shared<Synthetic>(60);
    const auto dir =
        std::filesystem::temp_directory_path() / ("glassbox_resume_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const std::string checkpoint = (dir / "run.ckpt").string();
    mnist::TrainOptions options;
    options.batch_size = 40;  // 10 steps an epoch
    options.score_every = 3;
    options.seed = 5;

    manual_seed(1);
    mnist::MnistNet unbroken;
    options.epochs = 3;
    options.metrics_path = (dir / "unbroken.csv").string();
    const mnist::TrainResult a = mnist::train(unbroken, train_set, test_set, options);

    manual_seed(1);
    mnist::MnistNet first_half;
    options.epochs = 1;
    options.metrics_path = (dir / "resumed.csv").string();
    options.checkpoint_path = checkpoint;
    mnist::train(first_half, train_set, test_set, options);
    CHECK_FALSE(bitwise_equal(first_half, unbroken));

    manual_seed(99);  // other initial weights and random stream: the checkpoint must replace both
    mnist::MnistNet resumed;
    options.epochs = 3;
    options.checkpoint_path.clear();
    options.resume_path = checkpoint;
    const mnist::TrainResult b = mnist::train(resumed, train_set, test_set, options);
    CHECK(b.first_epoch == 2);
    CHECK(b.steps == a.steps);
    CHECK(bitwise_equal(resumed, unbroken));
    CHECK(b.test_accuracy == a.test_accuracy);
    // The resumed run continued the metrics log: the same steps, the same losses.
    auto rows_a = mnist::read_metrics((dir / "unbroken.csv").string());
    auto rows_b = mnist::read_metrics((dir / "resumed.csv").string());
    REQUIRE(rows_a.size() == rows_b.size());
    for (size_t i = 0; i < rows_a.size(); ++i) {
      CHECK(rows_a[i].step == rows_b[i].step);
      CHECK(rows_a[i].loss == doctest::Approx(rows_b[i].loss).epsilon(1e-5));
      CHECK(rows_a[i].accuracy == rows_b[i].accuracy);
    }

    // A checkpoint only resumes the run it came from.
    options.batch_size = 20;
    mnist::MnistNet other;
    CHECK_THROWS_WITH_AS(mnist::train(other, train_set, test_set, options),
                         doctest::Contains("was trained with batch 40"), Error);
    std::filesystem::remove_all(dir);
  }

  TEST_CASE("the canonical MNIST files load and match their MD5s") {
    const std::string dir = real_mnist_dir();
    if (dir.empty()) {
      MESSAGE("skipped: real MNIST files not found (set GLASSBOX_MNIST_DIR)");
      return;
    }
    LocateOptions options;
    options.explicit_dir = dir;
    CHECK(locate_dataset(mnist_info(), options) == dir);
    MNIST train(dir, Split::Train), test(dir, Split::Test);
    CHECK(train.size() == 60000);
    CHECK(test.size() == 10000);
    CHECK(train.targets().to_vector<int64_t>()[0] == 5);
    CHECK(test.targets().to_vector<int64_t>()[0] == 7);
    // The usual Normalize mean is the mean pixel of the training set.
    Tensor pixels = train.images().to(DType::Float32) / 255.0;
    CHECK(mean(pixels).item() == doctest::Approx(0.1307).epsilon(1e-3));
  }

  TEST_CASE("one epoch of the notebook's CNN on real MNIST passes 85% test accuracy") {
    const std::string dir = real_mnist_dir();
    if (dir.empty()) {
      MESSAGE("skipped: real MNIST files not found (set GLASSBOX_MNIST_DIR)");
      return;
    }
#ifdef GLASSBOX_SANITIZED
    MESSAGE("skipped under the sanitizers (ten times slower): the Release build runs it");
    return;
#endif
    auto train_set = std::make_shared<MNIST>(dir, Split::Train);
    auto test_set = std::make_shared<MNIST>(dir, Split::Test);
    manual_seed(0);
    mnist::MnistNet net;
    mnist::TrainOptions options;
    options.epochs = 1;
    options.batch_size = 100;  // 600 steps: one epoch is enough to learn the digits
    options.score_every = 100;
    const mnist::TrainResult result = mnist::train(net, train_set, test_set, options);
    MESSAGE("one epoch (batch 100): test accuracy " << 100 * result.test_accuracy << "%, "
                                                    << result.epoch_seconds[0] << " s");
    CHECK(result.steps == 600);
    CHECK(result.epoch_loss[0] < 1.0);
    CHECK(result.test_accuracy > 0.85);
  }
}
