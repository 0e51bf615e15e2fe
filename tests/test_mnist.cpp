// The real MNIST files: found where this environment keeps them, MD5-checked, read, and the
// notebook's CNN trained for one epoch must pass 85% test accuracy. When the files are not
// on this machine the cases say they skipped (set GLASSBOX_MNIST_DIR to point at them).
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <sstream>

#include "datasets/mnist.h"
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

}  // namespace

TEST_SUITE("mnist") {
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
