// The real MNIST files: found where this environment keeps them, MD5-checked, read, and the
// notebook's CNN trained for one epoch must pass 85% test accuracy. When the files are not
// on this machine the cases say they skipped (set GLASSBOX_MNIST_DIR to point at them).
// Resuming on synthetic data: bit-identical continuation, every checkpoint value validated
// (files written by save_checkpoint, so only train's own checks can catch them), and --lr.
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <limits>
#include <map>
#include <sstream>
#include <unistd.h>

#include <cstring>

#include "datasets/mnist.h"
#include "metrics.h"
#include "nn/checkpoint.h"
#include "nn/serialize.h"
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

// A checkpoint as train() writes one for batch 40 on 400 examples, with extra values replaced
// (an empty value removes the key), written by save_checkpoint: a valid checksum around
// whatever a buggy program might have put there.
void write_checkpoint(const std::string& path, const std::map<std::string, std::string>& changes,
                      int64_t epoch = 1) {
  mnist::MnistNet net;
  optim::Adam adam(net->parameters(), optim::AdamOptions(1e-3));
  TrainingState state;
  state.epoch = epoch;
  state.step = 10;
  state.rng = default_generator().state();
  state.extra = {{"test_batch_next", "40"},
                 {"batch_size", "40"},
                 {"train_examples", "400"},
                 {"elapsed_seconds", "2.5"}};
  for (const auto& [key, value] : changes) {
    if (value.empty())
      state.extra.erase(key);
    else
      state.extra[key] = value;
  }
  save_checkpoint(path, *net, adam, state);
}

std::string temp_file(const std::string& name) {
  return (std::filesystem::temp_directory_path() /
          ("glassbox_mnist_" + std::to_string(::getpid()) + "_" + name))
      .string();
}

}  // namespace

TEST_SUITE("mnist") {
  TEST_CASE("resume: every extra value is validated, naming the checkpoint, the key, the range") {
    auto train_set = std::make_shared<Synthetic>(400), test_set = std::make_shared<Synthetic>(60);
    const std::string path = temp_file("bad.ckpt");
    mnist::TrainOptions options;
    options.batch_size = 40;
    options.epochs = 2;
    options.resume_path = path;
    struct Row {
      const char* key;
      const char* value;
      const char* says;
    };
    const Row rows[] = {{"test_batch_next", "abc", "from 0 to"},
                        {"test_batch_next", "-5", "from 0 to"},
                        {"test_batch_next", "", "has no 'extra.test_batch_next'"},
                        {"batch_size", "0", "from 1 to 65536"},
                        {"batch_size", "4e1", "decimal digits"},
                        {"train_examples", "-400", "from 1 to"},
                        {"elapsed_seconds", "nan", "decimal number"},
                        {"elapsed_seconds", "-1", "from 0 to"},
                        {"elapsed_seconds", "", "has no 'extra.elapsed_seconds'"}};
    for (const Row& row : rows) {
      INFO(row.key << " = '" << row.value << "'");
      write_checkpoint(path, {{row.key, row.value}});
      const std::string key = std::string("extra.") + row.key;
      // Both the check before loading data and train() itself refuse it.
      CHECK_THROWS_WITH_AS(mnist::check_resume(path), doctest::Contains(key.c_str()), Error);
      CHECK_THROWS_WITH_AS(mnist::check_resume(path), doctest::Contains(row.says), Error);
      CHECK_THROWS_WITH_AS(mnist::check_resume(path), doctest::Contains(path.c_str()), Error);
      mnist::MnistNet net;
      CHECK_THROWS_WITH_AS(mnist::train(net, train_set, test_set, options),
                           doctest::Contains(key.c_str()), Error);
    }
    // Valid for some data set, not for this test set of 60: refused before any step.
    write_checkpoint(path, {{"test_batch_next", "60"}});
    CHECK_NOTHROW(mnist::check_resume(path));
    mnist::MnistNet net;
    CHECK_THROWS_WITH_AS(mnist::train(net, train_set, test_set, options),
                         doctest::Contains("must be below the 60 test examples"), Error);
    // An epoch whose successor overflows.
    write_checkpoint(path, {}, std::numeric_limits<int64_t>::max());
    CHECK_THROWS_WITH_AS(mnist::check_resume(path), doctest::Contains("epoch"), Error);
    // Weights only: said in words a command-line user can act on.
    mnist::MnistNet weights;
    nn::save(*weights, path);
    CHECK_THROWS_WITH_AS(mnist::check_resume(path), doctest::Contains("holds weights only"), Error);
    std::filesystem::remove(path);
  }

  TEST_CASE("resume: the checkpoint's lr is kept unless override_lr, and reported") {
    auto train_set = std::make_shared<Synthetic>(80), test_set = std::make_shared<Synthetic>(40);
    const std::string path = temp_file("lr.ckpt");
    mnist::TrainOptions options;
    options.batch_size = 40;
    options.epochs = 1;
    options.lr = 2e-3;
    options.checkpoint_path = path;
    mnist::MnistNet first;
    CHECK(mnist::train(first, train_set, test_set, options).lr == 2e-3);
    CHECK(mnist::check_resume(path).lr == 2e-3);
    options.checkpoint_path.clear();
    options.resume_path = path;
    options.epochs = 2;
    options.lr = 5e-3;
    mnist::MnistNet kept, replaced;
    CHECK(mnist::train(kept, train_set, test_set, options).lr == 2e-3);
    options.override_lr = true;
    CHECK(mnist::train(replaced, train_set, test_set, options).lr == 5e-3);
    options.lr = std::numeric_limits<double>::infinity();
    CHECK_THROWS_WITH_AS(mnist::train(replaced, train_set, test_set, options),
                         doctest::Contains("lr must be a finite number"), Error);
    std::filesystem::remove(path);
  }

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
