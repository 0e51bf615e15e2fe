// autoencoder: a convolutional autoencoder on Fashion-MNIST, written as a PyTorch user would.
// The encoder squeezes each 28x28 image into 64 numbers with strided convolutions; the decoder
// grows it back with transposed convolutions and a Sigmoid, so the targets are the raw pixels
// in [0, 1] (not the normalised ones the classifier examples use). Trained with Adam on the MSE;
// writes a PNG with test images on the top row and their reconstructions below.
//   autoencoder [--data DIR] [--epochs N] [--max-steps N] [--out FILE]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>

#include "cli.h"
#include "datasets/image.h"
#include "glassbox.h"

using namespace glassbox;

struct AutoencoderImpl : nn::Module {
  nn::Sequential encoder{nullptr}, decoder{nullptr};
  AutoencoderImpl() {
    using C = nn::Conv2dOptions;
    using T = nn::ConvTranspose2dOptions;
    encoder = register_module(
        "encoder", nn::Sequential(nn::Conv2d(C(1, 16, 3).stride(2).padding(1)), nn::ReLU(),   // 14
                                  nn::Conv2d(C(16, 32, 3).stride(2).padding(1)), nn::ReLU(),  // 7
                                  nn::Conv2d(32, 64, 7)));                                    // 1
    decoder = register_module(
        "decoder",
        nn::Sequential(nn::ConvTranspose2d(64, 32, 7), nn::ReLU(),  // 7
                       nn::ConvTranspose2d(T(32, 16, 3).stride(2).padding(1).output_padding(1)),
                       nn::ReLU(),  // 14
                       nn::ConvTranspose2d(T(16, 1, 3).stride(2).padding(1).output_padding(1)),
                       nn::Sigmoid()));  // 28
  }
  Tensor forward(const Tensor& x) { return decoder(encoder(x)); }
};
GB_MODULE(Autoencoder);

// originals on the top row, reconstructions below, 2 pixels apart
void write_comparison(const std::string& path, const Tensor& originals, const Tensor& decoded) {
  const int64_t n = originals.size(0), side = 28, gap = 2;
  image::Image out;
  out.width = n * (side + gap) + gap, out.height = 2 * (side + gap) + gap, out.channels = 1;
  out.pixels.assign(size_t(out.width * out.height), 255);
  for (int row = 0; row < 2; ++row) {
    const Tensor t = (row == 0 ? originals : decoded).contiguous().to(kFloat32);
    const float* p = t.data_ptr<float>();
    for (int64_t i = 0; i < n; ++i)
      for (int64_t y = 0; y < side; ++y)
        for (int64_t x = 0; x < side; ++x) {
          const float v = std::clamp(p[(i * side + y) * side + x], 0.f, 1.f);
          out.pixels[size_t((gap + row * (side + gap) + y) * out.width + gap + i * (side + gap) +
                            x)] = uint8_t(v * 255 + 0.5f);
        }
  }
  image::write_png(path, out);
}

int run(int argc, char** argv) {
  const cli::Args args(argc, argv, {{"data"}, {"epochs"}, {"max-steps"}, {"out"}});
  if (args.help()) {
    std::cout << "usage: autoencoder [--data DIR] [--epochs N] [--max-steps N] [--out FILE]\n";
    return 0;
  }
  const int64_t epochs = args.get_int("epochs", 3, 1, 1000);
  const int64_t max_steps = args.get_int("max-steps", 0, 0, int64_t(1) << 40);  // 0: no limit
  const std::string out_path = args.get("out", "autoencoder.png");
  cli::check_output_file("--out", out_path);

  datasets::LocateOptions where;
  where.explicit_dir = args.get("data");
  where.candidates = datasets::default_candidates(datasets::fashion_mnist_info());
  where.log = &std::cout;
  const std::string root = datasets::locate_dataset(datasets::fashion_mnist_info(), where);
  // raw pixels in [0, 1]: the Sigmoid output can reach every target
  auto train =
      std::make_shared<datasets::FashionMNIST>(root, datasets::Split::Train, datasets::raw_pixels);
  auto test =
      std::make_shared<datasets::FashionMNIST>(root, datasets::Split::Test, datasets::raw_pixels);
  datasets::DataLoader train_loader(
      train, datasets::DataLoaderOptions().batch_size(128).shuffle(true).seed(0));
  datasets::DataLoader test_loader(test, datasets::DataLoaderOptions().batch_size(1000));

  manual_seed(0);
  Autoencoder net;
  std::cout << *net << "\n";
  optim::Adam optimizer(net->parameters(), optim::AdamOptions(2e-3));

  const auto start = std::chrono::steady_clock::now();
  int64_t step = 0;
  for (int64_t epoch = 0; epoch < epochs && (!max_steps || step < max_steps); ++epoch) {
    for (datasets::Batch& batch : train_loader) {
      Tensor loss = F::mse_loss(net(batch.data), batch.data);
      optimizer.zero_grad();
      loss.backward();
      optimizer.step();
      if (++step % 100 == 0)
        std::printf("epoch %lld  step %lld  train mse %.5f\n", (long long)epoch + 1,
                    (long long)step, loss.item());
      if (max_steps && step >= max_steps) break;
    }
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  NoGradGuard no_grad;
  double squared = 0;
  int64_t count = 0;
  Tensor first;
  for (datasets::Batch& batch : test_loader) {
    squared += F::mse_loss(net(batch.data), batch.data, F::Reduction::Sum).item();
    count += batch.data.numel();
    if (!first.defined()) first = batch.data.narrow(0, 0, 12);
  }
  write_comparison(out_path, first, net(first));
  std::printf("trained %lld steps in %.1f s; test mse %.5f; wrote %s\n", (long long)step, seconds,
              squared / double(count), out_path.c_str());
  return 0;
}

int main(int argc, char** argv) {
  return cli::run_main("autoencoder", [&] { return run(argc, argv); });
}
