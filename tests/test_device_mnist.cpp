// The notebook's CNN on the device under test against the CPU: batches gathered on the device
// equal the CPU's bit for bit, a few training steps follow the CPU's step by step (the same
// dropout masks, losses within float tolerance), and the example's training loop gives the
// CPU's result and resumes from its own checkpoint. The data is a small MNIST-format set
// written to a temporary folder, so nothing here needs the real files.
#include "datasets/dataloader.h"
#include "datasets/device_images.h"
#include "datasets/idx.h"
#include "device_harness.h"
#include "temp_dir.h"
#include "net.h"
#include "train.h"

namespace {
using datasets::Batch;
using datasets::DeviceImages;
using datasets::MNIST;

// Random digits in the four canonical files, read back through MNIST (MD5 check off).
struct TinyMnist {
  TempDir dir{"glassbox_tiny_mnist"};
  std::shared_ptr<MNIST> train, test;
};

std::unique_ptr<TinyMnist> make_tiny_mnist(int64_t n_train, int64_t n_test) {
  auto t = std::make_unique<TinyMnist>();
  manual_seed(11);
  const auto& files = datasets::mnist_info().files;
  auto write = [&](int images_file, int64_t n) {
    datasets::write_idx(t->dir.file(files[size_t(images_file)].name),
                        (rand({n, 28, 28}) * 255.0).to(DType::UInt8));
    datasets::write_idx(t->dir.file(files[size_t(images_file + 1)].name),
                        (rand({n}) * 10.0).to(DType::UInt8));
  };
  write(0, n_train);
  write(2, n_test);
  const auto norm = datasets::mnist_info().normalize;
  t->train = std::make_shared<MNIST>(t->dir.path.string(), datasets::Split::Train, norm, false);
  t->test = std::make_shared<MNIST>(t->dir.path.string(), datasets::Split::Test, norm, false);
  return t;
}

void check_close(const char* what, const Tensor& got, const Tensor& want, Tol tol) {
  const Diff d = compare(got, want, tol);
  CHECK_MESSAGE(d.ok, what, ": ", d.msg);
}

double loss_tolerance(double loss) { return 1e-4 * std::max(1.0, std::abs(loss)); }

}  // namespace

