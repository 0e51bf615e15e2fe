// predict: classify images with the notebook's CNN.
//   predict CHECKPOINT IMAGE [IMAGE...] [--dataset mnist|fashion] [--top K] [--no-invert]
//           [--device cpu|cuda]
// CHECKPOINT is a weights file (mnist --export) or a training checkpoint (mnist --save,
// "model.*" tensors). Each image is turned into an MNIST-like 28x28 input (see predict.h) and
// its K most likely classes are printed:   digit.png: 7 (97.1%), 9 (1.6%), 2 (0.5%)
//
// Every file is checked (exists, a readable regular file, not empty) before the weights are
// loaded, so a typo in the last image name does not wait for the first. Flags are parsed by
// examples/cli. Exit status: 0 done, 1 a bad file (the message names it), 2 a bad flag.
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "cli.h"
#include "predict.h"

using namespace glassbox;

namespace {

void usage(std::ostream& os) {
  os << "usage: predict CHECKPOINT IMAGE [IMAGE...] [--dataset mnist|fashion] [--top K]\n"
        "               [--no-invert] [--device cpu|cuda]\n"
        "  CHECKPOINT   safetensors weights (mnist --export) or a training checkpoint\n"
        "               (mnist --save)\n"
        "  IMAGE        PNG/JPG/BMP/...; any size, grey or colour\n"
        "  --dataset    class names and normalisation: mnist (default) or fashion\n"
        "  --top K      how many classes to print, 1 to 10 (default 3)\n"
        "  --no-invert  do not invert images with a light background\n"
        "  --device     where the network runs: cpu (default), cuda or cuda:N\n"
        "Exit status: 0 success, 1 a bad file (the message names it), 2 a bad flag.\n";
}

const std::vector<cli::FlagSpec> kFlags = {{"dataset"}, {"top"}, {"device"}, {"no-invert", false}};

int run(int argc, char** argv) {
  const cli::Args args(argc, argv, kFlags);
  if (args.help()) {
    usage(std::cout);
    return 0;
  }
  const std::string dataset = args.get("dataset", "mnist");
  if (dataset != "mnist" && dataset != "fashion")
    throw cli::UsageError("--dataset must be mnist or fashion, got " + cli::quoted(dataset));
  const int top = static_cast<int>(args.get_int("top", 3, 1, 10));
  const bool invert = !args.has("no-invert");
  const Device device = cli::device_flag("--device", args.get("device", "cpu"));
  const std::vector<std::string>& pos = args.positional();
  if (pos.size() < 2) throw cli::UsageError("need a checkpoint and at least one image");

  cli::check_input_file("checkpoint", pos[0]);
  for (size_t i = 1; i < pos.size(); ++i) cli::check_input_file("image", pos[i]);

  const datasets::IdxDatasetInfo& info =
      dataset == "mnist" ? datasets::mnist_info() : datasets::fashion_mnist_info();
  cli::doing("loading the weights");
  mnist::MnistNet net;
  predict::load_weights(net, pos[0]);
  net->to(device);
  net->eval();
  NoGradGuard no_record;
  for (size_t i = 1; i < pos.size(); ++i) {
    cli::doing("reading the image " + cli::quoted(pos[i]));
    Tensor x = predict::load_image_for_mnist(pos[i], invert, info.normalize);
    std::vector<predict::Prediction> best = predict::top_k(net(x.to(device)).cpu(), top);
    std::cout << pos[i] << ":";
    for (size_t j = 0; j < best.size(); ++j) {
      char pct[32];
      std::snprintf(pct, sizeof pct, "%.1f%%", 100 * best[j].probability);
      std::cout << (j ? ", " : " ") << info.classes[size_t(best[j].label)] << " (" << pct << ")";
    }
    std::cout << "\n";
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return cli::run_main("predict", [&] { return run(argc, argv); });
}
