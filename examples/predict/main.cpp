// predict: classify images with the notebook's CNN.
//   predict CHECKPOINT IMAGE [IMAGE...] [--dataset mnist|fashion] [--top K] [--no-invert]
//           [--device cpu|cuda]
// CHECKPOINT is a weights file (mnist --save) or a training checkpoint ("model.*" tensors).
// Each image is turned into an MNIST-like 28x28 input (see predict.h) and its K most likely
// classes are printed:   digit.png: 7 (97.1%), 9 (1.6%), 2 (0.5%)
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "predict.h"

using namespace glassbox;

namespace {

void usage(std::ostream& os) {
  os << "usage: predict CHECKPOINT IMAGE [IMAGE...] [--dataset mnist|fashion] [--top K]\n"
        "               [--no-invert] [--device cpu|cuda]\n"
        "  CHECKPOINT   safetensors weights (mnist --save) or a training checkpoint\n"
        "  IMAGE        PNG/JPG/BMP/...; any size, grey or colour\n"
        "  --dataset    class names and normalisation: mnist (default) or fashion\n"
        "  --top K      how many classes to print (default 3)\n"
        "  --no-invert  do not invert images with a light background\n"
        "  --device     where the network runs: cpu (default), cuda or cuda:N\n";
}

// A usage error: message and usage on stderr, exit status 2.
int usage_error(const std::string& message) {
  std::cerr << "predict: " << message << "\n";
  usage(std::cerr);
  return 2;
}

}  // namespace

int main(int argc, char** argv) try {
  std::vector<std::string> pos;
  std::string dataset = "mnist";
  int top = 3;
  bool invert = true;
  std::string device_name = "cpu";
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      usage(std::cout);
      return 0;
    }
    if (a == "--dataset" || a == "--top" || a == "--device") {
      if (i + 1 >= argc) return usage_error(a + " needs a value");
      const std::string v = argv[++i];
      if (a == "--dataset") {
        dataset = v;
      } else if (a == "--device") {
        device_name = v;
      } else {
        size_t used = 0;
        try {
          top = std::stoi(v, &used);
        } catch (const std::logic_error&) {
          used = 0;
        }
        if (used == 0 || used != v.size() || top < 1)
          return usage_error("--top needs a positive whole number, got '" + v + "'");
      }
    } else if (a == "--no-invert") {
      invert = false;
    } else if (a.rfind("--", 0) == 0) {
      return usage_error("unknown option " + a);
    } else {
      pos.push_back(a);
    }
  }
  if (dataset != "mnist" && dataset != "fashion")
    return usage_error("--dataset must be mnist or fashion, got '" + dataset + "'");
  if (pos.size() < 2) return usage_error("need a checkpoint and at least one image");

  const datasets::IdxDatasetInfo& info =
      dataset == "mnist" ? datasets::mnist_info() : datasets::fashion_mnist_info();
  const Device device = usable_device(device_name, "--device");
  mnist::MnistNet net;
  predict::load_weights(net, pos[0]);
  net->to(device);
  net->eval();
  NoGradGuard no_record;
  for (size_t i = 1; i < pos.size(); ++i) {
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
} catch (const Error& e) {
  std::cerr << "predict: " << e.what() << "\n";
  return 1;
}