TEST_SUITE("device_mnist") {
  TEST_CASE("batches gathered and normalised on the device equal the CPU's bit for bit") {
    if (!have_cuda("device batches")) return;
    auto data = make_tiny_mnist(64, 8);
    const DeviceImages on_dev(*data->train, kDev);
    CHECK(on_dev.size() == 64);
    const std::vector<int64_t> indices{5, 0, 17, 17, 63};
    const Batch want = data->train->get_batch(indices);
    const Batch got = on_dev.batch(from_vector(indices));
    CHECK(got.data.device() == kDev);
    check_close("data", got.data, want.data, {0.0, 0.0});
    check_close("target", got.target, want.target, {0.0, 0.0});
    // the loader walks indices: a batch of index_dataset() is the indices themselves
    const Batch idx = on_dev.index_dataset()->get_batch(indices);
    CHECK(idx.data.to_vector<int64_t>() == indices);
    // an index past the end is the index check's error, at the latest when the batch is read
    CHECK_THROWS_WITH_AS(on_dev.batch(from_vector<int64_t>({64})).data.cpu(),
                         Contains("index 64 is out of range for dim 0 with size 64"), Error);
  }

  TEST_CASE("training steps on the device follow the CPU's, step by step") {
    if (!have_cuda("MNIST steps")) return;
    auto data = make_tiny_mnist(96, 8);
    const DeviceImages on_dev(*data->train, kDev);
    manual_seed(7);
    mnist::MnistNet cpu_net;
    manual_seed(7);
    mnist::MnistNet dev_net;
    dev_net->to(kDev);
    optim::Adam cpu_opt(cpu_net->parameters(), optim::AdamOptions(1e-3));
    optim::Adam dev_opt(dev_net->parameters(), optim::AdamOptions(1e-3));
    const auto loader_opts = datasets::DataLoaderOptions().batch_size(16).shuffle(true).seed(3);
    datasets::DataLoader cpu_loader(data->train, loader_opts);
    datasets::DataLoader dev_loader(on_dev.index_dataset(), loader_opts);
    auto step = [](mnist::MnistNet& net, optim::Adam& opt, const Batch& b) {
      Tensor loss = F::nll_loss(net(b.data), b.target);
      opt.zero_grad();
      loss.backward();
      opt.step();
      return loss.item();
    };
    auto cpu_it = cpu_loader.begin();
    auto dev_it = dev_loader.begin();
    int steps = 0;
    for (; cpu_it != cpu_loader.end() && dev_it != dev_loader.end(); ++cpu_it, ++dev_it) {
      INFO("step ", steps);
      // both runs draw their dropout masks from the same generator state
      const Generator::State rng = default_generator().state();
      const double want = step(cpu_net, cpu_opt, *cpu_it);
      default_generator().set_state(rng);
      const double got = step(dev_net, dev_opt, on_dev.batch((*dev_it).data));
      CHECK(std::abs(got - want) <= loss_tolerance(want));
      ++steps;
    }
    CHECK(steps == 6);
    const auto pc = cpu_net->named_parameters(), pd = dev_net->named_parameters();
    for (size_t i = 0; i < pc.size(); ++i) {
      INFO("parameter ", pc[i].first);
      CHECK(pd[i].second.device() == kDev);
      // six Adam steps of at most lr each: the trajectories agree far closer than that
      check_close("parameter", pd[i].second, pc[i].second, {1e-4, 1e-4});
    }
  }

  TEST_CASE("the example's training loop on the device gives the CPU's run, and resumes") {
    if (!have_cuda("MNIST training loop")) return;
    auto data = make_tiny_mnist(96, 40);
    mnist::TrainOptions options;
    options.epochs = 2;
    options.batch_size = 32;
    options.score_every = 2;
    options.seed = 4;

    manual_seed(1);
    mnist::MnistNet cpu_net;
    const mnist::TrainResult cpu = mnist::train(cpu_net, data->train, data->test, options);

    options.device = kDev;
    manual_seed(1);
    mnist::MnistNet dev_net;
    dev_net->to(kDev);
    const mnist::TrainResult dev = mnist::train(dev_net, data->train, data->test, options);
    REQUIRE(dev.epoch_loss.size() == cpu.epoch_loss.size());
    for (size_t e = 0; e < cpu.epoch_loss.size(); ++e)
      CHECK(std::abs(dev.epoch_loss[e] - cpu.epoch_loss[e]) <= loss_tolerance(cpu.epoch_loss[e]));
    CHECK(std::abs(dev.test_accuracy - cpu.test_accuracy) <= 1.0 / 40);  // a near-tie may flip

    // a checkpoint written from the device resumes on the device as if never stopped
    const std::string checkpoint = data->dir.file("run.ckpt");
    options.epochs = 1;
    options.checkpoint_path = checkpoint;
    manual_seed(1);
    mnist::MnistNet first_half;
    first_half->to(kDev);
    mnist::train(first_half, data->train, data->test, options);
    options.epochs = 2;
    options.checkpoint_path.clear();
    options.resume_path = checkpoint;
    manual_seed(99);  // the checkpoint must replace the weights and the random stream
    mnist::MnistNet resumed;
    resumed->to(kDev);
    const mnist::TrainResult r = mnist::train(resumed, data->train, data->test, options);
    CHECK(r.first_epoch == 2);
    CHECK(std::abs(r.epoch_loss.back() - dev.epoch_loss.back()) <=
          loss_tolerance(dev.epoch_loss.back()));
    const auto pa = dev_net->named_parameters(), pb = resumed->named_parameters();
    for (size_t i = 0; i < pa.size(); ++i) {
      INFO("parameter ", pa[i].first);
      CHECK(pb[i].second.device() == kDev);
      check_close("resumed parameter", pb[i].second, pa[i].second, {1e-5, 1e-5});
    }
  }
}
