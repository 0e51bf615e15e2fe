// lenet5: LeNet-5 (padded, with batch norm) on MNIST, written as a PyTorch user would:
// SGD with momentum, a linear warm-up into a cosine schedule stepped per batch, and gradient
// clipping. One epoch reaches about 99% test accuracy.
//   lenet5 [--data DIR] [--epochs N] [--max-steps N] [--batch-size N] [--lr X]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>

#include "cli.h"
#include "glassbox.h"

using namespace glassbox;

struct LeNet5Impl : nn::Module {
  nn::Sequential features{nullptr}, classifier{nullptr};
  LeNet5Impl() {
    features = register_module(
        "features", nn::Sequential(nn::Conv2d(nn::Conv2dOptions(1, 6, 5).padding(2)),    // 6x28x28
                                   nn::BatchNorm2d(6), nn::ReLU(), nn::MaxPool2d(2),     // 6x14x14
                                   nn::Conv2d(6, 16, 5),                                 // 16x10x10
                                   nn::BatchNorm2d(16), nn::ReLU(), nn::MaxPool2d(2)));  // 16x5x5
    classifier = register_module(
        "classifier",
        nn::Sequential(nn::Flatten(), nn::Linear(400, 120), nn::BatchNorm1d(120), nn::ReLU(),
                       nn::Linear(120, 84), nn::ReLU(), nn::Linear(84, 10)));
  }
  Tensor forward(const Tensor& x) { return classifier(features(x)); }
};
GB_MODULE(LeNet5);

double accuracy(LeNet5& net, datasets::DataLoader& loader) {
  NoGradGuard no_grad;
  net->eval();
  int64_t correct = 0, total = 0;
  for (datasets::Batch& batch : loader) {
    correct += static_cast<int64_t>(sum(argmax(net(batch.data), 1) == batch.target).item());
    total += batch.target.numel();
  }
  return double(correct) / double(total);
}

int run(int argc, char** argv) {
  const cli::Args args(argc, argv, {{"data"}, {"epochs"}, {"max-steps"}, {"batch-size"}, {"lr"}});
  if (args.help()) {
    std::cout << "usage: lenet5 [--data DIR] [--epochs N] [--max-steps N] [--batch-size N] "
                 "[--lr X]\n";
    return 0;
  }
  const int64_t epochs = args.get_int("epochs", 1, 1, 1000);
  const int64_t max_steps = args.get_int("max-steps", 0, 0, int64_t(1) << 40);  // 0: no limit
  const int64_t batch_size = args.get_int("batch-size", 64, 1, 60000);
  const double lr = args.get_real("lr", 0.05, 0, 10, true);

  datasets::LocateOptions where;
  where.explicit_dir = args.get("data");
  where.candidates = datasets::default_candidates(datasets::mnist_info());
  where.log = &std::cout;
  const std::string root = datasets::locate_dataset(datasets::mnist_info(), where);
  auto train = std::make_shared<datasets::MNIST>(root, datasets::Split::Train);
  auto test = std::make_shared<datasets::MNIST>(root, datasets::Split::Test);
  datasets::DataLoader train_loader(
      train, datasets::DataLoaderOptions().batch_size(batch_size).shuffle(true).seed(0));
  datasets::DataLoader test_loader(test, datasets::DataLoaderOptions().batch_size(1000));

  manual_seed(0);
  LeNet5 net;
  std::cout << *net << "\n";
  optim::SGD optimizer(net->parameters(),
                       optim::SGDOptions(lr).momentum(0.9).weight_decay(5e-4).nesterov(true));
  // per batch: 1/10 of an epoch of linear warm-up from lr/10, then a cosine to zero
  const int64_t steps = epochs * train_loader.size();
  const int64_t warmup = std::max<int64_t>(1, std::min(train_loader.size() / 10, steps - 1));
  auto warm = std::make_shared<optim::LinearLR>(optimizer, 0.1, 1.0, warmup);
  auto cosine =
      std::make_shared<optim::CosineAnnealingLR>(optimizer, std::max<int64_t>(1, steps - warmup));
  optim::SequentialLR schedule(optimizer, {warm, cosine}, {warmup});

  const auto start = std::chrono::steady_clock::now();
  int64_t step = 0;
  for (int64_t epoch = 0; epoch < epochs && (!max_steps || step < max_steps); ++epoch) {
    net->train();
    for (datasets::Batch& batch : train_loader) {
      Tensor loss = F::cross_entropy(net(batch.data), batch.target);
      optimizer.zero_grad();
      loss.backward();
      nn::utils::clip_grad_norm_(net->parameters(), 2.0);
      optimizer.step();
      schedule.step();
      if (++step % 100 == 0)
        std::printf("epoch %lld  step %lld  loss %.4f  lr %.4f\n", (long long)epoch + 1,
                    (long long)step, loss.item(), optimizer.lr());
      if (max_steps && step >= max_steps) break;
    }
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("trained %lld steps in %.1f s; test accuracy %.2f%%\n", (long long)step, seconds,
              100 * accuracy(net, test_loader));
  return 0;
}

int main(int argc, char** argv) {
  return cli::run_main("lenet5", [&] { return run(argc, argv); });
}
